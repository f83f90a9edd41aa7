package tpm

import (
	"crypto"
	"crypto/ecdsa"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"sync/atomic"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/posagent/posagent/hsm"
	"github.com/posagent/posagent/hsm/softkey"
)

// storedKey is one stamping key held by a KeyStore.
type storedKey struct {
	kind   blobKind
	soft   *softkey.Key // kindSealedSecp256k1: the unsealed scalar, in locked memory
	sealed *blob        // kindSealedSecp256k1: its blob, kept only until written
	native *nativeKey   // kindNativeP256
}

func (k *storedKey) blob() *blob {
	if k.native != nil {
		return k.native.b
	}
	return k.sealed
}

func (k *storedKey) keyType() KeyType {
	if k.kind == kindNativeP256 {
		return KeyNativeP256
	}
	return KeySealedSecp256k1
}

func (k *storedKey) public() crypto.PublicKey {
	if k.native != nil {
		return k.native.pub
	}
	return k.soft.PublicKey()
}

func (k *storedKey) point() []byte {
	if k.native != nil {
		p, err := k.native.pub.ECDH()
		if err != nil {
			return nil
		}
		return p.Bytes()
	}
	return k.soft.PublicKey().SerializeCompressed()
}

// describe is the key's log form: type and public fingerprint.
func (k *storedKey) describe() string {
	if k == nil {
		return "none"
	}
	return string(k.keyType()) + ":" + fingerprint(k.point())
}

func (k *storedKey) sign(digest []byte) ([]byte, error) {
	if k.native != nil {
		return k.native.sign(digest)
	}
	return k.soft.Sign(nil, digest, crypto.SHA256)
}

func (k *storedKey) destroy() {
	if k == nil {
		return
	}
	if k.soft != nil {
		_ = k.soft.Close()
	}
	if k.native != nil {
		k.native.destroy()
	}
}

// Signer is a handle to a KeyStore key; it implements hsm.Signer. Public returns
// *secp256k1.PublicKey (decred) for KeySealedSecp256k1 and *ecdsa.PublicKey for
// KeyNativeP256. Close retires the handle only.
type Signer struct {
	k      *storedKey
	closed atomic.Bool
}

var _ hsm.Signer = (*Signer)(nil)

// Public returns the public key.
func (s *Signer) Public() crypto.PublicKey { return s.k.public() }

// KeyType says which mechanism holds the key.
func (s *Signer) KeyType() KeyType { return s.k.keyType() }

// Sign signs a SHA-256 digest and returns a DER ECDSA signature. rand is not used:
// secp256k1 nonces are RFC 6979, P-256 nonces come from the TPM.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := hsm.CheckDigest(digest, opts); err != nil {
		return nil, fmt.Errorf("tpm %w", err)
	}
	if s.closed.Load() {
		return nil, fmt.Errorf("tpm sign: handle closed: %w", hsm.ErrKeyDestroyed)
	}
	return s.k.sign(digest)
}

// Close retires this handle; the key itself stays with the KeyStore.
func (s *Signer) Close() error {
	s.closed.Store(true)
	return nil
}

// String names the key type and its public fingerprint.
func (s *Signer) String() string { return "tpm.Signer(" + s.k.describe() + ")" }

// GoString is String.
func (s *Signer) GoString() string { return s.String() }

// Format makes every verb print String.
func (s *Signer) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// MarshalJSON refuses: a key handle is not data.
func (s *Signer) MarshalJSON() ([]byte, error) { return nil, softkey.ErrNotSerializable }

// MarshalText refuses: a key handle is not data.
func (s *Signer) MarshalText() ([]byte, error) { return nil, softkey.ErrNotSerializable }

// nativeKey is a TPM P-256 key. It is not kept loaded: its context is saved once
// (TPM2_ContextSave) and each Sign does ContextLoad, Sign, FlushContext, so it never
// holds one of the TPM's few object slots and nothing leaks if the daemon dies. When
// the saved context no longer loads (the TPM was restarted), it is reloaded from the
// blob under the SRK.
type nativeKey struct {
	dev  *device
	b    *blob
	pub  *ecdsa.PublicKey
	auth []byte // guarded by dev.mu, like everything below

	saved     *tpm2.TPMSContext
	name      tpm2.TPM2BName
	destroyed bool
}

// reload loads the blob under the SRK and saves its context. Runs under dev.do.
func (n *nativeKey) reload(t transport.TPM) error {
	return withSRK(t, func(s *srk) error {
		h, name, err := load(t, s, n.b)
		if err != nil {
			return err
		}
		defer flush(t, h)
		rsp, err := tpm2.ContextSave{SaveHandle: h}.Execute(t)
		if err != nil {
			return classify("save native key context", err)
		}
		n.saved, n.name = &rsp.Context, name
		return nil
	})
}

func (n *nativeKey) sign(digest []byte) ([]byte, error) {
	var r, s []byte
	err := n.dev.do(func(t transport.TPM) error {
		if n.destroyed {
			return fmt.Errorf("tpm sign: %w", hsm.ErrKeyDestroyed)
		}
		h, err := n.contextLoad(t)
		if err != nil {
			if err := n.reload(t); err != nil {
				return fmt.Errorf("tpm sign: reload key: %w", err)
			}
			if h, err = n.contextLoad(t); err != nil {
				return fmt.Errorf("tpm sign: %w", err)
			}
		}
		defer flush(t, h)
		r, s, err = signP256(t, h, n.name, n.auth, digest)
		return err
	})
	if err != nil {
		return nil, err
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(r), new(big.Int).SetBytes(s)})
	if err != nil {
		return nil, fmt.Errorf("tpm sign: DER: %w", err)
	}
	return der, nil
}

func (n *nativeKey) contextLoad(t transport.TPM) (tpm2.TPMHandle, error) {
	if n.saved == nil {
		return 0, fmt.Errorf("no saved context")
	}
	rsp, err := tpm2.ContextLoad{Context: *n.saved}.Execute(t)
	if err != nil {
		return 0, classify("load native key context", err)
	}
	return tpm2.TPMHandle(rsp.LoadedHandle), nil
}

func (n *nativeKey) destroy() {
	n.dev.mu.Lock()
	defer n.dev.mu.Unlock()
	n.destroyed = true
	clear(n.auth)
	n.saved = nil
}
