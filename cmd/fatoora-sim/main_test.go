package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/csr"
	"github.com/posagent/posagent/hsm/softkey"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/zatca"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs "fatoora-sim serve" in process on 127.0.0.1:0 and returns its URL.
func startServe(t *testing.T, state string, extra ...string) (url string, stop func()) {
	t.Helper()
	os.Remove(filepath.Join(state, URLFile))
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	args := append([]string{"serve", "-addr", "127.0.0.1:0", "-state", state, "-log-level", "warn"}, extra...)
	go func() { done <- run(ctx, args, &out, &errOut) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(state, URLFile))
		if err == nil {
			url = strings.TrimSpace(string(b))
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v\n%s", err, errOut.String())
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	}
	t.Cleanup(stop)
	if !strings.Contains(out.String(), "listening: api "+url) {
		t.Errorf("startup line = %q", out.String())
	}
	return url, stop
}

func cli(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("fatoora-sim %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

func TestServeAndPortalCommands(t *testing.T) {
	state := t.TempDir()
	url, stop := startServe(t, state, "-tls", "-sandbox-otps")
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("url = %q", url)
	}
	srv := []string{"-server", url, "-state", state}

	// OTPs from the portal.
	var otps []fatoorasim.OTP
	if err := json.Unmarshal([]byte(cli(t, append([]string{"otp", "-vat", "399999999900003", "-n", "2", "-json"}, srv...)...)), &otps); err != nil {
		t.Fatal(err)
	}
	if len(otps) != 2 {
		t.Fatalf("otps = %+v", otps)
	}

	// An EGS onboards over TLS, trusting the simulator's certificate.
	caPEM, err := os.ReadFile(filepath.Join(state, fatoorasim.TLSCertFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg := zatca.DefaultConfig()
	cfg.Environment, cfg.BaseURL, cfg.CACertPEM, cfg.Timeout = zatca.Custom, url, caPEM, 10*time.Second
	client, err := zatca.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	key, err := softkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	defer key.Close()
	der, err := csr.Create(csr.Config{
		CommonName: "TST-886431145-399999999900003", SerialNumber: "1-posagent|2-test|3-cmd",
		OrganizationIdentifier: "399999999900003", OrganizationUnit: "Riyadh Branch", Organization: "Maximum Speed Tech Supply LTD",
		Country: "SA", InvoiceType: "0100", Location: "RRRD2929", Industry: "Supply activities", Environment: csr.Simulation,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.ComplianceCSID(context.Background(), otps[0].Code, csr.PEM(der))
	if err != nil {
		t.Fatalf("compliance CSID over TLS: %v", err)
	}

	var devs []fatoorasim.Device
	if err := json.Unmarshal([]byte(cli(t, append([]string{"devices", "-json"}, srv...)...)), &devs); err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || len(devs[0].CSIDs) != 1 || devs[0].CSIDs[0].Status != "active" {
		t.Fatalf("devices = %+v", devs)
	}
	if table := cli(t, append([]string{"devices"}, srv...)...); !strings.Contains(table, res.RequestID) || !strings.Contains(table, "compliance") {
		t.Errorf("devices table:\n%s", table)
	}

	// Faults from the command line reach the EGS API.
	cli(t, append([]string{"fault", "add", "-endpoint", "compliance", "-action", "status", "-status", "503", "-times", "1"}, srv...)...)
	_, err = client.ComplianceCSID(context.Background(), "123345", csr.PEM(der))
	var ae *zatca.APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != 503 || !ae.Retryable() {
		t.Fatalf("after fault add: %v", err)
	}
	if list := cli(t, append([]string{"fault", "list"}, srv...)...); !strings.Contains(list, "compliance") || !strings.Contains(list, "503") {
		t.Errorf("fault list:\n%s", list)
	}
	cli(t, append([]string{"fault", "clear"}, srv...)...)
	if _, err := client.ComplianceCSID(context.Background(), "123345", csr.PEM(der)); err != nil {
		t.Fatalf("after fault clear: %v", err)
	}

	// Revocation, renewal policy, clock, statistics, CSV.
	cli(t, append([]string{"revoke", "-id", res.RequestID}, srv...)...)
	if err := json.Unmarshal([]byte(cli(t, append([]string{"devices", "-json"}, srv...)...)), &devs); err != nil {
		t.Fatal(err)
	}
	if devs[0].CSIDs[0].Status != "revoked" {
		t.Errorf("after revoke: %+v", devs[0].CSIDs[0])
	}
	if out := cli(t, append([]string{"renewal", "-device", "1", "-not-compliant=true"}, srv...)...); !strings.Contains(out, "428") {
		t.Errorf("renewal: %s", out)
	}
	if out := cli(t, append([]string{"clock", "-advance", "2h"}, srv...)...); !strings.Contains(out, "offset 2h0m0s") {
		t.Errorf("clock: %s", out)
	}
	if out := cli(t, append([]string{"stats"}, srv...)...); !strings.HasPrefix(out, "MONTH") {
		t.Errorf("stats: %s", out)
	}
	if out := cli(t, append([]string{"issues"}, srv...)...); !strings.HasPrefix(out, "received_at,endpoint,") {
		t.Errorf("issues: %s", out)
	}

	// State survives a restart.
	stop()
	url2, _ := startServe(t, state, "-tls")
	if err := json.Unmarshal([]byte(cli(t, "devices", "-json", "-server", url2, "-state", state)), &devs); err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].CSIDs[0].Status != "revoked" || !devs[0].RenewalNotCompliant {
		t.Fatalf("devices after restart = %+v", devs)
	}
}

func TestSeparateAdminListener(t *testing.T) {
	state := t.TempDir()
	// With -admin-addr the API listener has no /admin/ endpoints.
	url, _ := startServe(t, state, "-admin-addr", "127.0.0.1:0")
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"devices", "-server", url}, &out, &errOut)
	var se *fatoorasim.AdminStatusError
	if !errors.As(err, &se) || se.Status != 404 {
		t.Fatalf("admin on the API listener: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"serve"},
		{"serve", "-state", t.TempDir(), "-addr", "0.0.0.0:8443"},
		{"serve", "-state", t.TempDir(), "-env", "staging"},
		{"serve", "-state", t.TempDir(), "-tls-cert", "x.pem"},
		{"otp"},
		{"otp", "-vat", "399999999900003", "-month", "2026-01"},
		{"revoke"},
		{"renewal"},
		{"clock", "-offset", "1h", "-advance", "1h"},
		{"fault"},
		{"fault", "add", "-endpoint", "reporting"},
		{"fault", "rm"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
	if out := cli(t, "version"); !strings.HasPrefix(out, "fatoora-sim ") {
		t.Errorf("version: %q", out)
	}
}
