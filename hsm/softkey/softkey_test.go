package softkey_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/posagent/posagent/hsm"
	"github.com/posagent/posagent/hsm/softkey"
)

// sdkKeyPath is the ZATCA SDK's dummy key (TEST ONLY): bare base64 SEC1 DER.
const sdkKeyPath = "../../testdata/zatca/Certificates/ec-secp256k1-priv-key.pem"

// sdkScalarHex is the private scalar inside the SDK's dummy key (public test data).
const sdkScalarHex = "bd78255fb99ebfec13c4a9a5a7f62324a8beb85506db7cfb2cfe8383512b2cfc"

func sdkKey(t *testing.T) *softkey.Key {
	t.Helper()
	data, err := os.ReadFile(sdkKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	k, err := softkey.ParseKey(data)
	if err != nil {
		t.Fatalf("ParseKey(SDK key): %v", err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

func TestSignVerifiesWithDecred(t *testing.T) {
	k := sdkKey(t)
	if !k.Locked() {
		t.Fatal("a parsed key should live in locked memory")
	}
	digest := sha256.Sum256([]byte("invoice hash"))
	der, err := k.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := secpecdsa.ParseDERSignature(der)
	if err != nil {
		t.Fatalf("signature is not strict DER: %v", err)
	}
	if !sig.Verify(digest[:], k.PublicKey()) {
		t.Fatal("signature does not verify")
	}
	// RFC 6979: same key and digest give the same bytes; low-S always.
	der2, _ := k.Sign(nil, digest[:], crypto.SHA256)
	if !bytes.Equal(der, der2) {
		t.Fatal("signature is not deterministic")
	}
	s := sig.S()
	if s.IsOverHalfOrder() {
		t.Fatal("S is not low")
	}
	// The parsed key is the SDK key.
	ref := secp256k1.PrivKeyFromBytes(mustHex(t, sdkScalarHex))
	if !ref.PubKey().IsEqual(k.PublicKey()) {
		t.Fatal("ParseKey returned a different key than the SDK file holds")
	}
	// A different digest does not verify.
	other := sha256.Sum256([]byte("other"))
	if sig.Verify(other[:], k.PublicKey()) {
		t.Fatal("signature verifies for another digest")
	}
}

// TestSignVerifiesWithOpenSSL cross-checks the DER signature with an independent
// implementation: openssl pkeyutl over the raw digest.
func TestSignVerifiesWithOpenSSL(t *testing.T) {
	k := sdkKey(t)
	digest := sha256.Sum256([]byte("cross-check"))
	der, err := k.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	spki := secp256k1SPKI(t, k.PublicKey())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub, dig, sig := write("pub.pem", pubPEM), write("digest.bin", digest[:]), write("sig.der", der)
	out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-in", dig, "-sigfile", sig).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verified Successfully") {
		t.Fatalf("openssl rejects the signature: %v\n%s", err, out)
	}
	bad := digest
	bad[0] ^= 1
	dig2 := write("digest2.bin", bad[:])
	if out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-in", dig2, "-sigfile", sig).CombinedOutput(); err == nil {
		t.Fatalf("openssl accepted the signature for another digest:\n%s", out)
	}
}

func secp256k1SPKI(t *testing.T, pub *secp256k1.PublicKey) []byte {
	t.Helper()
	type algo struct {
		Algorithm asn1.ObjectIdentifier
		Curve     asn1.ObjectIdentifier
	}
	b, err := asn1.Marshal(struct {
		Algo algo
		Key  asn1.BitString
	}{
		Algo: algo{asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}, asn1.ObjectIdentifier{1, 3, 132, 0, 10}},
		Key:  asn1.BitString{Bytes: pub.SerializeUncompressed(), BitLength: 65 * 8},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignRejectsBadInput(t *testing.T) {
	gen, err := softkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	defer gen.Close()
	wrapped := softkey.New(secp256k1.PrivKeyFromBytes(mustHex(t, sdkScalarHex)))
	defer wrapped.Close()
	d32 := make([]byte, 32)
	d48 := make([]byte, 48)
	for _, s := range []hsm.Signer{gen, wrapped} {
		for _, tc := range []struct {
			name   string
			digest []byte
			opts   crypto.SignerOpts
			want   error
		}{
			{"sha384", d48, crypto.SHA384, hsm.ErrUnsupported},
			{"sha1", make([]byte, 20), crypto.SHA1, hsm.ErrUnsupported},
			{"no hash (pre-hashed message)", d32, crypto.Hash(0), hsm.ErrUnsupported},
			{"nil opts", d32, nil, hsm.ErrUnsupported},
			{"short digest", d32[:31], crypto.SHA256, hsm.ErrBadDigest},
			{"long digest", d48, crypto.SHA256, hsm.ErrBadDigest},
			{"empty digest", nil, crypto.SHA256, hsm.ErrBadDigest},
		} {
			sig, err := s.Sign(nil, tc.digest, tc.opts)
			if !errors.Is(err, tc.want) || sig != nil {
				t.Errorf("%T %s: Sign = %x, %v; want %v", s, tc.name, sig, err, tc.want)
			}
		}
	}
}

func TestCloseDestroysKey(t *testing.T) {
	k, err := softkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	pub := k.PublicKey()
	d := sha256.Sum256(nil)
	if _, err := k.Sign(nil, d[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := k.Sign(nil, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrKeyDestroyed) {
		t.Fatalf("Sign after Close: %v, want ErrKeyDestroyed", err)
	}
	if k.Locked() {
		t.Fatal("closed key still reports locked memory")
	}
	if !k.PublicKey().IsEqual(pub) {
		t.Fatal("public key changed on Close")
	}

	priv := secp256k1.PrivKeyFromBytes(mustHex(t, sdkScalarHex))
	w := softkey.New(priv)
	_ = w.Close()
	if !priv.Key.IsZero() {
		t.Fatal("New-wrapped key was not zeroed by Close")
	}
	if _, err := softkey.New(nil).Sign(nil, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrKeyDestroyed) {
		t.Fatalf("New(nil).Sign: %v", err)
	}
}

func TestConcurrentSignAndClose(t *testing.T) {
	k, err := softkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				der, err := k.Sign(nil, d[:], crypto.SHA256)
				if errors.Is(err, hsm.ErrKeyDestroyed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				if sig, err := secpecdsa.ParseDERSignature(der); err != nil || !sig.Verify(d[:], k.PublicKey()) {
					t.Error("bad signature while closing")
					return
				}
			}
		}()
	}
	_ = k.Close()
	wg.Wait()
}

func TestKeyNeverPrintsOrSerializesScalar(t *testing.T) {
	k := sdkKey(t)
	scalar := strings.ToLower(sdkScalarHex)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		out := fmt.Sprintf(verb, k)
		if strings.Contains(strings.ToLower(out), scalar) || strings.Contains(out, "bd78") {
			t.Errorf("%s prints the scalar: %s", verb, out)
		}
		if !strings.Contains(out, "secp256k1") {
			t.Errorf("%s: %q does not name the key", verb, out)
		}
	}
	if b, err := json.Marshal(k); err == nil || b != nil {
		t.Fatalf("json.Marshal(key) = %s, %v; want an error", b, err)
	}
	if b, err := json.Marshal(struct{ K hsm.Signer }{k}); err == nil {
		t.Fatalf("json.Marshal(struct with key) = %s; want an error", b)
	}
	if _, err := k.MarshalText(); !errors.Is(err, softkey.ErrNotSerializable) {
		t.Fatalf("MarshalText: %v", err)
	}
}

func TestParseKeyForms(t *testing.T) {
	raw, err := os.ReadFile(sdkKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	der := mustB64(t, string(raw))
	armoured := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	wrapped := []byte(strings.Join(chunk(string(raw), 64), "\n") + "\n")
	p8 := pkcs8(t, der)
	p8PEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	ref := secp256k1.PrivKeyFromBytes(mustHex(t, sdkScalarHex)).PubKey()
	for name, in := range map[string][]byte{"bare base64": raw, "wrapped base64": wrapped, "SEC1 PEM": armoured, "SEC1 DER": der, "PKCS#8 DER": p8, "PKCS#8 PEM": p8PEM} {
		k, err := softkey.ParseKey(in)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !k.PublicKey().IsEqual(ref) {
			t.Errorf("%s: wrong key", name)
		}
		_ = k.Close()
	}
}

func TestParseKeyRejects(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256SEC1, _ := x509.MarshalECPrivateKey(p256)
	p256P8, _ := x509.MarshalPKCS8PrivateKey(p256)
	raw, _ := os.ReadFile(sdkKeyPath)
	der := mustB64(t, string(raw))
	// Same structure, public key of another secp256k1 key.
	var sk struct {
		Version    int
		PrivateKey []byte
		Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
		PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
	}
	if _, err := asn1.Unmarshal(der, &sk); err != nil {
		t.Fatal(err)
	}
	other, _ := secp256k1.GeneratePrivateKey()
	sk.PublicKey = asn1.BitString{Bytes: other.PubKey().SerializeUncompressed(), BitLength: 520}
	mismatch, _ := asn1.Marshal(sk)
	sk.PrivateKey = make([]byte, 32) // zero scalar
	sk.PublicKey = asn1.BitString{}
	zero, _ := asn1.Marshal(sk)

	for name, in := range map[string][]byte{
		"empty":             nil,
		"P-256 SEC1":        p256SEC1,
		"P-256 PKCS#8":      p256P8,
		"public key PEM":    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{0x30, 0}}),
		"garbage":           []byte("not a key at all!"),
		"truncated DER":     der[:len(der)-10],
		"trailing bytes":    append(append([]byte{}, der...), 0, 0),
		"mismatched public": mismatch,
		"zero scalar":       zero,
	} {
		k, err := softkey.ParseKey(in)
		if !errors.Is(err, softkey.ErrBadKeyFile) {
			t.Errorf("%s: ParseKey = %v, %v; want ErrBadKeyFile", name, k, err)
		}
	}
}

func TestFromBytesRange(t *testing.T) {
	n := mustHex(t, "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	for name, b := range map[string][]byte{"zero": make([]byte, 32), "n": n, "short": make([]byte, 31), "long": make([]byte, 33)} {
		if k, err := softkey.FromBytes(b); err == nil {
			_ = k.Close()
			t.Errorf("FromBytes(%s) accepted", name)
		}
	}
	nMinus1 := bytes.Clone(n)
	nMinus1[31]--
	k, err := softkey.FromBytes(nMinus1)
	if err != nil {
		t.Fatalf("FromBytes(n-1): %v", err)
	}
	_ = k.Close()
}

func pkcs8(t *testing.T, sec1 []byte) []byte {
	t.Helper()
	b, err := asn1.Marshal(struct {
		Version int
		Algo    struct{ A, C asn1.ObjectIdentifier }
		Key     []byte
	}{0, struct{ A, C asn1.ObjectIdentifier }{asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}, asn1.ObjectIdentifier{1, 3, 132, 0, 10}}, sec1})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func chunk(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func BenchmarkSign(b *testing.B) {
	k, err := softkey.Generate()
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	d := sha256.Sum256([]byte("bench"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Sign(nil, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	raw, err := os.ReadFile(sdkKeyPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(mustB64(f, string(raw)))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nMHQCAQEE\n-----END EC PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := softkey.ParseKey(data)
		if err != nil {
			if !errors.Is(err, softkey.ErrBadKeyFile) {
				t.Fatalf("error not classified: %v", err)
			}
			return
		}
		d := sha256.Sum256(data)
		der, err := k.Sign(nil, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if sig, err := secpecdsa.ParseDERSignature(der); err != nil || !sig.Verify(d[:], k.PublicKey()) {
			t.Fatal("parsed key signs badly")
		}
		_ = k.Close()
	})
}
