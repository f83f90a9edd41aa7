package agenttest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
	"github.com/posagent/posagent/agent/localapi"
)

// APIOptions configure StartAPI.
type APIOptions struct {
	Env    Options
	Config func(*localapi.Config)
}

// API is the socket API served in front of an Env's agent.
type API struct {
	Env      *Env
	Server   *localapi.Server
	Socket   string
	PINFile  string
	AdminPIN string // the bootstrap administrator's PIN (after Admin: the changed one)
}

// StartAPI builds an Env and serves the socket API for it on a short socket path,
// allowing the test's own uid, with a cheap PIN hash.
func StartAPI(t testing.TB, o APIOptions) *API {
	t.Helper()
	e := NewEnv(t, o.Env)
	dir := ShortDir(t)
	cfg := localapi.DefaultConfig()
	cfg.SocketPath = filepath.Join(dir, "posagent.sock")
	cfg.AllowedUIDs = []int{os.Getuid()}
	cfg.PIN.ScryptN = 1024
	cfg.BootstrapPINFile = filepath.Join(dir, "initial-admin-pin")
	cfg.ShutdownTimeout = 5 * time.Second
	if o.Config != nil {
		o.Config(&cfg)
	}
	accts, err := localapi.OpenAccounts(filepath.Join(dir, "cashiers.json"), cfg.PIN)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := localapi.New(localapi.Options{Config: cfg, Backend: e.Agent, Accounts: accts, Audit: e.Store,
		Logger: Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agenttest: server run: %v", err)
		}
	})
	a := &API{Env: e, Server: srv, Socket: cfg.SocketPath, PINFile: cfg.BootstrapPINFile}
	pin, err := os.ReadFile(cfg.BootstrapPINFile)
	if err != nil {
		t.Fatalf("agenttest: bootstrap PIN file: %v", err)
	}
	a.AdminPIN = strings.TrimSpace(string(pin))
	return a
}

// Client returns a client of the socket without a session.
func (a *API) Client() *client.Client { return &client.Client{Socket: a.Socket} }

// Admin logs in as the bootstrap administrator and replaces its default PIN.
func (a *API) Admin(t testing.TB) *client.Client {
	t.Helper()
	ctx := context.Background()
	c := a.Client()
	s, err := c.Login(ctx, "admin", a.AdminPIN)
	if err != nil {
		t.Fatalf("agenttest: admin login: %v", err)
	}
	if !s.MustChangePIN {
		t.Fatal("agenttest: the bootstrap admin PIN is not a default PIN")
	}
	if err := c.ChangePIN(ctx, a.AdminPIN, "271828"); err != nil {
		t.Fatalf("agenttest: admin PIN change: %v", err)
	}
	a.AdminPIN = "271828"
	return c
}

// Cashier creates a cashier with a role (default PIN 4711), logs it in and changes the
// PIN to 8642.
func (a *API) Cashier(t testing.TB, admin *client.Client, id string, role apitype.Role) *client.Client {
	t.Helper()
	ctx := context.Background()
	if _, err := admin.AddCashier(ctx, apitype.AddCashierRequest{ID: id, Name: "Cashier " + id, Role: role, PIN: "4711"}); err != nil {
		t.Fatalf("agenttest: add cashier %s: %v", id, err)
	}
	c := a.Client()
	if _, err := c.Login(ctx, id, "4711"); err != nil {
		t.Fatalf("agenttest: login %s: %v", id, err)
	}
	if err := c.ChangePIN(ctx, "4711", "8642"); err != nil {
		t.Fatalf("agenttest: PIN change %s: %v", id, err)
	}
	return c
}
