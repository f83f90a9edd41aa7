package tpm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/posagent/posagent/hsm"
	"github.com/posagent/posagent/hsm/hsmtest"
)

var ctx = context.Background()

// Must show 1: generate → seal → restart swtpm on the same state → unseal → same
// public key; signatures verify with decred secp256k1. Over TCP and a unix socket.
func TestSealedKeySurvivesTPMRestart(t *testing.T) {
	for name, start := range map[string]func(testing.TB, string) *hsmtest.SWTPM{
		"tcp": hsmtest.StartSWTPM, "unix": hsmtest.StartSWTPMUnix,
	} {
		t.Run(name, func(t *testing.T) {
			sw := start(t, filepath.Join(t.TempDir(), "swtpm"))
			dir := filepath.Join(t.TempDir(), "state")
			cfg := testConfig(t, sw.Spec(), dir)

			ks := openStore(t, cfg)
			if _, err := ks.Current(); !errors.Is(err, hsm.ErrNoKey) {
				t.Fatalf("Current on an empty store: %v, want ErrNoKey", err)
			}
			next, err := ks.GenerateNext(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := next.Public().(*secp256k1.PublicKey); !ok {
				t.Fatalf("Public() is %T, want *secp256k1.PublicKey", next.Public())
			}
			mustSign(t, next, "CSR")
			if err := ks.Activate(ctx); err != nil {
				t.Fatal(err)
			}
			cur, err := ks.Current()
			if err != nil {
				t.Fatal(err)
			}
			if !samePublic(cur.Public(), next.Public()) {
				t.Fatal("activated key differs from the pending key")
			}
			before := cur.Public()
			sig1 := mustSign(t, cur, "invoice 1")
			if err := ks.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := cur.Sign(nil, make([]byte, 32), crypto.SHA256); !errors.Is(err, hsm.ErrKeyDestroyed) {
				t.Fatalf("Sign after Close: %v, want ErrKeyDestroyed", err)
			}

			sw.Restart()
			ks2 := openStore(t, cfg)
			cur2, err := ks2.Current()
			if err != nil {
				t.Fatal(err)
			}
			if !samePublic(before, cur2.Public()) {
				t.Fatal("public key changed across a TPM restart")
			}
			// RFC 6979: the same digest gives the same signature with the same key.
			if sig2 := mustSign(t, cur2, "invoice 1"); !bytes.Equal(sig1, sig2) {
				t.Fatal("the unsealed key is not the sealed key")
			}
		})
	}
}

// Must show 2: a blob copied to a second swtpm (another TPM) fails with ErrWrongTPM.
func TestBlobFromAnotherTPM(t *testing.T) {
	sw1, sw2 := newTPM(t), newTPM(t)
	dir1 := filepath.Join(t.TempDir(), "state1")
	for _, kt := range []KeyType{KeySealedSecp256k1, KeyNativeP256} {
		t.Run(string(kt), func(t *testing.T) {
			dir1 := filepath.Join(dir1, string(kt))
			cfg1 := testConfig(t, sw1.Spec(), dir1)
			cfg1.KeyType = kt
			ks1 := openStore(t, cfg1)
			if _, err := ks1.GenerateNext(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ks1.Activate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ks1.Seal(ctx, "csid-secret", []byte("s3cr3t")); err != nil {
				t.Fatal(err)
			}
			if err := ks1.Close(); err != nil {
				t.Fatal(err)
			}

			// The whole state directory, moved to another terminal.
			dir2 := filepath.Join(t.TempDir(), "state2")
			copyFile(t, filepath.Join(dir1, currentFile), filepath.Join(dir2, currentFile))
			_, err := Open(ctx, testConfig(t, sw2.Spec(), dir2))
			if !errors.Is(err, hsm.ErrWrongTPM) {
				t.Fatalf("Open with a foreign key blob: %v, want ErrWrongTPM", err)
			}
			if !errors.Is(err, tpm2.TPMRCIntegrity) {
				t.Errorf("the TPM response code is not reachable: %v", err)
			}

			// A foreign sealed secret.
			dir3 := filepath.Join(t.TempDir(), "state3")
			copyFile(t, filepath.Join(dir1, secretFile("csid-secret")), filepath.Join(dir3, secretFile("csid-secret")))
			ks3 := openStore(t, testConfig(t, sw2.Spec(), dir3))
			if got, err := ks3.Unseal(ctx, "csid-secret"); !errors.Is(err, hsm.ErrWrongTPM) || got != nil {
				t.Fatalf("Unseal of a foreign secret: %q, %v; want ErrWrongTPM", got, err)
			}
			// Still fine on the TPM that made it.
			ks1b := openStore(t, cfg1)
			if got, err := ks1b.Unseal(ctx, "csid-secret"); err != nil || string(got) != "s3cr3t" {
				t.Fatalf("Unseal on the right TPM: %q, %v", got, err)
			}
		})
	}
}

// Must show 3: after a full lifecycle the clear private keys and the clear secrets are in
// no file under the state directory (nor in swtpm's own state).
func TestNoClearKeyMaterialOnDisk(t *testing.T) {
	swState := filepath.Join(t.TempDir(), "swtpm")
	sw := hsmtest.StartSWTPM(t, swState)
	dir := filepath.Join(t.TempDir(), "state")
	ks := openStore(t, testConfig(t, sw.Spec(), dir))

	var scalars [][]byte
	capture := func(s hsm.Signer) {
		t.Helper()
		scalar := unsealFile(t, ks, filepath.Join(dir, pendingFile))
		// The captured scalar is the signer's key.
		if !secp256k1.PrivKeyFromBytes(scalar).PubKey().IsEqual(s.Public().(*secp256k1.PublicKey)) {
			t.Fatal("captured scalar does not belong to the pending key")
		}
		scalars = append(scalars, scalar)
	}

	k1, err := ks.GenerateNext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	capture(k1)
	mustSign(t, k1, "CSR 1")
	if err := ks.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	// Renewal: a pending key next to the current one, both usable.
	k2, err := ks.GenerateNext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	capture(k2)
	cur, _ := ks.Current()
	mustSign(t, cur, "invoice with the old key")
	mustSign(t, k2, "CSR 2")
	if err := ks.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	if _, err := cur.Sign(nil, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrKeyDestroyed) {
		t.Fatalf("old key after Activate: %v, want ErrKeyDestroyed", err)
	}
	mustSign(t, k2, "invoice with the new key")

	token := []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("TUlJQ0RUQ0NBYk9nQXdJQkFnSUdBWWpNYm5RS01Bb0dDQ3FHU000OUJBTUNNQlV4RXpBUkJnTlZCQU1NQ21WSmJuWnZhV05wYm1jPQ=="), 12)))
	secret := []byte("Xlj15LyMCgSC66ObnEO/qVPfhSbs3kDTjWnGheYhfSs=")
	if err := ks.Seal(ctx, "csid-token", token); err != nil {
		t.Fatal(err)
	}
	if err := ks.Seal(ctx, "csid-secret", secret); err != nil {
		t.Fatal(err)
	}
	if got, err := ks.Unseal(ctx, "csid-token"); err != nil || !bytes.Equal(got, token) {
		t.Fatalf("Unseal token: %v", err)
	}
	assertNoTransientHandles(t, ks)
	if err := ks.Close(); err != nil {
		t.Fatal(err)
	}

	// Only the expected files remain: the current key and the two secrets.
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{secretFile("csid-secret"), secretFile("csid-token"), currentFile}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("state dir holds %v, want %v", names, want)
	}

	needles := map[string][]byte{"csid secret": secret, "csid token": token}
	for i, s := range scalars {
		needles[fmt.Sprintf("key %d raw", i)] = s
		needles[fmt.Sprintf("key %d hex", i)] = []byte(hex.EncodeToString(s))
		needles[fmt.Sprintf("key %d HEX", i)] = []byte(strings.ToUpper(hex.EncodeToString(s)))
		needles[fmt.Sprintf("key %d base64", i)] = []byte(base64.StdEncoding.EncodeToString(s))
		needles[fmt.Sprintf("key %d reversed", i)] = reversed(s)
	}
	needles["token prefix"] = token[:24]
	scanned := 0
	for _, root := range []string{dir, swState} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			scanned++
			for what, needle := range needles {
				if bytes.Contains(data, needle) {
					t.Errorf("%s found in %s", what, path)
				}
			}
			// Also no 16-byte window of any key (catches partial copies).
			for _, s := range scalars {
				for off := 0; off+16 <= len(s); off++ {
					if bytes.Contains(data, s[off:off+16]) {
						t.Errorf("16 bytes of a private key at offset %d found in %s", off, path)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if scanned < 4 {
		t.Fatalf("scanned only %d files", scanned)
	}
}

func reversed(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

// Must show 4: the native P-256 key is created, persisted, signs, and verifies with
// crypto/ecdsa after a TPM restart; a restart while the store is open is survived too.
func TestNativeP256(t *testing.T) {
	sw := newTPM(t)
	cfg := testConfig(t, sw.Spec(), filepath.Join(t.TempDir(), "state"))
	cfg.KeyType = KeyNativeP256
	ks := openStore(t, cfg)
	next, err := ks.GenerateNext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := next.Public().(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("Public() is %T, want *ecdsa.PublicKey", next.Public())
	}
	if next.(*Signer).KeyType() != KeyNativeP256 {
		t.Fatal("wrong key type")
	}
	mustSign(t, next, "CSR")
	if err := ks.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	cur, _ := ks.Current()
	for i := 0; i < 5; i++ { // more signatures than the TPM has object slots: nothing leaks
		mustSign(t, cur, fmt.Sprint("invoice ", i))
	}

	// swtpm dies and comes back while the store is open: the saved context is gone,
	// the key is reloaded from its blob.
	sw.Restart()
	mustSign(t, cur, "after restart, same store")

	if err := ks.Close(); err != nil {
		t.Fatal(err)
	}
	sw.Restart()
	ks2 := openStore(t, cfg)
	cur2, err := ks2.Current()
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(cur2.Public()) {
		t.Fatal("native key changed across a TPM restart")
	}
	mustSign(t, cur2, "after restart, reopened")
	assertNoTransientHandles(t, ks2)
}

// assertNoTransientHandles checks that the TPM holds no loaded objects or sessions.
func assertNoTransientHandles(t *testing.T, ks *KeyStore) {
	t.Helper()
	for _, first := range []tpm2.TPMHandle{0x80000000, 0x02000000, 0x03000000} {
		err := ks.dev.do(func(tp transport.TPM) error {
			rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(first), PropertyCount: 64}.Execute(tp)
			if err != nil {
				return err
			}
			h, err := rsp.CapabilityData.Data.Handles()
			if err != nil {
				return err
			}
			if len(h.Handle) != 0 {
				t.Errorf("handles left in the TPM from %#x: %v", uint32(first), h.Handle)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestSignRejectsBadInput(t *testing.T) {
	sw := newTPM(t)
	for _, kt := range []KeyType{KeySealedSecp256k1, KeyNativeP256} {
		cfg := testConfig(t, sw.Spec(), filepath.Join(t.TempDir(), string(kt)))
		cfg.KeyType = kt
		ks := openStore(t, cfg)
		s, err := ks.GenerateNext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d32, d48 := make([]byte, 32), make([]byte, 48)
		for _, tc := range []struct {
			name   string
			digest []byte
			opts   crypto.SignerOpts
			want   error
		}{
			{"sha384", d48, crypto.SHA384, hsm.ErrUnsupported},
			{"sha512 with 32 bytes", d32, crypto.SHA512, hsm.ErrUnsupported},
			{"unhashed", d32, crypto.Hash(0), hsm.ErrUnsupported},
			{"nil opts", d32, nil, hsm.ErrUnsupported},
			{"31 bytes", d32[:31], crypto.SHA256, hsm.ErrBadDigest},
			{"48 bytes", d48, crypto.SHA256, hsm.ErrBadDigest},
			{"empty", nil, crypto.SHA256, hsm.ErrBadDigest},
		} {
			if sig, err := s.Sign(nil, tc.digest, tc.opts); !errors.Is(err, tc.want) || sig != nil {
				t.Errorf("%s %s: %x, %v; want %v", kt, tc.name, sig, err, tc.want)
			}
		}
		// A closed handle refuses; the key stays usable through a fresh handle.
		_ = s.Close()
		if _, err := s.Sign(nil, d32, crypto.SHA256); !errors.Is(err, hsm.ErrKeyDestroyed) {
			t.Errorf("%s: closed handle: %v", kt, err)
		}
		p, err := ks.Pending()
		if err != nil {
			t.Fatal(err)
		}
		mustSign(t, p, "still usable")
		// Handles never print or serialise anything secret.
		if out := fmt.Sprintf("%v %+v %#v %s %x", p, p, p, p, p); !strings.Contains(out, string(kt)) {
			t.Errorf("handle prints %q", out)
		}
		if _, err := json.Marshal(p); err == nil {
			t.Error("json.Marshal of a key handle succeeded")
		}
	}
}

func TestWrongActivationSecret(t *testing.T) {
	sw := newTPM(t)
	for _, kt := range []KeyType{KeySealedSecp256k1, KeyNativeP256} {
		cfg := testConfig(t, sw.Spec(), filepath.Join(t.TempDir(), string(kt)))
		cfg.KeyType = kt
		ks := openStore(t, cfg)
		if _, err := ks.GenerateNext(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ks.Seal(ctx, "csid-secret", []byte("x")); err != nil {
			t.Fatal(err)
		}
		_ = ks.Close()
		cfg.ActivationSecret = []byte("another board's secret, 32 bytes")
		if _, err := Open(ctx, cfg); !errors.Is(err, hsm.ErrAuth) {
			t.Fatalf("%s: Open with the wrong activation secret: %v, want ErrAuth", kt, err)
		}
	}
	// The same for a secret, through a store that has no keys.
	cfg := testConfig(t, sw.Spec(), filepath.Join(t.TempDir(), "s"))
	ks := openStore(t, cfg)
	if err := ks.Seal(ctx, "csid-secret", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = ks.Close()
	cfg.ActivationSecret = []byte("another board's secret, 32 bytes")
	ks = openStore(t, cfg)
	if _, err := ks.Unseal(ctx, "csid-secret"); !errors.Is(err, hsm.ErrAuth) {
		t.Fatalf("Unseal with the wrong activation secret: %v, want ErrAuth", err)
	}
	assertNoTransientHandles(t, ks) // failed authorizations leak no session or object
}

func TestPCRPolicy(t *testing.T) {
	sw := newTPM(t)
	cfg := testConfig(t, sw.Spec(), filepath.Join(t.TempDir(), "state"))
	cfg.PCRs = []int{16, 23}
	ks := openStore(t, cfg)
	if _, err := ks.GenerateNext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ks.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ks.Seal(ctx, "csid-secret", []byte("pcr-bound")); err != nil {
		t.Fatal(err)
	}
	if got, err := ks.Unseal(ctx, "csid-secret"); err != nil || string(got) != "pcr-bound" {
		t.Fatalf("Unseal with unchanged PCRs: %q, %v", got, err)
	}
	_ = ks.Close()
	ks = openStore(t, cfg) // unchanged PCRs: opens
	_ = ks.Close()

	// Measure something new into PCR 23: the policy no longer holds.
	conn := &streamTPM{network: "tcp", addr: strings.TrimPrefix(sw.Spec(), "tcp:")}
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: 23, Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: bytes.Repeat([]byte{1}, 32)}}},
	}.Execute(conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, cfg); !errors.Is(err, hsm.ErrAuth) {
		t.Fatalf("Open after a PCR change: %v, want ErrAuth", err)
	}
	cfg.PCRs = nil
	cfg.StateDir = filepath.Join(t.TempDir(), "secrets-only")
	copyFile(t, filepath.Join(ks.cfg.StateDir, secretFile("csid-secret")), filepath.Join(cfg.StateDir, secretFile("csid-secret")))
	ks = openStore(t, cfg)
	if _, err := ks.Unseal(ctx, "csid-secret"); !errors.Is(err, hsm.ErrAuth) {
		t.Fatalf("Unseal after a PCR change: %v, want ErrAuth", err)
	}
	assertNoTransientHandles(t, ks)
}

// An Activate interrupted between its two renames is finished by the next Open; the
// retired blob is destroyed.
func TestInterruptedActivation(t *testing.T) {
	sw := newTPM(t)
	dir := filepath.Join(t.TempDir(), "state")
	cfg := testConfig(t, sw.Spec(), dir)
	ks := openStore(t, cfg)
	if _, err := ks.GenerateNext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ks.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	next, err := ks.GenerateNext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newPub := next.Public()
	_ = ks.Close()
	// The crash: current renamed to retired, pending not yet renamed.
	if err := os.Rename(filepath.Join(dir, currentFile), filepath.Join(dir, retiredFile)); err != nil {
		t.Fatal(err)
	}
	ks = openStore(t, cfg)
	cur, err := ks.Current()
	if err != nil {
		t.Fatal(err)
	}
	if !samePublic(cur.Public(), newPub) {
		t.Fatal("the new key is not current after recovery")
	}
	if _, err := ks.Pending(); !errors.Is(err, hsm.ErrNoKey) {
		t.Fatalf("Pending after recovery: %v", err)
	}
	for _, f := range []string{retiredFile, pendingFile} {
		if ok, _ := exists(dir, f); ok {
			t.Errorf("%s left behind", f)
		}
	}
	// A leftover temp file from a crash inside an atomic write is removed too.
	if err := os.WriteFile(filepath.Join(dir, "."+pendingFile+tmpMarker+"123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = ks.Close()
	ks = openStore(t, cfg)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != currentFile {
		t.Errorf("state dir after recovery: %v", entries)
	}
}

func TestGenerateNextReplacesPending(t *testing.T) {
	sw := newTPM(t)
	ks := openStore(t, testConfig(t, sw.Spec(), filepath.Join(t.TempDir(), "state")))
	a, err := ks.GenerateNext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ks.GenerateNext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if samePublic(a.Public(), b.Public()) {
		t.Fatal("two generations gave the same key")
	}
	d := sha256.Sum256(nil)
	if _, err := a.Sign(nil, d[:], crypto.SHA256); !errors.Is(err, hsm.ErrKeyDestroyed) {
		t.Fatalf("replaced pending key: %v, want ErrKeyDestroyed", err)
	}
	if err := ks.Activate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ks.Activate(ctx); !errors.Is(err, hsm.ErrNoKey) {
		t.Fatalf("Activate without a pending key: %v, want ErrNoKey", err)
	}
}

func TestSealerErrors(t *testing.T) {
	sw := newTPM(t)
	dir := filepath.Join(t.TempDir(), "state")
	ks := openStore(t, testConfig(t, sw.Spec(), dir))
	if _, err := ks.Unseal(ctx, "missing"); !errors.Is(err, hsm.ErrNoKey) {
		t.Fatalf("Unseal of nothing: %v", err)
	}
	for _, name := range []string{"", "../x", "A", ".hidden", "a/b", strings.Repeat("a", 65)} {
		if err := ks.Seal(ctx, name, []byte("x")); !errors.Is(err, hsm.ErrBadName) {
			t.Errorf("Seal(%q): %v, want ErrBadName", name, err)
		}
	}
	if err := ks.Seal(ctx, "big", make([]byte, maxSecret+1)); err == nil {
		t.Error("Seal accepted an oversized secret")
	}
	// Replace, then a blob renamed to another name does not authenticate.
	if err := ks.Seal(ctx, "a", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := ks.Seal(ctx, "a", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got, err := ks.Unseal(ctx, "a"); string(got) != "two" {
		t.Fatalf("Unseal after replace: %q, %v", got, err)
	}
	copyFile(t, filepath.Join(dir, secretFile("a")), filepath.Join(dir, secretFile("b")))
	if _, err := ks.Unseal(ctx, "b"); !errors.Is(err, hsm.ErrCorrupt) {
		t.Fatalf("Unseal of a renamed blob: %v, want ErrCorrupt", err)
	}
	// A corrupted blob changes nothing and says so.
	path := filepath.Join(dir, secretFile("a"))
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Unseal(ctx, "a"); !errors.Is(err, hsm.ErrCorrupt) {
		t.Fatalf("Unseal of a corrupted blob: %v, want ErrCorrupt", err)
	}
	if err := ks.DestroySecret(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Unseal(ctx, "a"); !errors.Is(err, hsm.ErrNoKey) {
		t.Fatalf("Unseal after DestroySecret: %v", err)
	}
	_ = ks.Close()
	if err := ks.Seal(ctx, "a", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Seal after Close: %v", err)
	}
	if _, err := ks.Current(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Current after Close: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	// Nothing listens: a clear error at Open, not later.
	cfg := testConfig(t, "tcp:127.0.0.1:1", t.TempDir())
	if _, err := Open(ctx, cfg); err == nil {
		t.Fatal("Open with no TPM succeeded")
	}
	// A character device that is not a TPM.
	cfg.Transport = "dev:/dev/null"
	if _, err := Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "does not answer as a TPM 2.0") {
		t.Fatalf("Open on /dev/null: %v", err)
	}
	// Not a device at all.
	cfg.Transport = "dev:" + filepath.Join(t.TempDir())
	if _, err := Open(ctx, cfg); err == nil {
		t.Fatal("Open on a directory succeeded")
	}
	sw := newTPM(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, currentFile), []byte("PAHSMB garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, testConfig(t, sw.Spec(), dir)); !errors.Is(err, hsm.ErrCorrupt) {
		t.Fatalf("Open with a garbage key blob: %v, want ErrCorrupt", err)
	}
	// A secret blob in the key slot is refused.
	dir2 := t.TempDir()
	ks := openStore(t, testConfig(t, sw.Spec(), dir2))
	if err := ks.Seal(ctx, "s", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = ks.Close()
	copyFile(t, filepath.Join(dir2, secretFile("s")), filepath.Join(dir2, currentFile))
	if _, err := Open(ctx, testConfig(t, sw.Spec(), dir2)); !errors.Is(err, hsm.ErrCorrupt) {
		t.Fatalf("Open with a secret in the key slot: %v, want ErrCorrupt", err)
	}
}

// Signing continues on other goroutines while keys rotate: every signature either
// verifies with the key it came from or fails with ErrKeyDestroyed.
func TestConcurrentSignAndRotate(t *testing.T) {
	sw := newTPM(t)
	for _, kt := range []KeyType{KeySealedSecp256k1, KeyNativeP256} {
		cfg := testConfig(t, sw.Spec(), filepath.Join(t.TempDir(), string(kt)))
		cfg.KeyType = kt
		cfg.Logger = slog.New(slog.DiscardHandler)
		ks := openStore(t, cfg)
		if _, err := ks.GenerateNext(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ks.Activate(ctx); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		errs := make(chan error, 4)
		for g := 0; g < 4; g++ {
			go func() {
				for {
					select {
					case <-done:
						errs <- nil
						return
					default:
					}
					s, err := ks.Current()
					if err != nil {
						errs <- err
						return
					}
					d := sha256.Sum256([]byte("concurrent"))
					der, err := s.Sign(nil, d[:], crypto.SHA256)
					if errors.Is(err, hsm.ErrKeyDestroyed) {
						continue
					}
					if err != nil || !verify(s.Public(), d[:], der) {
						errs <- fmt.Errorf("sign during rotation: %v", err)
						return
					}
				}
			}()
		}
		for i := 0; i < 3; i++ {
			if _, err := ks.GenerateNext(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ks.Activate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		close(done)
		for g := 0; g < 4; g++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
}
