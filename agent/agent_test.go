package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/agent"
	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/agent/qr"
	"github.com/posagent/posagent/agent/ubl"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/store"
)

func saleFile(t testing.TB, name string) []byte {
	t.Helper()
	return agenttest.ReadRepoFile(t, "testdata/sales/"+name)
}

// withKey replaces the idempotency key of a testdata sale.
func withKey(t testing.TB, body []byte, key string) []byte {
	t.Helper()
	s := string(body)
	i := strings.Index(s, `"idempotency_key": "`)
	if i < 0 {
		t.Fatal("sale has no idempotency_key")
	}
	j := strings.Index(s[i+20:], `"`)
	return []byte(s[:i+20] + key + s[i+20+j:])
}

// TestNotReadyUntilOnboarded: before onboarding, sales are refused with the reason
// and nothing is journaled; status says why.
func TestNotReadyUntilOnboarded(t *testing.T) {
	e := agenttest.NewEnv(t, agenttest.Options{NoPrinter: true})
	ctx := context.Background()
	st := e.Agent.Status(ctx)
	if st.Ready || len(st.Reasons) == 0 || st.Reasons[0].Code != apitype.ReasonNotOnboarded {
		t.Fatalf("status before onboarding: ready=%v reasons=%+v", st.Ready, st.Reasons)
	}
	if st.Credentials.State != "missing" || st.Key.State != "missing" {
		t.Errorf("credentials %q key %q, want missing/missing", st.Credentials.State, st.Key.State)
	}
	_, err := e.Agent.Sale(ctx, saleFile(t, "01-cash-single-line.json"), invoice.TypeInvoice)
	var nr *agent.NotReadyError
	if !errors.As(err, &nr) || !nr.Has(apitype.ReasonNotOnboarded) {
		t.Fatalf("sale before onboarding: %v, want NotReadyError not_onboarded", err)
	}
	if h, _ := e.Store.Head(ctx); h.ICV != 0 {
		t.Fatalf("journal head ICV %d after a refused sale", h.ICV)
	}
}

