package tpm

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/posagent/posagent/hsm"
)

// authValue must never contain a zero byte (see its comment) and must depend on both
// the secret and the salt.
func TestAuthValue(t *testing.T) {
	var salt [16]byte
	seen := map[string]bool{}
	for i := 0; i < 20000; i++ {
		_, _ = rand.Read(salt[:])
		a := authValue(boardSecret, salt)
		if len(a) != 32 || bytes.IndexByte(a, 0) >= 0 {
			t.Fatalf("authValue %x: length %d or contains a zero byte", a, len(a))
		}
		seen[string(a)] = true
	}
	if len(seen) != 20000 {
		t.Fatal("authValue collisions")
	}
	salt = [16]byte{}
	if bytes.Equal(authValue([]byte("secret one, 16b+"), salt), authValue([]byte("secret two, 16b+"), salt)) {
		t.Fatal("authValue ignores the secret")
	}
}

// Many seal/unseal round trips with random salts (regression for authValues with zero
// bytes, which go-tpm truncates).
func TestSealUnsealRoundTrips(t *testing.T) {
	sw := newTPM(t)
	cfg := testConfig(t, sw.Spec(), filepath.Join(t.TempDir(), "state"))
	cfg.Logger = slog.New(slog.DiscardHandler)
	ks := openStore(t, cfg)
	for i := 0; i < 40; i++ {
		secret := make([]byte, i*50)
		_, _ = rand.Read(secret)
		name := fmt.Sprint("s", i)
		if err := ks.Seal(ctx, name, secret); err != nil {
			t.Fatal(err)
		}
		got, err := ks.Unseal(ctx, name)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("round trip %d: %v", i, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.StateDir = "/var/lib/posagent/hsm"
	good.ActivationSecret = boardSecret
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		field string
		mut   func(*Config)
	}{
		{"StateDir", func(c *Config) { c.StateDir = "" }},
		{"StateDir", func(c *Config) { c.StateDir = "relative/dir" }},
		{"KeyType", func(c *Config) { c.KeyType = "rsa" }},
		{"KeyType", func(c *Config) { c.KeyType = "" }},
		{"ActivationSecret", func(c *Config) { c.ActivationSecret = []byte("short") }},
		{"PCRs", func(c *Config) { c.PCRs = []int{24} }},
		{"PCRs", func(c *Config) { c.PCRs = []int{-1} }},
		{"PCRs", func(c *Config) { c.PCRs = []int{7, 7} }},
		{"Transport", func(c *Config) { c.Transport = "tcp:nohostport" }},
		{"Transport", func(c *Config) { c.Transport = "dev:relative" }},
		{"Transport", func(c *Config) { c.Transport = "serial:/dev/ttyS0" }},
		{"Transport", func(c *Config) { c.Transport = "/dev/tpmrm0" }},
	} {
		c := good
		tc.mut(&c)
		err := c.Validate()
		if !errors.Is(err, ErrConfig) || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("%s: Validate = %v", tc.field, err)
		}
		if _, err := Open(ctx, c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Open = %v, want ErrConfig", tc.field, err)
		}
	}
	for _, spec := range []string{"", "dev:/dev/tpmrm0", "tcp:127.0.0.1:2321", "tcp:[::1]:2321", "unix:/run/swtpm.sock"} {
		if _, _, err := parseSpec(spec); err != nil {
			t.Errorf("parseSpec(%q): %v", spec, err)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		rc   tpm2.TPMRC
		want error
	}{
		{tpm2.TPMRCIntegrity + 0x100 /* parameter 1 */, hsm.ErrWrongTPM},
		{tpm2.TPMRCAuthFail + 0x900 /* session 1 */, hsm.ErrAuth},
		{tpm2.TPMRCBadAuth + 0x900, hsm.ErrAuth},
		{tpm2.TPMRCPolicyFail + 0x900, hsm.ErrAuth},
		{tpm2.TPMRCLockout, hsm.ErrAuth},
	} {
		err := classify("op", tc.rc)
		if !errors.Is(err, tc.want) || !errors.Is(err, tc.rc) || !strings.HasPrefix(err.Error(), "op: ") {
			t.Errorf("classify(%v) = %v, want %v", tc.rc, err, tc.want)
		}
	}
	if err := classify("op", tpm2.TPMRCHandle); errors.Is(err, hsm.ErrAuth) || errors.Is(err, hsm.ErrWrongTPM) {
		t.Errorf("TPM_RC_HANDLE classified as %v", err)
	}
}

// scriptedTPM answers with the given response codes in turn, then success.
type scriptedTPM struct {
	codes []tpm2.TPMRC
	sent  int
}

func (s *scriptedTPM) Send(cmd []byte) ([]byte, error) {
	s.sent++
	rc := tpm2.TPMRCSuccess
	if len(s.codes) > 0 {
		rc, s.codes = s.codes[0], s.codes[1:]
	}
	return []byte{0x80, 0x01, 0, 0, 0, 10, byte(rc >> 24), byte(rc >> 16), byte(rc >> 8), byte(rc)}, nil
}

func (s *scriptedTPM) Close() error { return nil }

var _ transport.TPMCloser = (*scriptedTPM)(nil)

func TestRetryWrapper(t *testing.T) {
	var slept []time.Duration
	sleep := func(d time.Duration) { slept = append(slept, d) }
	policy := retryPolicy{first: time.Millisecond, max: 4 * time.Millisecond, total: 20 * time.Millisecond}

	s := &scriptedTPM{codes: []tpm2.TPMRC{tpm2.TPMRCRetry, tpm2.TPMRCYielded, tpm2.TPMRCTesting, tpm2.TPMRCRetry}}
	rsp, err := (&retryTPM{t: s, policy: policy, sleep: sleep}).Send([]byte{1})
	if err != nil || s.sent != 5 || rsp[9] != 0 {
		t.Fatalf("sent %d times, rsp %x, err %v", s.sent, rsp, err)
	}
	if fmt.Sprint(slept) != "[1ms 2ms 4ms 4ms]" {
		t.Fatalf("backoff %v", slept)
	}
	// Other errors are returned at once; a TPM that keeps asking gives up after total.
	s = &scriptedTPM{codes: []tpm2.TPMRC{tpm2.TPMRCHandle}}
	if rsp, _ := (&retryTPM{t: s, policy: policy, sleep: sleep}).Send(nil); s.sent != 1 || rsp[9] == 0 {
		t.Fatalf("non-retryable code resent %d times", s.sent)
	}
	slept = nil
	s = &scriptedTPM{codes: slices.Repeat([]tpm2.TPMRC{tpm2.TPMRCRetry}, 100)}
	_, _ = (&retryTPM{t: s, policy: policy, sleep: sleep}).Send(nil)
	var total time.Duration
	for _, d := range slept {
		total += d
	}
	if total < policy.total || total > policy.total+policy.max {
		t.Fatalf("gave up after %v of sleep, policy %v", total, policy.total)
	}
}

// Neither the store nor its config prints or serialises the activation secret.
func TestNoSecretLeaksThroughProcessOrPrinting(t *testing.T) {
	sw := newTPM(t)
	cfg := testConfig(t, sw.Spec(), filepath.Join(t.TempDir(), "state"))
	ks := openStore(t, cfg)
	if _, err := ks.GenerateNext(ctx); err != nil {
		t.Fatal(err)
	}
	secret := string(boardSecret)
	for _, v := range []any{ks, cfg, &cfg, cfg.ActivationSecret} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", boardSecret)) || strings.Contains(out, "116 101 115 116") {
				t.Errorf("%s of %T prints the activation secret: %s", verb, v, out)
			}
		}
	}
	if b, err := json.Marshal(cfg); err == nil {
		t.Errorf("json.Marshal(config) = %s", b)
	}
	if b, err := json.Marshal(ks); err == nil {
		t.Errorf("json.Marshal(key store) = %s", b)
	}
}
