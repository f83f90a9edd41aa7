package tpm

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
)

// KeyType selects the stamping-key mechanism for newly generated keys. A key already
// stored keeps the type it was made with.
type KeyType string

const (
	// KeySealedSecp256k1 is a software secp256k1 key sealed by the TPM (the default;
	// ZATCA's curve).
	KeySealedSecp256k1 KeyType = "secp256k1-sealed"
	// KeyNativeP256 is a non-exportable TPM ECC P-256 key. Not the default: ZATCA has
	// not confirmed P-256 (SPEC §0.2).
	KeyNativeP256 KeyType = "p256-tpm"
)

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("tpm: invalid config")

// Config configures a KeyStore.
type Config struct {
	// Transport selects the TPM: "dev:/dev/tpmrm0", "dev:/dev/tpm0",
	// "tcp:127.0.0.1:2321", "unix:/path", or "" for /dev/tpmrm0 then /dev/tpm0.
	Transport string
	// StateDir holds the blobs (created 0700 if missing). Required, absolute.
	StateDir string
	// KeyType of newly generated stamping keys.
	KeyType KeyType
	// ActivationSecret is the board secret every object's authValue is derived from.
	// Empty (development only) means the blobs are protected by the TPM binding and file
	// permissions alone; otherwise at least 16 bytes.
	ActivationSecret Secret
	// PCRs, when not empty, adds PolicyPCR over these SHA-256 PCRs (0–23) to every
	// sealed object's policy: unsealing then fails with hsm.ErrAuth after any of them
	// changes. Keys made with a PCR policy must be re-made when the measured state
	// changes legitimately (e.g. a firmware update).
	PCRs []int
	// DictionaryAttackProtection clears noDA on new objects: wrong activation data is
	// then rate-limited by the TPM, at the cost of lockouts after power cuts (see the
	// package doc).
	DictionaryAttackProtection bool
	// Logger receives mutations (key generated, activated, destroyed; secret sealed).
	// Nil means slog.Default().
	Logger *slog.Logger
}

// Secret is a byte string that never prints or serialises: fmt shows only its length,
// MarshalJSON and MarshalText refuse.
type Secret []byte

// ErrSecretNotSerializable is returned by Secret's MarshalJSON and MarshalText.
var ErrSecretNotSerializable = errors.New("tpm: a secret cannot be serialized")

// String shows only the length.
func (s Secret) String() string { return fmt.Sprintf("Secret(%d bytes)", len(s)) }

// GoString is String.
func (s Secret) GoString() string { return s.String() }

// Format makes every verb print String.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, s.String()) }

// MarshalJSON refuses.
func (s Secret) MarshalJSON() ([]byte, error) { return nil, ErrSecretNotSerializable }

// MarshalText refuses.
func (s Secret) MarshalText() ([]byte, error) { return nil, ErrSecretNotSerializable }

// DefaultConfig returns the production defaults: auto-detected TPM device,
// KeySealedSecp256k1, no PCR policy. StateDir and ActivationSecret must be set.
func DefaultConfig() Config {
	return Config{KeyType: KeySealedSecp256k1}
}

// Validate checks every field and returns all faults, each wrapping ErrConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrConfig))
	}
	if _, _, err := parseSpec(c.Transport); err != nil {
		bad("Transport", "%v", err)
	}
	switch {
	case c.StateDir == "":
		bad("StateDir", "required")
	case !filepath.IsAbs(c.StateDir):
		bad("StateDir", "%q is not absolute", c.StateDir)
	}
	switch c.KeyType {
	case KeySealedSecp256k1, KeyNativeP256:
	default:
		bad("KeyType", "%q is not %q or %q", c.KeyType, KeySealedSecp256k1, KeyNativeP256)
	}
	if n := len(c.ActivationSecret); n != 0 && n < 16 {
		bad("ActivationSecret", "%d bytes; want 0 (development) or at least 16", n)
	}
	seen := map[int]bool{}
	for _, p := range c.PCRs {
		switch {
		case p < 0 || p > 23:
			bad("PCRs", "PCR %d not in 0..23", p)
		case seen[p]:
			bad("PCRs", "PCR %d listed twice", p)
		}
		seen[p] = true
	}
	return errors.Join(errs...)
}

// pcrMask turns a validated PCR list into a bit mask (bit i = PCR i).
func pcrMask(pcrs []int) uint32 {
	var m uint32
	for _, p := range pcrs {
		m |= 1 << uint(p)
	}
	return m
}

// maskPCRs lists the PCRs of a mask in ascending order.
func maskPCRs(m uint32) []uint {
	var out []uint
	for i := uint(0); i < 24; i++ {
		if m&(1<<i) != 0 {
			out = append(out, i)
		}
	}
	return out
}
