package tpm

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/posagent/posagent/hsm"
	"github.com/posagent/posagent/hsm/softkey"
)

// ErrClosed is returned by KeyStore methods after Close.
var ErrClosed = errors.New("tpm: key store closed")

// maxSecret bounds what Seal accepts (a CSID token is about 2 KiB).
const maxSecret = 64 << 10

// KeyStore is the terminal's stamping-key store and secret sealer on one TPM. It holds
// at most two keys: the current one, which signs documents, and a pending one, made by
// GenerateNext for a CSID renewal (or the first onboarding) and promoted by Activate
// once its certificate is in hand. Activate destroys the previous key's blob and
// zeroes its memory; Signers still holding it then fail with hsm.ErrKeyDestroyed.
//
// Signers returned by Current and Pending are handles: their Close only retires the
// handle; the key belongs to the KeyStore until Activate replaces it or Close.
// A KeyStore is safe for concurrent use.
type KeyStore struct {
	cfg    Config
	log    *slog.Logger
	dev    *device
	secret []byte // copy of cfg.ActivationSecret, zeroed by Close

	mu      sync.Mutex // guards the fields below and the state directory
	current *storedKey
	pending *storedKey
	closed  bool
}

var _ hsm.Sealer = (*KeyStore)(nil)

// Open connects to the TPM, makes the process non-dumpable, finishes a rotation that a
// crash interrupted, and loads the current and pending keys (unsealing secp256k1 keys
// into locked memory). A state directory without keys is valid: Current then returns
// hsm.ErrNoKey until GenerateNext and Activate have run.
func Open(ctx context.Context, cfg Config) (*KeyStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("tpm open: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tpm open: %w", err)
	}
	if err := hardenProcess(); err != nil {
		return nil, fmt.Errorf("tpm open: %w", err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("tpm open: state dir: %w", err)
	}
	if err := removeTemps(cfg.StateDir); err != nil {
		return nil, fmt.Errorf("tpm open: state dir: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("subsystem", "hsm/tpm")
	dev, err := openDevice(cfg.Transport)
	if err != nil {
		return nil, fmt.Errorf("tpm open: %w", err)
	}
	ks := &KeyStore{cfg: cfg, log: log, dev: dev, secret: append([]byte(nil), cfg.ActivationSecret...)}
	var vendor string
	var firmware uint32
	if err := dev.do(func(t transport.TPM) (err error) {
		vendor, firmware, err = manufacturer(t)
		return err
	}); err != nil {
		_ = ks.Close()
		return nil, fmt.Errorf("tpm open: %s does not answer as a TPM 2.0: %w", dev.spec, err)
	}
	if err := ks.load(); err != nil {
		_ = ks.Close()
		return nil, fmt.Errorf("tpm open: %w", err)
	}
	if len(ks.secret) == 0 {
		log.Warn("no activation secret configured: blobs are protected by the TPM binding and file permissions only")
	}
	log.Info("key store open", "transport", dev.spec, "manufacturer", vendor, "firmware", fmt.Sprintf("%#x", firmware), "current", ks.current.describe(), "pending", ks.pending.describe())
	return ks, nil
}

// load recovers an interrupted Activate and loads both slots.
func (ks *KeyStore) load() error {
	dir := ks.cfg.StateDir
	retired, err := exists(dir, retiredFile)
	if err != nil {
		return err
	}
	if retired {
		hasCur, err := exists(dir, currentFile)
		if err != nil {
			return err
		}
		hasNext, err := exists(dir, pendingFile)
		if err != nil {
			return err
		}
		switch {
		case !hasCur && hasNext: // crashed between the two renames: roll forward
			if err := renameDurable(dir, pendingFile, currentFile); err != nil {
				return err
			}
			ks.log.Warn("finished an interrupted key activation")
		case !hasCur: // only the retired key is left: put it back
			if err := renameDurable(dir, retiredFile, currentFile); err != nil {
				return err
			}
			ks.log.Warn("restored the only stamping key from an interrupted activation")
		}
		if err := destroyFile(dir, retiredFile); err != nil {
			return err
		}
	}
	if ks.current, err = ks.loadSlot(currentFile); err != nil {
		return err
	}
	if ks.pending, err = ks.loadSlot(pendingFile); err != nil {
		return err
	}
	return nil
}

func (ks *KeyStore) loadSlot(name string) (*storedKey, error) {
	data, err := os.ReadFile(filepath.Join(ks.cfg.StateDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	b, err := parseBlob(data)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	var k *storedKey
	switch b.kind {
	case kindSealedSecp256k1:
		k, err = ks.unsealKey(b)
	case kindNativeP256:
		k, err = ks.loadNative(b)
	default:
		err = fmt.Errorf("holds a %v, not a stamping key: %w", b.kind, hsm.ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	return k, nil
}

// unsealKey unseals a secp256k1 blob into locked memory and checks it against the
// recorded public key.
func (ks *KeyStore) unsealKey(b *blob) (*storedKey, error) {
	auth := authValue(ks.secret, b.salt)
	defer clear(auth)
	var soft *softkey.Key
	err := ks.dev.do(func(t transport.TPM) error {
		return withSRK(t, func(s *srk) error {
			scalar, err := unseal(t, s, b, auth)
			if err != nil {
				return err
			}
			defer clear(scalar)
			soft, err = softkey.FromBytes(scalar)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if want, err := secp256k1.ParsePubKey(b.secpPub); err != nil || !want.IsEqual(soft.PublicKey()) {
		_ = soft.Close()
		return nil, fmt.Errorf("unsealed key does not match its recorded public key: %w", hsm.ErrCorrupt)
	}
	return &storedKey{kind: b.kind, soft: soft}, nil
}

func (ks *KeyStore) loadNative(b *blob) (*storedKey, error) {
	pub, err := p256Public(b.public)
	if err != nil {
		return nil, fmt.Errorf("native key: %w", err)
	}
	n := &nativeKey{dev: ks.dev, b: b, auth: authValue(ks.secret, b.salt), pub: pub}
	// Load it and sign once now, so that a wrong TPM or activation secret fails at Open
	// rather than at the first sale.
	if err := ks.dev.do(n.reload); err != nil {
		n.destroy()
		return nil, err
	}
	probe := sha256.Sum256([]byte("posagent/hsm/tpm open probe"))
	der, err := n.sign(probe[:])
	if err != nil {
		n.destroy()
		return nil, err
	}
	if !ecdsa.VerifyASN1(pub, probe[:], der) {
		n.destroy()
		return nil, fmt.Errorf("native key: the TPM's signature does not match the recorded public key: %w", hsm.ErrCorrupt)
	}
	return &storedKey{kind: b.kind, native: n}, nil
}

// String names the transport and the keys' public fingerprints; it never shows
// secrets (also for %v, %+v and %#v).
func (ks *KeyStore) String() string {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return fmt.Sprintf("tpm.KeyStore(%s, current=%s, pending=%s)", ks.dev.spec, ks.current.describe(), ks.pending.describe())
}

// GoString is String.
func (ks *KeyStore) GoString() string { return ks.String() }

// Format makes every verb print String.
func (ks *KeyStore) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, ks.String()) }

// MarshalJSON refuses: a key store is not data.
func (ks *KeyStore) MarshalJSON() ([]byte, error) { return nil, softkey.ErrNotSerializable }

// Transport returns the spec of the TPM in use (the device found for an empty spec).
func (ks *KeyStore) Transport() string { return ks.dev.spec }

// Current returns a handle to the current stamping key, or hsm.ErrNoKey.
func (ks *KeyStore) Current() (hsm.Signer, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.handle(ks.current, "current")
}

// Pending returns a handle to the pending key made by GenerateNext, or hsm.ErrNoKey.
func (ks *KeyStore) Pending() (hsm.Signer, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.handle(ks.pending, "pending")
}

func (ks *KeyStore) handle(k *storedKey, slot string) (hsm.Signer, error) {
	if ks.closed {
		return nil, ErrClosed
	}
	if k == nil {
		return nil, fmt.Errorf("tpm: no %s stamping key: %w", slot, hsm.ErrNoKey)
	}
	return &Signer{k: k}, nil
}

// GenerateNext makes a new stamping key of Config.KeyType in the pending slot and
// returns it (to sign the CSR and the compliance documents). A pending key made
// earlier and never activated is destroyed first. The current key keeps signing until
// Activate.
func (ks *KeyStore) GenerateNext(ctx context.Context) (hsm.Signer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tpm generate: %w", err)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.closed {
		return nil, ErrClosed
	}
	var k *storedKey
	var err error
	switch ks.cfg.KeyType {
	case KeyNativeP256:
		k, err = ks.newNative()
	default:
		k, err = ks.newSealedSecp256k1()
	}
	if err != nil {
		return nil, fmt.Errorf("tpm generate: %w", err)
	}
	dir := ks.cfg.StateDir
	if ks.pending != nil {
		if err := destroyFile(dir, pendingFile); err != nil {
			k.destroy()
			return nil, fmt.Errorf("tpm generate: replace pending key: %w", err)
		}
		ks.log.Info("pending stamping key destroyed", "key", ks.pending.describe())
		ks.pending.destroy()
		ks.pending = nil
	}
	if err := writeFileAtomic(dir, pendingFile, k.blob().marshal()); err != nil {
		k.destroy()
		return nil, fmt.Errorf("tpm generate: %w", err)
	}
	ks.pending = k
	ks.log.Info("pending stamping key generated", "key", k.describe())
	return &Signer{k: k}, nil
}

// newSealedSecp256k1 draws a scalar from crypto/rand mixed with TPM2_GetRandom, seals
// it, and keeps it in locked memory.
func (ks *KeyStore) newSealedSecp256k1() (*storedKey, error) {
	b := &blob{kind: kindSealedSecp256k1, da: ks.cfg.DictionaryAttackProtection, pcrMask: pcrMask(ks.cfg.PCRs)}
	if _, err := rand.Read(b.salt[:]); err != nil {
		return nil, err
	}
	auth := authValue(ks.secret, b.salt)
	defer clear(auth)
	var soft *softkey.Key
	err := ks.dev.do(func(t transport.TPM) error {
		scalar, err := mixedScalar(t)
		if err != nil {
			return err
		}
		defer clear(scalar)
		if err := withSRK(t, func(s *srk) error {
			b.public, b.private, err = seal(t, s, scalar, auth, b.pcrMask, b.da)
			return err
		}); err != nil {
			return err
		}
		soft, err = softkey.FromBytes(scalar)
		return err
	})
	if err != nil {
		return nil, err
	}
	b.secpPub = soft.PublicKey().SerializeCompressed()
	return &storedKey{kind: b.kind, soft: soft, sealed: b}, nil
}

// mixedScalar returns a secp256k1 scalar in [1, n-1] computed as SHA-256 over a
// domain label, 32 bytes of crypto/rand and 32 bytes of TPM2_GetRandom, so that the key
// is sound if either source is.
func mixedScalar(t transport.TPM) ([]byte, error) {
	for {
		sys := make([]byte, 32)
		if _, err := rand.Read(sys); err != nil {
			return nil, fmt.Errorf("entropy: %w", err)
		}
		hw, err := getRandom(t, 32)
		if err != nil {
			clear(sys)
			return nil, fmt.Errorf("entropy: %w", err)
		}
		h := sha256.New()
		h.Write([]byte("posagent/hsm/tpm secp256k1 key v1\x00"))
		h.Write(sys)
		h.Write(hw)
		clear(sys)
		clear(hw)
		scalar := h.Sum(nil)
		var s secp256k1.ModNScalar
		overflow := s.SetByteSlice(scalar)
		zero := s.IsZero()
		s.Zero()
		if !overflow && !zero {
			return scalar, nil
		}
		clear(scalar) // probability about 2^-128
	}
}

func (ks *KeyStore) newNative() (*storedKey, error) {
	b := &blob{kind: kindNativeP256, da: ks.cfg.DictionaryAttackProtection}
	if _, err := rand.Read(b.salt[:]); err != nil {
		return nil, err
	}
	auth := authValue(ks.secret, b.salt)
	err := ks.dev.do(func(t transport.TPM) error {
		return withSRK(t, func(s *srk) error {
			var err error
			b.public, b.private, err = createP256(t, s, auth, b.da)
			return err
		})
	})
	if err != nil {
		clear(auth)
		return nil, err
	}
	pub, err := p256Public(b.public)
	if err != nil {
		clear(auth)
		return nil, fmt.Errorf("native key: %w", err)
	}
	return &storedKey{kind: b.kind, native: &nativeKey{dev: ks.dev, b: b, auth: auth, pub: pub}}, nil
}

// Activate promotes the pending key to current, after its certificate was obtained.
// The previous key's blob is overwritten and removed, and its memory zeroed; handles to
// it fail with hsm.ErrKeyDestroyed from then on. A crash at any point leaves either the
// old or the new key current (Open finishes the job). Without a pending key it returns
// hsm.ErrNoKey.
func (ks *KeyStore) Activate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tpm activate: %w", err)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.closed {
		return ErrClosed
	}
	if ks.pending == nil {
		return fmt.Errorf("tpm activate: no pending key: %w", hsm.ErrNoKey)
	}
	dir := ks.cfg.StateDir
	hadCurrent, err := exists(dir, currentFile)
	if err != nil {
		return fmt.Errorf("tpm activate: %w", err)
	}
	if hadCurrent {
		if err := renameDurable(dir, currentFile, retiredFile); err != nil {
			return fmt.Errorf("tpm activate: %w", err)
		}
	}
	if err := renameDurable(dir, pendingFile, currentFile); err != nil {
		if hadCurrent {
			_ = renameDurable(dir, retiredFile, currentFile)
		}
		return fmt.Errorf("tpm activate: %w", err)
	}
	old := ks.current
	ks.current, ks.pending = ks.pending, nil
	if old != nil {
		old.destroy()
	}
	ks.log.Info("stamping key activated", "key", ks.current.describe(), "retired", old.describe())
	if hadCurrent {
		if err := destroyFile(dir, retiredFile); err != nil {
			// The new key is active; Open destroys the leftover blob next time.
			return fmt.Errorf("tpm activate: destroy retired key: %w", err)
		}
	}
	return nil
}

// Seal implements hsm.Sealer. The secret is encrypted with AES-256-GCM under a fresh
// data key, and only that data key is sealed by the TPM (a sealed object holds at most
// 128 bytes); the secret's name is authenticated with it, so blobs cannot be swapped
// between names.
func (ks *KeyStore) Seal(ctx context.Context, name string, secret []byte) error {
	if err := hsm.CheckName(name); err != nil {
		return fmt.Errorf("tpm seal: %w", err)
	}
	if len(secret) > maxSecret {
		return fmt.Errorf("tpm seal %s: secret is %d bytes, at most %d allowed", name, len(secret), maxSecret)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tpm seal %s: %w", name, err)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.closed {
		return ErrClosed
	}
	b := &blob{kind: kindSealedSecret, da: ks.cfg.DictionaryAttackProtection, pcrMask: pcrMask(ks.cfg.PCRs), nonce: make([]byte, 12)}
	dek := make([]byte, 32)
	defer clear(dek)
	if _, err := rand.Read(dek); err != nil {
		return fmt.Errorf("tpm seal %s: %w", name, err)
	}
	if _, err := rand.Read(b.salt[:]); err != nil {
		return fmt.Errorf("tpm seal %s: %w", name, err)
	}
	if _, err := rand.Read(b.nonce); err != nil {
		return fmt.Errorf("tpm seal %s: %w", name, err)
	}
	auth := authValue(ks.secret, b.salt)
	defer clear(auth)
	err := ks.dev.do(func(t transport.TPM) error {
		return withSRK(t, func(s *srk) error {
			var err error
			b.public, b.private, err = seal(t, s, dek, auth, b.pcrMask, b.da)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("tpm seal %s: %w", name, err)
	}
	aead, err := newGCM(dek)
	if err != nil {
		return fmt.Errorf("tpm seal %s: %w", name, err)
	}
	b.ciphertext = aead.Seal(nil, b.nonce, secret, secretAAD(name))
	if err := writeFileAtomic(ks.cfg.StateDir, secretFile(name), b.marshal()); err != nil {
		return fmt.Errorf("tpm seal %s: %w", name, err)
	}
	ks.log.Info("secret sealed", "name", name)
	return nil
}

// Unseal implements hsm.Sealer. The caller zeroes the returned secret.
func (ks *KeyStore) Unseal(ctx context.Context, name string) ([]byte, error) {
	if err := hsm.CheckName(name); err != nil {
		return nil, fmt.Errorf("tpm unseal: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tpm unseal %s: %w", name, err)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.closed {
		return nil, ErrClosed
	}
	data, err := os.ReadFile(filepath.Join(ks.cfg.StateDir, secretFile(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tpm unseal %s: nothing sealed under this name: %w", name, hsm.ErrNoKey)
	}
	if err != nil {
		return nil, fmt.Errorf("tpm unseal %s: %w", name, err)
	}
	b, err := parseBlob(data)
	if err != nil {
		return nil, fmt.Errorf("tpm unseal %s: %w", name, err)
	}
	if b.kind != kindSealedSecret {
		return nil, fmt.Errorf("tpm unseal %s: holds a %v: %w", name, b.kind, hsm.ErrCorrupt)
	}
	auth := authValue(ks.secret, b.salt)
	defer clear(auth)
	var dek []byte
	err = ks.dev.do(func(t transport.TPM) error {
		return withSRK(t, func(s *srk) error {
			var err error
			dek, err = unseal(t, s, b, auth)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("tpm unseal %s: %w", name, err)
	}
	defer clear(dek)
	aead, err := newGCM(dek)
	if err != nil {
		return nil, fmt.Errorf("tpm unseal %s: %w", name, err)
	}
	secret, err := aead.Open(nil, b.nonce, b.ciphertext, secretAAD(name))
	if err != nil {
		return nil, fmt.Errorf("tpm unseal %s: ciphertext does not authenticate: %w", name, hsm.ErrCorrupt)
	}
	return secret, nil
}

// DestroySecret overwrites and removes the secret sealed under name. A name with
// nothing sealed is not an error.
func (ks *KeyStore) DestroySecret(ctx context.Context, name string) error {
	if err := hsm.CheckName(name); err != nil {
		return fmt.Errorf("tpm destroy secret: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tpm destroy secret %s: %w", name, err)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.closed {
		return ErrClosed
	}
	if err := destroyFile(ks.cfg.StateDir, secretFile(name)); err != nil {
		return fmt.Errorf("tpm destroy secret %s: %w", name, err)
	}
	ks.log.Info("secret destroyed", "name", name)
	return nil
}

func secretAAD(name string) []byte {
	return []byte("posagent/hsm/tpm secret v1\x00" + name)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Close zeroes every key in memory, forgets the activation secret and closes the TPM
// connection. Handles fail with hsm.ErrKeyDestroyed afterwards. Close is idempotent.
func (ks *KeyStore) Close() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.closed {
		return nil
	}
	ks.closed = true
	ks.current.destroy()
	ks.pending.destroy()
	ks.current, ks.pending = nil, nil
	clear(ks.secret)
	if err := ks.dev.close(); err != nil {
		return fmt.Errorf("tpm close: %w", err)
	}
	ks.log.Info("key store closed")
	return nil
}

// fingerprint is a short, public identifier of a key for logs: hex of the first 8 bytes
// of SHA-256 over the public point.
func fingerprint(point []byte) string {
	sum := sha256.Sum256(point)
	return hex.EncodeToString(sum[:8])
}
