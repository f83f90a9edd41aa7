package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
	"github.com/posagent/posagent/agent/ubl"
)

// TestEndToEnd runs the daemon (its run function, as main calls it) against a real
// swtpm, the ZATCA simulator over HTTP on 127.0.0.1 and the printer simulator on a real
// pty, with a real SQLite journal: first administrator login, onboarding with a portal
// OTP, a cashier, a sale over the socket; the receipt PNG's QR code (read by zbarimg)
// is the document's QR; the document is reported to the simulator and status shows it.
// A SIGTERM-like cancellation then shuts the daemon down cleanly.
func TestEndToEnd(t *testing.T) {
	in := startInfra(t, true)
	cfgPath := in.config(t, nil)
	stop := runInProcess(t, cfgPath, in.socket())
	ctx := context.Background()
	stateDir := filepath.Join(in.dir, "state")

	admin := adminClient(t, in.socket(), stateDir, "271828")
	st, err := admin.Status(ctx)
	if err != nil || st.Ready || st.Reasons[0].Code != apitype.ReasonNotOnboarded || st.Printer.State != "online" {
		t.Fatalf("status before onboarding: %+v %v", st, err)
	}
	res, err := admin.Onboard(ctx, in.sim.OTP(t))
	if err != nil {
		t.Fatalf("onboard: %v", err)
	}
	devs, err := in.sim.Server.Devices(ctx)
	if err != nil || len(devs) != 1 || !strings.HasPrefix(devs[0].EGSSerial, "1-posagent|2-test|3-TEST-") {
		t.Fatalf("simulator devices %+v (%v)", devs, err)
	}
	cashier := cashierClient(t, in.socket(), admin, "c1", apitype.RoleCashier)

	doc, err := cashier.Sale(ctx, agenttest.ReadRepoFile(t, "testdata/sales/02-mixed-categories.json"))
	if err != nil {
		t.Fatalf("sale: %v", err)
	}
	if !doc.Printed || doc.ICV != 1 {
		t.Fatalf("sale: printed %v (%s), ICV %d", doc.Printed, doc.PrintError, doc.ICV)
	}
	xml, err := cashier.DocumentXML(ctx, doc.UUID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ubl.Verify(xml, ubl.VerifyOptions{InvoiceHash: doc.Hash})
	if err != nil || v.Certificate.SerialNumber.String() != res.Serial {
		t.Fatalf("document: %v (signed with %v, CSID %s)", err, v.Certificate.SerialNumber, res.Serial)
	}

	pages := in.printer.WaitPages(t, 1, 30*time.Second)
	png := pages[0].Path
	if png == "" || pages[0].Incomplete {
		t.Fatalf("receipt page %+v", pages[0])
	}
	out, err := exec.Command("zbarimg", "--raw", "-q", png).Output()
	if err != nil {
		t.Fatalf("zbarimg %s: %v", png, err)
	}
	if got := strings.TrimSpace(string(out)); got != doc.QR {
		t.Fatalf("the receipt's QR code reads\n%s\nthe document's QR is\n%s", got, doc.QR)
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := cashier.Document(ctx, doc.UUID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Report.Status == "reported" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reported within 30 s: %+v", d.Report)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err = cashier.Status(ctx)
	if err != nil || !st.Ready || st.Queue.Reported != 1 || st.Queue.Unreported != 0 || st.Chain.ICV != 1 {
		t.Fatalf("status after reporting: %+v %v", st.Queue, err)
	}
	devs, _ = in.sim.Server.Devices(ctx)
	if devs[0].LastICV != 1 || devs[0].LastInvoiceHash != doc.Hash {
		t.Fatalf("the simulator's last document: ICV %d hash %s", devs[0].LastICV, devs[0].LastInvoiceHash)
	}

	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := os.Stat(in.socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is left behind after shutdown: %v", err)
	}
	if _, err := cashier.Status(ctx); err == nil || client.HasCode(err, apitype.CodeUnauthenticated) {
		t.Errorf("the daemon still answers after shutdown: %v", err)
	}
}
