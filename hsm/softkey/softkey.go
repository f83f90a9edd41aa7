// Package softkey owns the in-process secp256k1 stamping key: an hsm.Signer that signs
// with decred's secp256k1 (RFC 6979 deterministic nonces, low-S, DER output). It is used
// for development, tests and the ZATCA SDK test key, and by hsm/tpm to sign with a key
// that the TPM has just unsealed.
//
// Keys made by Generate, FromBytes and ParseKey live in one page of memory that is
// mmap'd outside the Go heap, locked (mlock, never swapped), excluded from core dumps
// (MADV_DONTDUMP) and from forked children (MADV_WIPEONFORK), and zeroed then unmapped
// by Close. New wraps a caller-owned key as it is. Nothing in this package returns or
// prints the private scalar: Key refuses MarshalJSON and MarshalText, and its String,
// GoString and Format show only the public key.
//
// Package softkey imports hsm, decred secp256k1 and golang.org/x/sys; it must not import
// hsm/tpm or anything outside hsm.
package softkey

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/posagent/posagent/hsm"
)

// ScalarSize is the length of a secp256k1 private scalar.
const ScalarSize = 32

// ErrNotSerializable is returned by Key's MarshalJSON and MarshalText: a key never
// leaves the process.
var ErrNotSerializable = errors.New("softkey: a private key cannot be serialized")

// Key is a secp256k1 private key that signs in process. The zero value is not usable;
// build one with New, Generate, FromBytes or ParseKey. A Key is safe for concurrent use.
type Key struct {
	mu     sync.RWMutex
	priv   *secp256k1.PrivateKey // nil once closed
	pub    *secp256k1.PublicKey
	mem    *lockedPage // nil for keys wrapped by New
	closed bool
}

var _ hsm.Signer = (*Key)(nil)

// New wraps priv as an hsm.Signer. The Key takes ownership of priv: Close zeroes it.
// The memory holding priv is the caller's (usually the Go heap); prefer FromBytes or
// Generate, which keep the scalar in locked memory.
func New(priv *secp256k1.PrivateKey) hsm.Signer {
	if priv == nil || priv.Key.IsZero() {
		// Signing with a nil or zero scalar is meaningless; hand back a closed key so that
		// every Sign fails with a clear error instead of panicking.
		return &Key{closed: true}
	}
	return &Key{priv: priv, pub: priv.PubKey()}
}

// Generate makes a new key from crypto/rand, directly in locked memory.
func Generate() (*Key, error) {
	var buf [ScalarSize]byte
	defer clear(buf[:])
	for {
		if _, err := io.ReadFull(rand.Reader, buf[:]); err != nil {
			return nil, fmt.Errorf("softkey generate: read entropy: %w", err)
		}
		k, err := FromBytes(buf[:])
		if errors.Is(err, errScalarRange) {
			continue // probability about 2^-128
		}
		if err != nil {
			return nil, fmt.Errorf("softkey generate: %w", err)
		}
		return k, nil
	}
}

var errScalarRange = errors.New("scalar not in [1, n-1]")

// FromBytes copies a 32-byte big-endian scalar into locked memory and returns the key.
// The scalar must be in [1, n-1]. The caller should zero b afterwards.
func FromBytes(b []byte) (*Key, error) {
	if len(b) != ScalarSize {
		return nil, fmt.Errorf("softkey from bytes: scalar is %d bytes, want %d", len(b), ScalarSize)
	}
	mem, err := newLockedPage()
	if err != nil {
		return nil, fmt.Errorf("softkey from bytes: %w", err)
	}
	priv := mem.privateKey()
	if overflow := priv.Key.SetByteSlice(b); overflow || priv.Key.IsZero() {
		mem.destroy()
		return nil, fmt.Errorf("softkey from bytes: %w", errScalarRange)
	}
	return &Key{priv: priv, pub: priv.PubKey(), mem: mem}, nil
}

// Public returns the public key as *secp256k1.PublicKey (decred). It stays available
// after Close.
func (k *Key) Public() crypto.PublicKey {
	return k.pub
}

// PublicKey returns the public key with its concrete type.
func (k *Key) PublicKey() *secp256k1.PublicKey {
	return k.pub
}

// Locked reports whether the scalar lives in locked, dump-excluded memory.
func (k *Key) Locked() bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.mem != nil && !k.closed
}

// Sign signs a SHA-256 digest (opts.HashFunc() must be crypto.SHA256, len(digest) 32)
// and returns the DER signature. The nonce is deterministic (RFC 6979), so rand is
// ignored; S is always low.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := hsm.CheckDigest(digest, opts); err != nil {
		return nil, fmt.Errorf("softkey %w", err)
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.closed {
		return nil, fmt.Errorf("softkey sign: %w", hsm.ErrKeyDestroyed)
	}
	return ecdsa.Sign(k.priv, digest).Serialize(), nil
}

// Close zeroes the scalar and releases its memory. It waits for signatures in flight.
// Later calls to Sign return hsm.ErrKeyDestroyed. Close is idempotent.
func (k *Key) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	if k.priv != nil {
		k.priv.Zero()
		k.priv = nil
	}
	if k.mem != nil {
		err := k.mem.destroy()
		k.mem = nil
		if err != nil {
			return fmt.Errorf("softkey close: %w", err)
		}
	}
	return nil
}

// String shows the curve and the compressed public key, never the private scalar.
func (k *Key) String() string {
	if k == nil || k.pub == nil {
		return "softkey.Key(secp256k1, empty)"
	}
	return "softkey.Key(secp256k1, pub=" + hex.EncodeToString(k.pub.SerializeCompressed()) + ")"
}

// GoString is String: %#v must not walk into the private scalar.
func (k *Key) GoString() string { return k.String() }

// Format makes every fmt verb print String.
func (k *Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// MarshalJSON refuses: a private key never leaves the process.
func (k *Key) MarshalJSON() ([]byte, error) { return nil, ErrNotSerializable }

// MarshalText refuses: a private key never leaves the process.
func (k *Key) MarshalText() ([]byte, error) { return nil, ErrNotSerializable }
