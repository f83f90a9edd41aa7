package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
	"github.com/posagent/posagent/agent/ubl"
)

// TestReturnAtAnotherTill: two daemons — two terminals of one seller, each with its
// own swtpm, state and socket, reporting to the same fatoora-sim. An invoice issued at
// terminal A is returned at terminal B: B accepts the reference to A's invoice as
// foreign, and its credit note passes the verifier and the UBL XSD and is reported.
func TestReturnAtAnotherTill(t *testing.T) {
	ctx := context.Background()
	inA := startInfra(t, false)
	inB := &infra{dir: t.TempDir(), sockDir: agenttest.ShortDir(t), tpm: agenttest.TPM(t), sim: inA.sim}
	cfgA := inA.config(t, nil)
	const cnB = "TST-886431146-399999999900003"
	cfgB := inB.config(t, func(c *Config) { c.EGS.CommonName = cnB })
	runInProcess(t, cfgA, inA.socket())
	runInProcess(t, cfgB, inB.socket())

	var cnA string
	{
		var c Config
		b, err := os.ReadFile(cfgA)
		if err != nil || json.Unmarshal(b, &c) != nil {
			t.Fatalf("config A: %v", err)
		}
		cnA = c.EGS.CommonName
	}
	terminal := func(in *infra) (cashier, supervisor *client.Client) {
		admin := adminClient(t, in.socket(), filepath.Join(in.dir, "state"), "271828")
		if _, err := admin.Onboard(ctx, in.sim.OTP(t)); err != nil {
			t.Fatalf("onboard: %v", err)
		}
		return cashierClient(t, in.socket(), admin, "c1", apitype.RoleCashier), cashierClient(t, in.socket(), admin, "s1", apitype.RoleSupervisor)
	}
	cashierA, _ := terminal(inA)
	_, supB := terminal(inB)
	devs, err := inA.sim.Server.Devices(ctx)
	if err != nil || len(devs) != 2 || devs[0].EGSSerial == devs[1].EGSSerial {
		t.Fatalf("simulator devices %+v (%v)", devs, err)
	}

	inv, err := cashierA.Sale(ctx, agenttest.ReadRepoFile(t, "testdata/sales/02-mixed-categories.json"))
	if err != nil {
		t.Fatalf("sale at A: %v", err)
	}
	waitStatus(t, cashierA, inv.UUID, "reported")

	ret := map[string]any{
		"idempotency_key": "b-return-1", "doc_type": "381",
		"notes_details": map[string]any{"related_doc_reference": inv.IRN, "related_doc_issue_date": inv.IssuedAt.Format(time.DateOnly),
			"related_doc_egs": cnA, "reason_text": "إرجاع | Customer return"},
		"lineitems": []map[string]any{{"name_ar": "قلم", "name_en": "Pen", "quantity": "1", "tax_exclusive_price": "34.00",
			"tax_percentage": "0.15", "tax_category": "S"}},
	}
	body, _ := json.Marshal(ret)
	cn, err := supB.Return(ctx, body)
	if err != nil {
		t.Fatalf("return at B of A's invoice: %v", err)
	}
	if cn.ICV != 1 || cn.Type != "381" || cn.BillingReference != inv.IRN || cn.Links == nil || cn.Links.Corrects == nil ||
		!cn.Links.Corrects.Foreign || cn.Links.Corrects.EGS != cnA || cn.Links.Corrects.IssueDate != inv.IssuedAt.Format(time.DateOnly) {
		t.Fatalf("credit note at B: %+v links %+v", cn, cn.Links)
	}
	xml, err := supB.DocumentXML(ctx, cn.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ubl.Verify(xml, ubl.VerifyOptions{InvoiceHash: cn.Hash}); err != nil {
		t.Fatalf("verifier: %v", err)
	}
	if !strings.Contains(string(xml), "<cbc:ID>"+inv.IRN+"</cbc:ID>") {
		t.Fatal("the credit note does not carry A's invoice number in its billing reference")
	}
	validateXSD(t, xml)
	waitStatus(t, supB, cn.UUID, "reported")
	adminB := &client.Client{Socket: inB.socket()}
	if _, err := adminB.Login(ctx, "admin", "271828"); err != nil {
		t.Fatal(err)
	}
	res, err := adminB.Export(ctx, apitype.ExportRequest{Dir: filepath.Join(inB.dir, "exports", "b")})
	if err != nil || res.Documents != 1 {
		t.Fatalf("export at B: %+v %v", res, err)
	}
	links, err := os.ReadFile(filepath.Join(inB.dir, "exports", "b", "links.csv"))
	if want := "1,CRN-000001,corrects_foreign," + inv.IRN + ",," + cnA + "," + inv.IssuedAt.Format(time.DateOnly); err != nil || !strings.Contains(string(links), want) {
		t.Fatalf("links.csv at B:\n%s\nwant a row %s (%v)", links, want, err)
	}
	acc, err := inA.sim.Server.Acceptances(ctx, "reporting")
	if err != nil || acc[inv.UUID] != 1 || acc[cn.UUID] != 1 {
		t.Fatalf("simulator acceptances %v %v", acc, err)
	}
}

func waitStatus(t *testing.T, c *client.Client, uuid, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := c.Document(context.Background(), uuid)
		if err != nil {
			t.Fatal(err)
		}
		if d.Report.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("document %s is %s after 30 s, want %s: %+v", uuid, d.Report.Status, want, d.Report)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// validateXSD validates a document against the UBL 2.1 Invoice schema with xmllint
// (with a short X509SerialNumber, which libxml2's integer type cannot hold, as the
// agent's XSD test does).
func validateXSD(t *testing.T, xml []byte) {
	t.Helper()
	xsd := filepath.Join(agenttest.RepoRoot(t), "testdata/zatca/Schemas/xsds/UBL2.1/xsd/maindoc/UBL-Invoice-2.1.xsd")
	xml = regexp.MustCompile(`<ds:X509SerialNumber>[0-9]+</ds:X509SerialNumber>`).ReplaceAll(xml, []byte("<ds:X509SerialNumber>1</ds:X509SerialNumber>"))
	f := filepath.Join(t.TempDir(), "note.xml")
	if err := os.WriteFile(f, xml, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("xmllint", "--noout", "--schema", xsd, f).CombinedOutput()
	if err != nil || !strings.Contains(string(out), " validates") {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
}
