package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/ubl"
)

// ctl runs posctl against the daemon's socket with stdin and returns the exit code and
// outputs.
func ctl(t *testing.T, socket, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	n := 1
	if args[0] == "cashier" && len(args) > 1 {
		n = 2
	}
	full := append(append(append([]string{}, args[:n]...), "--socket", socket), args[n:]...)
	code := run(context.Background(), full, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestDaemonCommands drives a real agent through its socket with posctl: login with a
// default PIN change, onboarding, cashier management, a sale, document lookups,
// reprint, status, stats, dead letters, verify, export and logout. The session token is
// kept in a 0600 file between invocations.
func TestDaemonCommands(t *testing.T) {
	a := agenttest.StartAPI(t, agenttest.APIOptions{})
	sessFile := filepath.Join(t.TempDir(), "sess", "session")
	t.Setenv("POSCTL_SESSION_FILE", sessFile)
	sock := a.Socket
	must := func(stdin string, args ...string) string {
		t.Helper()
		code, out, errOut := ctl(t, sock, stdin, args...)
		if code != 0 {
			t.Fatalf("posctl %s: exit %d: %s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}

	if code, _, errOut := ctl(t, sock, "", "status"); code != 1 || !strings.Contains(errOut, "posctl login") {
		t.Fatalf("status without a session: exit %d: %s", code, errOut)
	}
	must(a.AdminPIN+"\n", "login", "--cashier", "admin", "--new-pin", "271828")
	if fi, err := os.Stat(sessFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v %v", fi, err)
	}
	out := must("", "onboard", "--otp", a.Env.Sim.OTP(t))
	if !strings.Contains(out, "key_activated") || !strings.Contains(out, "production CSID") {
		t.Fatalf("onboard output: %s", out)
	}
	must("", "cashier", "add", "--id", "c7", "--name", "Sara", "--pin", "5813")
	var list apitype.CashierList
	if err := json.Unmarshal([]byte(must("", "cashier", "list", "--json")), &list); err != nil || len(list.Cashiers) != 2 {
		t.Fatalf("cashier list: %+v %v", list, err)
	}
	if code, _, errOut := ctl(t, sock, "", "cashier", "add", "--id", "c8", "--name", "X", "--pin", "1111"); code != 1 || !strings.Contains(errOut, "pin") {
		t.Fatalf("a repeated-digit PIN: exit %d %s", code, errOut)
	}

	must("5813\n", "login", "--cashier", "c7", "--new-pin", "97531")
	salePath := filepath.Join(agenttest.RepoRoot(t), "testdata/sales/05-line-discounts.json")
	var doc apitype.Document
	if err := json.Unmarshal([]byte(must("", "sale", salePath, "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ICV != 1 || !doc.Printed {
		t.Fatalf("sale: %+v", doc)
	}
	out = must("", "sale", salePath)
	if !strings.Contains(out, "replayed") || !strings.Contains(out, doc.UUID) {
		t.Fatalf("repeated sale: %s", out)
	}
	xml := must("", "doc", "--icv", "1", "--xml")
	if _, err := ubl.Verify([]byte(xml), ubl.VerifyOptions{InvoiceHash: doc.Hash}); err != nil {
		t.Fatalf("doc --xml does not verify: %v", err)
	}
	if out := must("", "reprint", doc.UUID); !strings.Contains(out, "COPY") {
		t.Fatalf("reprint: %s", out)
	}
	if out := must("", "status"); !strings.Contains(out, "ready") || !strings.Contains(out, "ICV 1") {
		t.Fatalf("status: %s", out)
	}
	must("", "stats")
	if code, _, errOut := ctl(t, sock, "", "deadletters"); code != 1 || !strings.Contains(errOut, "forbidden") {
		t.Fatalf("deadletters as cashier: exit %d %s", code, errOut)
	}
	if code, _, errOut := ctl(t, sock, "", "sale", filepath.Join(agenttest.RepoRoot(t), "testdata/sales/invalid/bad-standard-rate.json")); code != 1 ||
		!strings.Contains(errOut, "BR-KSA-84") || !strings.Contains(errOut, "lineitems[0].tax_percentage") {
		t.Fatalf("invalid sale: exit %d %s", code, errOut)
	}
	must("", "logout")
	if _, err := os.Stat(sessFile); !os.IsNotExist(err) {
		t.Fatalf("session file after logout: %v", err)
	}

	must("271828\n", "login", "--cashier", "admin")
	if out := must("", "verify"); !strings.Contains(out, "journal OK") {
		t.Fatalf("verify: %s", out)
	}
	if out := must("", "deadletters"); !strings.Contains(out, "no rejected documents") {
		t.Fatalf("deadletters: %s", out)
	}
	dir := filepath.Join(a.Env.Config.ExportRoot, "x1")
	if out := must("", "export", "--dir", dir); !strings.Contains(out, "exported 1 documents") {
		t.Fatalf("export: %s", out)
	}
	if code, _, errOut := ctl(t, sock, "", "export", "--dir", "/tmp/elsewhere"); code != 1 || !strings.Contains(errOut, "export root") {
		t.Fatalf("export outside the root: exit %d %s", code, errOut)
	}
	if code, _, _ := ctl(t, sock, "", "sale"); code != 2 {
		t.Fatalf("sale without a file: exit %d, want 2", code)
	}
}
