// Package hsm owns the contracts for the terminal's stamping key and for small sealed
// secrets: Signer (a crypto.Signer that can be closed), Sealer (named secrets bound to
// the terminal's security module), the digest rules every Signer enforces, and the
// sentinel errors callers classify with errors.Is.
//
// Implementations live in sub-packages named for their mechanism: hsm/tpm (go-tpm:
// a TPM-sealed secp256k1 key, a native TPM P-256 key, sealed secrets) and hsm/softkey
// (an in-process secp256k1 key for development, tests and the SDK test key).
// hsm/hsmtest starts a private swtpm for tests.
//
// Package hsm imports only the standard library. It must not import agent, store,
// printer, offline or any implementation package.
package hsm

import (
	"context"
	"crypto"
	"errors"
	"fmt"
)

// Signer is the stamping key. Sign takes the SHA-256 digest to sign (for ZATCA that is
// SHA-256 of the raw 32-byte invoice hash, see SPEC §0.1) with opts.HashFunc() ==
// crypto.SHA256 and returns an ASN.1 DER ECDSA signature (SEQUENCE { r, s }).
// Public returns the public key: *secp256k1.PublicKey (decred) for the secp256k1
// backends, *ecdsa.PublicKey for the native P-256 backend.
//
// Close releases the key; afterwards Sign returns ErrKeyDestroyed. Close is idempotent.
// No Signer offers a way to read its private key.
type Signer interface {
	crypto.Signer
	Close() error
}

// Sealer keeps small named secrets (the CSID binarySecurityToken and API secret) bound
// to the terminal's security module. Seal replaces any secret stored under the same name;
// it is atomic (the old secret or the new one survives a crash, never a mix). Unseal
// returns ErrNoKey when nothing is sealed under name, ErrWrongTPM when the stored blob
// belongs to another security module. The caller owns the returned slice and should
// zero it when done.
//
// Names are 1–64 characters of [a-z0-9._-], starting with a letter or digit; any other
// name is rejected with ErrBadName.
type Sealer interface {
	Seal(ctx context.Context, name string, secret []byte) error
	Unseal(ctx context.Context, name string) ([]byte, error)
}

// Sentinel errors. Implementations wrap them (errors.Is works); callers never match
// error strings.
var (
	// ErrNoKey: there is no key (or no secret under that name) to use.
	ErrNoKey = errors.New("hsm: no key")
	// ErrUnsupported: the requested algorithm, hash or operation is not supported by
	// this implementation (for example a hash other than SHA-256).
	ErrUnsupported = errors.New("hsm: unsupported")
	// ErrWrongTPM: a sealed blob was made by another TPM (or by this TPM before its
	// owner hierarchy was cleared) and cannot be loaded here.
	ErrWrongTPM = errors.New("hsm: blob belongs to another TPM")
	// ErrAuth: the activation data (or the PCR policy) does not match the blob.
	ErrAuth = errors.New("hsm: authorization failed")
	// ErrKeyDestroyed: the key was closed or destroyed (for example the old key after a
	// rotation was activated).
	ErrKeyDestroyed = errors.New("hsm: key destroyed")
	// ErrBadDigest: the digest handed to Sign has the wrong length for its hash.
	ErrBadDigest = errors.New("hsm: bad digest")
	// ErrBadName: a sealed secret name breaks the naming rule.
	ErrBadName = errors.New("hsm: bad secret name")
	// ErrCorrupt: a stored blob is malformed (truncated, bad magic, unknown version).
	ErrCorrupt = errors.New("hsm: corrupt blob")
)

// CheckDigest enforces the digest rule shared by every Signer: the hash must be SHA-256
// and the digest exactly 32 bytes. It returns an error wrapping ErrUnsupported or
// ErrBadDigest.
func CheckDigest(digest []byte, opts crypto.SignerOpts) error {
	if opts == nil {
		return fmt.Errorf("sign: no hash function given (want SHA-256): %w", ErrUnsupported)
	}
	if h := opts.HashFunc(); h != crypto.SHA256 {
		return fmt.Errorf("sign: hash %v not supported (want SHA-256): %w", h, ErrUnsupported)
	}
	if len(digest) != crypto.SHA256.Size() {
		return fmt.Errorf("sign: digest is %d bytes, SHA-256 needs %d: %w", len(digest), crypto.SHA256.Size(), ErrBadDigest)
	}
	return nil
}

// CheckName enforces the Sealer naming rule and returns an error wrapping ErrBadName.
func CheckName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("secret name %q: length %d not in 1..64: %w", name, len(name), ErrBadName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return fmt.Errorf("secret name %q: character %d (%q) not allowed (want [a-z0-9._-], starting with a letter or digit): %w", name, i, c, ErrBadName)
		}
	}
	return nil
}