// TestSalePipeline onboards against the simulator (real swtpm key, real CSIDs), then
// issues a sale: committed, verifiable, printed with the document's QR, and a retry with
// the same idempotency key returns the same document without re-signing.
func TestSalePipeline(t *testing.T) {
	e := agenttest.NewEnv(t, agenttest.Options{})
	ctx := store.WithActor(context.Background(), "cashier:test")
	e.Onboard(t)
	st := e.Agent.Status(ctx)
	if !st.Ready {
		t.Fatalf("not ready after onboarding: %+v", st.Reasons)
	}
	if st.Credentials.State != "ok" || st.Credentials.NotAfter == nil || st.Key.State != "unsealed" || st.Key.Type != "secp256k1" {
		t.Fatalf("after onboarding: credentials %+v key %+v", st.Credentials, st.Key)
	}

	before := time.Now().Truncate(time.Second)
	doc, err := e.Agent.Sale(ctx, saleFile(t, "02-mixed-categories.json"), invoice.TypeInvoice)
	if err != nil {
		t.Fatalf("sale: %v", err)
	}
	if doc.ICV != 1 || doc.PIH != store.GenesisPIH || doc.Replayed || !doc.Printed || doc.Copy {
		t.Fatalf("first sale: ICV %d PIH %s replayed %v printed %v copy %v (%s)", doc.ICV, doc.PIH, doc.Replayed, doc.Printed, doc.Copy, doc.PrintError)
	}
	if doc.IssuedAt.Before(before) || doc.IssuedAt.After(time.Now()) {
		t.Errorf("issued at %v, want now (≥ %v)", doc.IssuedAt, before)
	}
	if doc.IRN != "INV-000001" {
		t.Errorf("IRN %q, want INV-000001", doc.IRN)
	}
	xml, err := e.Agent.DocumentXML(ctx, doc.UUID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ubl.Verify(xml, ubl.VerifyOptions{PIH: store.GenesisPIH, InvoiceHash: doc.Hash})
	if err != nil {
		t.Fatalf("journaled document does not verify: %v", err)
	}
	if v.QRText != doc.QR || v.ICV != "1" {
		t.Errorf("verification: QR matches %v, ICV %s", v.QRText == doc.QR, v.ICV)
	}
	f, err := qr.DecodeBase64(doc.QR)
	if err != nil {
		t.Fatal(err)
	}
	if f.Total != doc.Totals.TaxInclusive || f.VATTotal != doc.Totals.VAT {
		t.Errorf("QR totals %s/%s, document %s/%s", f.Total, f.VATTotal, doc.Totals.TaxInclusive, doc.Totals.VAT)
	}
	pages := e.Printer.WaitPages(t, 1, 20*time.Second)
	if pages[0].Incomplete {
		t.Error("receipt incomplete")
	}
	if rep := e.WaitReported(t, doc.UUID, 20*time.Second); rep.Report.Status != store.OutcomeReported {
		t.Errorf("report status %s (HTTP %d), want reported", rep.Report.Status, rep.Report.HTTPStatus)
	}

	again, err := e.Agent.Sale(ctx, saleFile(t, "02-mixed-categories.json"), invoice.TypeInvoice)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !again.Replayed || again.UUID != doc.UUID || again.Hash != doc.Hash || again.QR != doc.QR {
		t.Fatalf("retry: replayed %v uuid %s hash %s; want the stored document", again.Replayed, again.UUID, again.Hash)
	}
	if h, _ := e.Store.Head(ctx); h.ICV != 1 {
		t.Fatalf("head ICV %d after a retry, want 1", h.ICV)
	}

	// The same key for another document is refused.
	_, err = e.Agent.Sale(ctx, withKey(t, saleFile(t, "01-cash-single-line.json"), "pos1-0002"), invoice.TypeInvoice)
	var ie *agent.IdempotencyError
	if !errors.As(err, &ie) {
		t.Fatalf("key reused for another sale: %v, want IdempotencyError", err)
	}

	// Reprint: a copy.
	rp, err := e.Agent.Reprint(ctx, doc.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if !rp.Printed || !rp.Copy || rp.Copies != 1 {
		t.Errorf("reprint: printed %v copy %v copies %d (%s)", rp.Printed, rp.Copy, rp.Copies, rp.PrintError)
	}
	pages = e.Printer.WaitPages(t, 2, 20*time.Second)
	if len(pages[1].Data) <= len(pages[0].Data) {
		t.Errorf("the copy (%d bytes) is not larger than the original (%d bytes): no COPY banners?", len(pages[1].Data), len(pages[0].Data))
	}
	got, err := e.Agent.Document(ctx, doc.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if got.FirstPrintedAt == nil || got.Copies != 1 {
		t.Errorf("document print state: first %v copies %d", got.FirstPrintedAt, got.Copies)
	}
}

// TestInvalidSaleWritesNothing: a sale breaking a rule gets the field and rule, and the
// journal and audit log are unchanged.
func TestInvalidSaleWritesNothing(t *testing.T) {
	e := agenttest.NewEnv(t, agenttest.Options{NoPrinter: true})
	e.Onboard(t)
	ctx := context.Background()
	audit, _ := e.Store.Entries(ctx, store.AuditFilter{})
	for _, name := range []string{"bad-standard-rate", "unknown-field", "trailing-data", "no-lines"} {
		body := agenttest.ReadRepoFile(t, "testdata/sales/invalid/"+name+".json")
		wantErr := strings.TrimSpace(string(agenttest.ReadRepoFile(t, "testdata/sales/invalid/"+name+".err")))
		_, err := e.Agent.Sale(ctx, body, invoice.TypeInvoice)
		var ve *invoice.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s: %v, want *invoice.ValidationError", name, err)
		}
		first := strings.SplitN(wantErr, "\n", 2)[0]
		if !strings.Contains(err.Error(), strings.SplitN(first, " ", 2)[0]) {
			t.Errorf("%s: error %q does not name %q", name, err, first)
		}
	}
	if h, _ := e.Store.Head(ctx); h.ICV != 0 {
		t.Fatalf("head ICV %d after invalid sales", h.ICV)
	}
	after, _ := e.Store.Entries(ctx, store.AuditFilter{})
	if len(after) != len(audit) {
		t.Fatalf("audit log grew from %d to %d entries on invalid sales", len(audit), len(after))
	}
}

// TestNotesReferenceIssuedInvoice: a credit note must reference an invoice of this
// terminal (by UUID or invoice number); the XML carries the original's number; a
// failure-period sale keeps its supply date, is issued now and audited.
func TestNotesReferenceIssuedInvoice(t *testing.T) {
	e := agenttest.NewEnv(t, agenttest.Options{NoPrinter: true})
	e.Onboard(t)
	ctx := context.Background()
	inv, err := e.Agent.Sale(ctx, saleFile(t, "12-failure-period.json"), invoice.TypeInvoice)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.FailurePeriod || inv.SupplyDate != "2026-11-18" || inv.IRN != "OFFLINE-2026-11-18-0042" {
		t.Errorf("failure-period sale: flag %v supply %s IRN %s", inv.FailurePeriod, inv.SupplyDate, inv.IRN)
	}
	if inv.IssuedAt.Format(time.DateOnly) == "2026-11-18" && time.Now().Format(time.DateOnly) != "2026-11-18" {
		t.Error("failure-period sale backdated to its supply date")
	}
	ents, _ := e.Store.Entries(ctx, store.AuditFilter{Action: "sale.failure_period"})
	if len(ents) != 1 || ents[0].DocumentICV != inv.ICV {
		t.Errorf("failure-period audit entries: %+v", ents)
	}

	note := saleFile(t, "09-credit-note.json") // references SME00010, unknown here
	// Said to be this terminal's (related_doc_egs names it): refused.
	own := strings.Replace(string(note), `"related_doc_reference": "SME00010"`,
		`"related_doc_reference": "SME00010", "related_doc_egs": "`+e.Config.EGS.CommonName+`"`, 1)
	_, err = e.Agent.Sale(ctx, []byte(own), invoice.TypeCreditNote)
	var in *agent.InputError
	if !errors.As(err, &in) || in.Fields[0].Field != "notes_details.related_doc_reference" || in.Fields[0].Rule != "BR-KSA-56" {
		t.Fatalf("note for an unknown invoice of this terminal: %v", err)
	}
	// Otherwise an unknown number is another terminal's invoice: accepted, recorded as foreign.
	foreign, err := e.Agent.Sale(ctx, note, invoice.TypeCreditNote)
	if err != nil || foreign.Links == nil || foreign.Links.Corrects == nil || !foreign.Links.Corrects.Foreign || foreign.BillingReference != "SME00010" {
		t.Fatalf("note for another terminal's invoice: %+v %v", foreign, err)
	}
	// The failure-period invoice sold meals, not pens.
	note = []byte(strings.NewReplacer(`"قلم"`, `"وجبة"`, `"Pen"`, `"Meal"`, `"34.00"`, `"27.00"`).Replace(string(note)))
	_, err = e.Agent.Sale(ctx, note, invoice.TypeInvoice)
	if !errors.As(err, &in) || in.Fields[0].Field != "doc_type" {
		t.Fatalf("note on the sales route: %v", err)
	}
	for i, ref := range []string{inv.UUID, inv.IRN} {
		body := strings.Replace(string(note), "SME00010", ref, 1)
		body = string(withKey(t, []byte(body), "note-"+string(rune('a'+i))))
		cn, err := e.Agent.Sale(ctx, []byte(body), invoice.TypeCreditNote)
		if err != nil {
			t.Fatalf("credit note referencing %s: %v", ref, err)
		}
		if cn.BillingReference != inv.IRN || cn.Type != "381" || !strings.HasPrefix(cn.IRN, "CRN-") {
			t.Errorf("credit note: billing reference %q type %s IRN %s", cn.BillingReference, cn.Type, cn.IRN)
		}
	}
}

// TestPrintFailureNeverUndoesASale: with the printer out of paper the sale is committed
// and answered printed=false; status shows the printer; once paper is back the reprint
// prints the original (the document was never printed), and the next one a COPY.
func TestPrintFailureNeverUndoesASale(t *testing.T) {
	e := agenttest.NewEnv(t, agenttest.Options{})
	e.Onboard(t)
	ctx := context.Background()
	e.Printer.Sim.SetStatus(printer.Status{Online: true, PaperOut: true})
	doc, err := e.Agent.Sale(ctx, saleFile(t, "01-cash-single-line.json"), invoice.TypeInvoice)
	if err != nil {
		t.Fatalf("sale with the printer out of paper: %v", err)
	}
	if doc.Printed || doc.PrintError == "" || doc.ICV != 1 {
		t.Fatalf("sale: printed %v error %q ICV %d", doc.Printed, doc.PrintError, doc.ICV)
	}
	if st := e.Agent.Status(ctx); st.Printer.State != "paper_out" || !st.Ready {
		t.Fatalf("status: printer %+v ready %v", st.Printer, st.Ready)
	}
	if d, _ := e.Store.Get(ctx, doc.UUID); d == nil || d.Printed.Printed() {
		t.Fatal("the document is missing or marked printed")
	}
	e.Printer.Sim.SetStatus(printer.Status{Online: true})
	rp, err := e.Agent.Reprint(ctx, doc.UUID)
	if err != nil || !rp.Printed || rp.Copy {
		t.Fatalf("first print after the paper came back: %+v %v", rp, err)
	}
	rp, err = e.Agent.Reprint(ctx, doc.UUID)
	if err != nil || !rp.Printed || !rp.Copy || rp.Copies != 1 {
		t.Fatalf("reprint: %+v %v", rp, err)
	}
}

// TestConcurrentSales: sales arriving at the same time (several POS clients) form one
// contiguous chain, and none is refused as a clock that went back: the clock is read in
// the same critical section as the journal commit.
func TestConcurrentSales(t *testing.T) {
	e := agenttest.NewEnv(t, agenttest.Options{NoPrinter: true})
	ctx := store.WithActor(context.Background(), "cashier:test")
	e.Onboard(t)
	const workers, each = 8, 6
	body := saleFile(t, "01-cash-single-line.json")
	errs := make(chan error, workers*each)
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				_, err := e.Agent.Sale(ctx, withKey(t, body, fmt.Sprintf("concurrent-%d-%d", w, i)), invoice.TypeInvoice)
				errs <- err
			}
		}()
	}
	for range workers {
		<-done
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent sale: %v", err)
		}
	}
	if h, err := e.Store.Head(ctx); err != nil || h.ICV != workers*each {
		t.Fatalf("head ICV %d (%v), want %d", h.ICV, err, workers*each)
	}
	rep, err := e.Store.Verify(ctx, ubl.InvoiceHashBase64)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after concurrent sales: %v %+v", err, rep)
	}
	refused, err := e.Store.Entries(ctx, store.AuditFilter{Action: store.ActionClockRefused})
	if err != nil || len(refused) != 0 {
		t.Fatalf("clock refusals during concurrent sales: %d (%v)", len(refused), err)
	}
}
