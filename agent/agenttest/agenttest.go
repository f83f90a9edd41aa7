// Package agenttest owns the test environment of the agent, the socket API and the
// daemon: real components only. It starts a private swtpm (hsm/hsmtest), the ZATCA
// simulator (offline/fatoorasim) over real HTTP on 127.0.0.1, a simulated ESC/POS
// printer (printer/escpossim) on a real pseudo-terminal, and opens a real SQLite
// journal in the test's temporary directory, a TPM key store, a serial printer on the
// pty and the reporting worker, wired into an agent.Agent.
//
// It is test infrastructure: the daemon never links it. It may import anything.
package agenttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/csr"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/hsm/hsmtest"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/zatca"
	"github.com/posagent/posagent/printer/escpossim"
)

// VAT is the test seller's VAT number (testdata/seller.json).
const VAT = "399999999900003"

// RepoRoot returns the repository root (the directory holding go.mod), found from the
// working directory of the test.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("agenttest: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// ReadRepoFile reads a file by its repository-relative path.
func ReadRepoFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Seller returns testdata/seller.json.
func Seller(t testing.TB) *invoice.Seller {
	t.Helper()
	s, err := invoice.DecodeSeller(ReadRepoFile(t, "testdata/seller.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// EGS returns the CSR configuration of a test unit with a unique serial.
func EGS(t testing.TB) csr.Config {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return csr.Config{
		CommonName:             "TST-886431145-" + VAT,
		SerialNumber:           "1-posagent|2-test|3-" + hex.EncodeToString(b[:]),
		OrganizationIdentifier: VAT,
		OrganizationUnit:       "Riyadh Branch",
		Organization:           "Maximum Speed Tech Supply LTD",
		Country:                "SA",
		InvoiceType:            "0100",
		Location:               "RRRD2929",
		Industry:               "Supply activities",
		Environment:            csr.Simulation,
	}
}

// Logger sends logs to t when the test runs verbose, and discards them otherwise.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// ShortDir returns a fresh directory under /tmp with a short path (unix socket paths
// are limited to 108 bytes; t.TempDir paths can be longer), removed after the test.
func ShortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pa")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// Sim is the ZATCA simulator on a real loopback listener.
type Sim struct {
	Server *fatoorasim.Server
	URL    string // http://127.0.0.1:PORT
	srv    *http.Server
}

// StartSim starts fatoorasim with its state in dir (a t.TempDir when empty).
func StartSim(t testing.TB, dir string, opt func(*fatoorasim.Options)) *Sim {
	t.Helper()
	o := fatoorasim.DefaultOptions()
	if dir == "" {
		dir = t.TempDir()
	}
	o.Dir = dir
	o.Logger = Logger(t).With("subsystem", "fatoorasim")
	if opt != nil {
		opt(&o)
	}
	s, err := fatoorasim.New(o)
	if err != nil {
		t.Fatalf("agenttest: fatoorasim: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		_ = hs.Close()
		if err := s.Close(); err != nil {
			t.Errorf("agenttest: close fatoorasim: %v", err)
		}
	})
	return &Sim{Server: s, URL: "http://" + l.Addr().String(), srv: hs}
}

// OTP issues a portal OTP for the test VAT number.
func (s *Sim) OTP(t testing.TB) string {
	t.Helper()
	otps, err := s.Server.GenerateOTPs(context.Background(), VAT, 1)
	if err != nil {
		t.Fatalf("agenttest: OTP: %v", err)
	}
	return otps[0].Code
}

// Client returns a ZATCA client for the simulator.
func (s *Sim) Client(t testing.TB) *zatca.Client {
	t.Helper()
	cfg := zatca.DefaultConfig()
	cfg.Environment = zatca.Custom
	cfg.BaseURL = s.URL
	cfg.Timeout = 20 * time.Second
	c, err := zatca.New(cfg, Logger(t).With("subsystem", "zatca"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// Printer is escpossim serving a real pseudo-terminal: a driver opens Device.
type Printer struct {
	Sim    *escpossim.Sim
	Device string // the pty slave path
	OutDir string // receipt PNGs

	mu    sync.Mutex
	pages []escpossim.Page
	cond  chan struct{}
}

// StartPrinter starts escpossim on a new pty, writing receipt PNGs to outDir (a
// t.TempDir when empty).
func StartPrinter(t testing.TB, outDir string) *Printer {
	t.Helper()
	if outDir == "" {
		outDir = t.TempDir()
	}
	p := &Printer{OutDir: outDir, cond: make(chan struct{})}
	cfg := escpossim.DefaultConfig()
	cfg.OutDir = outDir
	cfg.Logger = Logger(t).With("subsystem", "escpossim")
	cfg.OnPage = func(pg escpossim.Page) {
		p.mu.Lock()
		p.pages = append(p.pages, pg)
		close(p.cond)
		p.cond = make(chan struct{})
		p.mu.Unlock()
	}
	sim, err := escpossim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pty, err := escpossim.OpenPTY()
	if err != nil {
		t.Fatalf("agenttest: pty: %v", err)
	}
	p.Sim, p.Device = sim, pty.SlavePath
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sim.Serve(ctx, pty.Master)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = pty.Close()
	})
	return p
}

// Pages returns the receipts printed so far.
func (p *Printer) Pages() []escpossim.Page {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]escpossim.Page(nil), p.pages...)
}

// WaitPages waits until at least n receipts were printed.
func (p *Printer) WaitPages(t testing.TB, n int, timeout time.Duration) []escpossim.Page {
	t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		got, ch := len(p.pages), p.cond
		p.mu.Unlock()
		if got >= n {
			return p.Pages()
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("agenttest: %d receipts printed within %v, want %d", got, timeout, n)
		}
	}
}

// TPM starts a private swtpm with its state in a new temporary directory.
func TPM(t testing.TB) *hsmtest.SWTPM {
	t.Helper()
	return hsmtest.StartSWTPM(t, filepath.Join(t.TempDir(), "swtpm"))
}

// ActivationSecret is the board secret test key stores use.
var ActivationSecret = []byte("agenttest activation secret 0123")
