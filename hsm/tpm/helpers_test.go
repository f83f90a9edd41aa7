package tpm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/posagent/posagent/hsm"
	"github.com/posagent/posagent/hsm/hsmtest"
)

var boardSecret = []byte("test board secret: 0123456789abcdef")

// testLogger sends the store's logs to t.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func testConfig(t testing.TB, spec, dir string) Config {
	cfg := DefaultConfig()
	cfg.Transport = spec
	cfg.StateDir = dir
	cfg.ActivationSecret = boardSecret
	cfg.Logger = testLogger(t)
	return cfg
}

func openStore(t testing.TB, cfg Config) *KeyStore {
	t.Helper()
	ks, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = ks.Close() })
	return ks
}

// newTPM starts a private swtpm over TCP.
func newTPM(t testing.TB) *hsmtest.SWTPM {
	t.Helper()
	return hsmtest.StartSWTPM(t, filepath.Join(t.TempDir(), "swtpm"))
}

// mustSign signs a digest of msg and checks the signature with an independent verifier:
// decred for secp256k1, crypto/ecdsa for P-256.
func mustSign(t testing.TB, s hsm.Signer, msg string) []byte {
	t.Helper()
	d := sha256.Sum256([]byte(msg))
	der, err := s.Sign(nil, d[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if !verify(s.Public(), d[:], der) {
		t.Fatalf("signature does not verify")
	}
	other := sha256.Sum256([]byte(msg + "!"))
	if verify(s.Public(), other[:], der) {
		t.Fatalf("signature verifies for another digest")
	}
	return der
}

func verify(pub crypto.PublicKey, digest, der []byte) bool {
	switch k := pub.(type) {
	case *secp256k1.PublicKey:
		sig, err := secpecdsa.ParseDERSignature(der)
		return err == nil && sig.Verify(digest, k)
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, digest, der)
	}
	return false
}

func samePublic(a, b crypto.PublicKey) bool {
	switch x := a.(type) {
	case *secp256k1.PublicKey:
		y, ok := b.(*secp256k1.PublicKey)
		return ok && x.IsEqual(y)
	case *ecdsa.PublicKey:
		y, ok := b.(*ecdsa.PublicKey)
		return ok && x.Equal(y)
	}
	return false
}

// unsealFile unseals a stamping-key blob through the store's own TPM connection and
// returns the clear scalar. Test-only: the package exposes no such path.
func unsealFile(t testing.TB, ks *KeyStore, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseBlob(data)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	err = ks.dev.do(func(tp transport.TPM) error {
		return withSRK(tp, func(s *srk) error {
			var err error
			out, err = unseal(tp, s, b, authValue(ks.secret, b.salt))
			return err
		})
	})
	if err != nil {
		t.Fatalf("unseal %s: %v", path, err)
	}
	return out
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
