package tpm

import (
	"crypto"
	"crypto/sha256"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/posagent/posagent/hsm/hsmtest"
)

// The benchmarks run against a private swtpm over loopback TCP. On a discrete TPM
// chip, TPM commands are 10–100× slower; the in-process signature is not.

func benchStore(b *testing.B, kt KeyType) (*KeyStore, *hsmtest.SWTPM) {
	b.Helper()
	sw := hsmtest.StartSWTPM(b, filepath.Join(b.TempDir(), "swtpm"))
	cfg := testConfig(b, sw.Spec(), filepath.Join(b.TempDir(), "state"))
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.KeyType = kt
	return openStore(b, cfg), sw
}

// Seal of a CSID-secret-sized value: SRK + salted session + TPM2_Create + AES-GCM +
// atomic, fsynced file write.
func BenchmarkSeal(b *testing.B) {
	ks, _ := benchStore(b, KeySealedSecp256k1)
	secret := []byte("Xlj15LyMCgSC66ObnEO/qVPfhSbs3kDTjWnGheYhfSs=")
	for b.Loop() {
		if err := ks.Seal(ctx, "csid-secret", secret); err != nil {
			b.Fatal(err)
		}
	}
}

// Unseal: read the blob, SRK + load + policy session + TPM2_Unseal + AES-GCM.
func BenchmarkUnseal(b *testing.B) {
	ks, _ := benchStore(b, KeySealedSecp256k1)
	if err := ks.Seal(ctx, "csid-secret", []byte("Xlj15LyMCgSC66ObnEO/qVPfhSbs3kDTjWnGheYhfSs=")); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := ks.Unseal(ctx, "csid-secret")
		if err != nil {
			b.Fatal(err)
		}
		clear(s)
	}
}

// Open of a store with a sealed secp256k1 key: what the daemon pays once at start.
func BenchmarkOpenUnsealKey(b *testing.B) {
	ks, _ := benchStore(b, KeySealedSecp256k1)
	if _, err := ks.GenerateNext(ctx); err != nil {
		b.Fatal(err)
	}
	if err := ks.Activate(ctx); err != nil {
		b.Fatal(err)
	}
	cfg := ks.cfg
	_ = ks.Close()
	for b.Loop() {
		k, err := Open(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		_ = k.Close()
	}
}

// Software secp256k1 signature with the unsealed key (per sale).
func BenchmarkSignSealedSecp256k1(b *testing.B) {
	benchSign(b, KeySealedSecp256k1)
}

// Native TPM P-256 signature: HMAC session + ContextLoad + TPM2_Sign + FlushContext.
func BenchmarkSignNativeP256(b *testing.B) {
	benchSign(b, KeyNativeP256)
}

func benchSign(b *testing.B, kt KeyType) {
	ks, _ := benchStore(b, kt)
	s, err := ks.GenerateNext(ctx)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("invoice hash"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(nil, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}
