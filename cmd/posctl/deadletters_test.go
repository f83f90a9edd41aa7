package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/store"
)

// TestDeadLetterCommands: posctl deadletters shows each rejection with ZATCA's code and
// the commands that act on it; deadletters resend and deadletters correct take the
// receipt's invoice number; reprint does too.
func TestDeadLetterCommands(t *testing.T) {
	a := agenttest.StartAPI(t, agenttest.APIOptions{})
	t.Setenv("POSCTL_SESSION_FILE", filepath.Join(t.TempDir(), "sess", "session"))
	sock := a.Socket
	must := func(stdin string, args ...string) string {
		t.Helper()
		code, out, errOut := ctl(t, sock, stdin, args...)
		if code != 0 {
			t.Fatalf("posctl %s: exit %d: %s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	must(a.AdminPIN+"\n", "login", "--cashier", "admin", "--new-pin", "271828")
	must("", "onboard", "--otp", a.Env.Sim.OTP(t))
	if _, err := a.Env.Sim.Server.AddFault(fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultStatus, Status: 400, Times: 2}); err != nil {
		t.Fatal(err)
	}
	sales := filepath.Join(agenttest.RepoRoot(t), "testdata/sales")
	must("", "sale", filepath.Join(sales, "01-cash-single-line.json"))
	must("", "sale", filepath.Join(sales, "05-line-discounts.json"))
	for _, irn := range []string{"INV-000001", "INV-000002"} {
		d, err := a.Env.Agent.Document(context.Background(), irn)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Env.WaitReported(t, d.UUID, 30*time.Second); got.Report.Status != store.OutcomeRejected {
			t.Fatalf("%s is %s, want rejected", irn, got.Report.Status)
		}
	}
	out := must("", "deadletters")
	for _, want := range []string{"INV-000001", "INV-000002", "error", "400", "posctl deadletters correct INV-000001 FILE", "posctl deadletters resend INV-000002 --reason"} {
		if !strings.Contains(out, want) {
			t.Fatalf("deadletters output lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := ctl(t, sock, "", "deadletters", "resend", "INV-000001"); code != 2 || !strings.Contains(errOut, "--reason") {
		t.Fatalf("resend without a reason: exit %d %s", code, errOut)
	}
	if out := must("", "deadletters", "resend", "INV-000001", "--reason", "ZATCA outage over"); !strings.Contains(out, "resent") {
		t.Fatalf("resend: %s", out)
	}
	fixed := filepath.Join(t.TempDir(), "fixed.json")
	body := strings.Replace(string(agenttest.ReadRepoFile(t, "testdata/sales/05-line-discounts.json")), `"pos1-0005"`, `"pos1-0005-fix"`, 1)
	if err := os.WriteFile(fixed, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out = must("", "deadletters", "correct", "INV-000002", fixed)
	if !strings.Contains(out, "INV-000003") || !strings.Contains(out, "rejected INV-000002 (ICV 2)") {
		t.Fatalf("correct: %s", out)
	}
	out = must("", "deadletters")
	if !strings.Contains(out, "replaced by") || !strings.Contains(out, "INV-000003") || strings.Contains(out, "INV-000001") {
		t.Fatalf("deadletters after resend and correction:\n%s", out)
	}
	if out := must("", "reprint", "INV-000003"); !strings.Contains(out, "COPY") || !strings.Contains(out, "replaces") {
		t.Fatalf("reprint by invoice number: %s", out)
	}
}
