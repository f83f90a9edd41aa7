package localapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
	"github.com/posagent/posagent/agent/localapi"
	"github.com/posagent/posagent/store"
)

type api struct{ *agenttest.API }

type apiOptions struct {
	env    agenttest.Options
	config func(*localapi.Config)
}

func startAPI(t testing.TB, o apiOptions) *api {
	t.Helper()
	return &api{agenttest.StartAPI(t, agenttest.APIOptions{Env: o.env, Config: o.config})}
}

// raw sends a request with the token of c (nil: none) and returns status and body.
func (a *api) raw(t testing.TB, c *client.Client, method, path string, body []byte) (int, apitype.Error, []byte) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", a.Socket)
	}}}
	req, err := http.NewRequest(method, "http://posagent"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		req.Header.Set("Authorization", "Bearer "+c.Token())
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e apitype.Error
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%s %s: %d answer is not the JSON error shape: %q", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, e, b
}

func sale(t testing.TB, name string) []byte {
	t.Helper()
	return agenttest.ReadRepoFile(t, "testdata/sales/"+name)
}

func auditCount(t testing.TB, a *api, action string) int {
	t.Helper()
	ents, err := a.Env.Store.Entries(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestSessionsAndSale walks the first use of a terminal over the socket: the bootstrap
// administrator must change its default PIN, onboards the terminal, adds a cashier who
// changes its own default PIN and sells; every step is audited with its actor.
func TestSessionsAndSale(t *testing.T) {
	a := startAPI(t, apiOptions{})
	ctx := context.Background()
	c := a.Client()
	if _, err := c.Login(ctx, "admin", a.AdminPIN); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctx); !client.IsPINChangeRequired(err) {
		t.Fatalf("status with a default PIN: %v, want pin_change_required", err)
	}
	if err := c.ChangePIN(ctx, a.AdminPIN, "1234"); !client.IsInvalid(err) {
		t.Fatalf("a run of digits as new PIN: %v, want invalid", err)
	}
	if err := c.ChangePIN(ctx, a.AdminPIN, "271828"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.PINFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the bootstrap PIN file still exists after the PIN change: %v", err)
	}
	if _, err := c.Onboard(ctx, a.Env.Sim.OTP(t)); err != nil {
		t.Fatalf("onboard: %v", err)
	}
	cashier := a.Cashier(t, c, "c1", apitype.RoleCashier)
	doc, err := cashier.Sale(ctx, sale(t, "03-tax-inclusive.json"))
	if err != nil {
		t.Fatalf("sale: %v", err)
	}
	if doc.ICV != 1 || !doc.Printed {
		t.Fatalf("sale answer: ICV %d printed %v %s", doc.ICV, doc.Printed, doc.PrintError)
	}
	again, err := cashier.Sale(ctx, sale(t, "03-tax-inclusive.json"))
	if err != nil || !again.Replayed || again.UUID != doc.UUID {
		t.Fatalf("retry: %+v %v", again, err)
	}
	got, err := cashier.DocumentByKey(ctx, doc.IdempotencyKey)
	if err != nil || got.UUID != doc.UUID {
		t.Fatalf("document by key: %v", err)
	}
	xml, err := cashier.DocumentXML(ctx, doc.UUID)
	if err != nil || !bytes.HasPrefix(xml, []byte("<?xml")) {
		t.Fatalf("document XML: %v", err)
	}
	rp, err := cashier.Reprint(ctx, doc.UUID)
	if err != nil || !rp.Copy {
		t.Fatalf("reprint: %+v %v", rp, err)
	}
	st, err := cashier.Status(ctx)
	if err != nil || !st.Ready || st.Chain.ICV != 1 {
		t.Fatalf("status: %+v %v", st, err)
	}
	ents, err := a.Env.Store.Entries(ctx, store.AuditFilter{Actor: "cashier:c1"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range ents {
		seen[e.Action] = true
	}
	for _, want := range []string{"session.login", "session.pin_changed", store.ActionIssued, store.ActionPrinted,
		store.ActionReprinted, "api.document_find", "api.document_xml"} {
		if !seen[want] {
			t.Errorf("no %s audit entry with actor cashier:c1 (have %v)", want, seen)
		}
	}
	adminEnts, _ := a.Env.Store.Entries(ctx, store.AuditFilter{Actor: "cashier:admin", Action: "onboard."})
	if len(adminEnts) < 9 {
		t.Errorf("%d onboarding audit entries with actor cashier:admin", len(adminEnts))
	}
	if err := cashier.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	cashier.SetToken(doc.UUID) // any stale token
	if _, err := cashier.Status(ctx); !client.IsUnauthenticated(err) {
		t.Fatalf("after logout: %v", err)
	}
}

// TestRefusals: every refusal the brief lists, with the JSON error shape and nothing
// written for bad bodies.
func TestRefusals(t *testing.T) {
	a := startAPI(t, apiOptions{config: func(c *localapi.Config) { c.PIN.MaxFailures = 3 }})
	ctx := context.Background()
	admin := a.Admin(t)
	if _, err := admin.Onboard(ctx, a.Env.Sim.OTP(t)); err != nil {
		t.Fatal(err)
	}
	cashier := a.Cashier(t, admin, "c1", apitype.RoleCashier)

	t.Run("no session", func(t *testing.T) {
		st, e, _ := a.raw(t, nil, "POST", "/v1/sales", sale(t, "01-cash-single-line.json"))
		if st != 401 || e.Code != apitype.CodeUnauthenticated {
			t.Fatalf("sale without a session: %d %+v", st, e)
		}
		st, e, _ = a.raw(t, nil, "GET", "/v1/status", nil)
		if st != 401 || e.Code != apitype.CodeUnauthenticated {
			t.Fatalf("status without a session: %d %+v", st, e)
		}
	})

	t.Run("role", func(t *testing.T) {
		ret := bytes.Replace(sale(t, "09-credit-note.json"), []byte("SME00010"), []byte("INV-000001"), 1)
		before := auditCount(t, a, "api.forbidden")
		_, err := cashier.Return(ctx, ret)
		if !client.IsForbidden(err) {
			t.Fatalf("return by a cashier: %v, want forbidden", err)
		}
		if auditCount(t, a, "api.forbidden") != before+1 {
			t.Error("the refused return is not audited")
		}
		if _, err := cashier.Cashiers(ctx); !client.IsForbidden(err) {
			t.Fatalf("cashier listing cashiers: %v", err)
		}
		// A supervisor may issue the return (of a pen sold on INV-000001).
		if _, err := cashier.Sale(ctx, sale(t, "02-mixed-categories.json")); err != nil {
			t.Fatal(err)
		}
		sup := a.Cashier(t, admin, "s1", apitype.RoleSupervisor)
		cn, err := sup.Return(ctx, ret)
		if err != nil {
			t.Fatalf("return by a supervisor: %v", err)
		}
		if cn.Type != "381" || cn.BillingReference != "INV-000001" {
			t.Errorf("credit note %+v", cn)
		}
	})

	t.Run("bad bodies", func(t *testing.T) {
		head, _ := a.Env.Store.Head(ctx)
		audit, _ := a.Env.Store.Entries(ctx, store.AuditFilter{})
		big := bytes.Repeat([]byte(" "), apitype.MaxSaleBody+10)
		cases := []struct {
			name, path string
			body       []byte
			status     int
			code       string
			field      string
			rule       string
		}{
			{"malformed sale", "/v1/sales", []byte(`{"idempotency_key": "x",`), 400, apitype.CodeInvalidSale, "", apitype.RuleJSON},
			{"oversized sale", "/v1/sales", big, 413, apitype.CodeBodyTooLarge, "", apitype.RuleLimit},
			{"unknown field", "/v1/sales", sale(t, "invalid/unknown-field.json"), 400, apitype.CodeInvalidSale, "lineitems[0].colour", apitype.RuleUnknownField},
			{"wrong type", "/v1/sales", bytes.Replace(sale(t, "01-cash-single-line.json"), []byte(`"quantity": "1"`), []byte(`"quantity": true`), 1),
				400, apitype.CodeInvalidSale, "lineitems[0].quantity", apitype.RuleType},
			{"business rule", "/v1/sales", sale(t, "invalid/bad-standard-rate.json"), 400, apitype.CodeInvalidSale, "lineitems[0].tax_percentage", "BR-KSA-84"},
			{"note on sales route", "/v1/sales", sale(t, "09-credit-note.json"), 400, apitype.CodeInvalidSale, "doc_type", apitype.RuleValue},
			{"reprint unknown field", "/v1/documents/x/reprint", []byte(`{"copies": 2}`), 400, apitype.CodeInvalidRequest, "copies", apitype.RuleUnknownField},
			{"pin wrong type", "/v1/session/pin", []byte(`{"pin": 8642, "new_pin": "97531"}`), 400, apitype.CodeInvalidRequest, "pin", apitype.RuleType},
			{"pin trailing data", "/v1/session/pin", []byte(`{"pin": "8642", "new_pin": "97531"} {}`), 400, apitype.CodeInvalidRequest, "", apitype.RuleJSON},
			{"pin duplicate key", "/v1/session/pin", []byte(`{"pin": "8642", "pin": "8642", "new_pin": "97531"}`), 400, apitype.CodeInvalidRequest, "pin", apitype.RuleJSON},
		}
		for _, c := range cases {
			st, e, _ := a.raw(t, cashier, "POST", c.path, c.body)
			if st != c.status || e.Code != c.code {
				t.Errorf("%s: %d %s, want %d %s (%s)", c.name, st, e.Code, c.status, c.code, e.Message)
				continue
			}
			found := false
			for _, f := range e.Fields {
				found = found || f.Field == c.field && f.Rule == c.rule
			}
			if !found {
				t.Errorf("%s: fields %+v do not name %q %s", c.name, e.Fields, c.field, c.rule)
			}
		}
		st, e, _ := a.raw(t, nil, "POST", "/v1/login", []byte(`{"cashier": 17, "pin": "8642"}`))
		if st != 400 || len(e.Fields) != 1 || e.Fields[0].Field != "cashier" || e.Fields[0].Rule != apitype.RuleType {
			t.Errorf("login with a number as cashier: %d %+v", st, e)
		}
		st, e, _ = a.raw(t, nil, "POST", "/v1/login", []byte(`{"cashier": "c1", "pin": "8642", "shift": 2}`))
		if st != 400 || e.Fields[0].Field != "shift" || e.Fields[0].Rule != apitype.RuleUnknownField {
			t.Errorf("login with an unknown field: %d %+v", st, e)
		}
		if h, _ := a.Env.Store.Head(ctx); h != head {
			t.Fatalf("the journal head moved on bad bodies: %+v → %+v", head, h)
		}
		if after, _ := a.Env.Store.Entries(ctx, store.AuditFilter{}); len(after) != len(audit) {
			for _, e := range after[len(audit):] {
				t.Logf("new audit entry: %s %s %s", e.Actor, e.Action, e.Details)
			}
			t.Fatalf("the audit log grew from %d to %d on bad bodies", len(audit), len(after))
		}
		st, e, _ = a.raw(t, cashier, "GET", "/v1/sales", nil)
		if st != 405 || e.Code != apitype.CodeMethodNotAllowed {
			t.Errorf("GET /v1/sales: %d %+v", st, e)
		}
		st, e, _ = a.raw(t, cashier, "GET", "/v2/status", nil)
		if st != 404 || e.Code != apitype.CodeNotFound {
			t.Errorf("GET /v2/status: %d %+v", st, e)
		}
	})

	t.Run("lockout", func(t *testing.T) {
		c := a.Client()
		for i := 0; i < 2; i++ {
			if _, err := c.Login(ctx, "c1", "0000"); !client.HasCode(err, apitype.CodeBadCredentials) {
				t.Fatalf("wrong PIN %d: %v", i+1, err)
			}
		}
		_, err := c.Login(ctx, "c1", "0000")
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Code != apitype.CodeLockedOut || ae.Status != 429 || ae.RetryAfterSeconds <= 0 {
			t.Fatalf("third wrong PIN: %v, want 429 locked_out with retry_after", err)
		}
		if _, err := c.Login(ctx, "c1", "8642"); !client.IsLockedOut(err) {
			t.Fatalf("right PIN while locked out: %v", err)
		}
		if n := auditCount(t, a, "session.locked_out"); n != 1 {
			t.Errorf("%d session.locked_out audit entries, want 1", n)
		}
		if n := auditCount(t, a, "session.login_failed"); n < 2 {
			t.Errorf("%d session.login_failed audit entries, want ≥ 2", n)
		}
		if _, err := admin.ResetPIN(ctx, "c1", "9753"); err != nil {
			t.Fatal(err)
		}
		s, err := c.Login(ctx, "c1", "9753")
		if err != nil || !s.MustChangePIN {
			t.Fatalf("login after the reset: %+v %v", s, err)
		}
	})

}

// TestSessionExpiry: a session unused for longer than the idle timeout is refused with
// session_expired, and the expiry is audited.
func TestSessionExpiry(t *testing.T) {
	a := startAPI(t, apiOptions{env: agenttest.Options{NoPrinter: true}, config: func(c *localapi.Config) {
		c.SessionIdle = 2 * time.Second
	}})
	ctx := context.Background()
	admin := a.Admin(t)
	if _, err := admin.Status(ctx); err != nil {
		t.Fatalf("a fresh session: %v", err)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := admin.Status(ctx); !client.HasCode(err, apitype.CodeSessionExpired) {
		t.Fatalf("after the idle timeout: %v, want session_expired", err)
	}
	if auditCount(t, a, "session.expired") != 1 {
		t.Error("the expiry is not audited")
	}
	if _, err := admin.Status(ctx); !client.HasCode(err, apitype.CodeUnauthenticated) {
		t.Fatalf("the expired token again: %v, want unauthenticated", err)
	}
}

// TestPeerRefused: a process whose uid and gid are not allowed gets 403 on every
// route, logged in or not, and the refusal is audited.
func TestPeerRefused(t *testing.T) {
	a := startAPI(t, apiOptions{env: agenttest.Options{NoPrinter: true}, config: func(c *localapi.Config) {
		c.AllowedUIDs = []int{os.Getuid() + 4242}
		c.AllowedGIDs = []int{os.Getgid() + 4242}
	}})
	for _, r := range []struct{ method, path string }{{"POST", "/v1/login"}, {"GET", "/v1/status"}, {"POST", "/v1/sales"}, {"GET", "/nope"}} {
		st, e, _ := a.raw(t, nil, r.method, r.path, []byte(`{"cashier":"admin","pin":"`+a.AdminPIN+`"}`))
		if st != 403 || e.Code != apitype.CodePeerNotAllowed {
			t.Errorf("%s %s from a refused peer: %d %+v", r.method, r.path, st, e)
		}
	}
	if n := auditCount(t, a, "api.peer_refused"); n != 4 {
		t.Errorf("%d api.peer_refused audit entries, want 4", n)
	}
	if n := auditCount(t, a, "session.login"); n != 0 {
		t.Errorf("a refused peer logged in")
	}
}

// TestStaleSocket: a live daemon's socket is never taken over; a dead one's is.
func TestStaleSocket(t *testing.T) {
	a := startAPI(t, apiOptions{env: agenttest.Options{NoPrinter: true}})
	cfg := localapi.DefaultConfig()
	cfg.SocketPath = a.Socket
	cfg.AllowedUIDs = []int{os.Getuid()}
	cfg.PIN.ScryptN = 1024
	accts, err := localapi.OpenAccounts(filepath.Join(t.TempDir(), "c.json"), cfg.PIN)
	if err != nil {
		t.Fatal(err)
	}
	second, err := localapi.New(localapi.Options{Config: cfg, Backend: a.Env.Agent, Accounts: accts, Audit: a.Env.Store})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Listen(); !errors.Is(err, localapi.ErrSocketInUse) {
		t.Fatalf("listen on a live socket: %v, want ErrSocketInUse", err)
	}

	stale := filepath.Join(agenttest.ShortDir(t), "stale.sock")
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	cfg.SocketPath = stale
	cfg.SocketMode = 0o600
	third, err := localapi.New(localapi.Options{Config: cfg, Backend: a.Env.Agent, Accounts: accts, Audit: a.Env.Store})
	if err != nil {
		t.Fatal(err)
	}
	if err := third.Listen(); err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	fi, err := os.Stat(stale)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := third.Run(ctx); err != nil {
		t.Fatal(err)
	}
}
