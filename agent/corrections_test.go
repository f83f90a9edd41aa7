package agent_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/store"
)

// retLine is one line of a return body.
type retLine struct {
	nameAr, nameEn, qty string
	excl, incl          string // one of the two prices
	pct, cat            string
	reason, reasonText  string // tax_reason_code and text of Z, E and O lines
}

// pen is the pen of 02-mixed-categories.json: 3 sold at 34.00 + 15 % (117.30 SAR).
func pen(qty string) retLine {
	return retLine{nameAr: "قلم", nameEn: "Pen", qty: qty, excl: "34.00", pct: "0.15", cat: "S"}
}

// penAt is a pen returned at a tax-inclusive amount per unit.
func penAt(qty, incl string) retLine {
	return retLine{nameAr: "قلم", nameEn: "Pen", qty: qty, incl: incl, pct: "0.15", cat: "S"}
}

func returnBody(key, ref string, lines ...retLine) []byte {
	var items []map[string]any
	for _, l := range lines {
		m := map[string]any{"name_ar": l.nameAr, "name_en": l.nameEn, "quantity": l.qty, "tax_category": l.cat}
		if l.pct != "" {
			m["tax_percentage"] = l.pct
		}
		if l.reason != "" {
			m["tax_reason_code"] = l.reason
		}
		if l.reasonText != "" {
			m["tax_reason_text"] = l.reasonText
		}
		if l.excl != "" {
			m["tax_exclusive_price"] = l.excl
		} else {
			m["tax_inclusive_price"] = l.incl
		}
		items = append(items, m)
	}
	b, _ := json.Marshal(map[string]any{"idempotency_key": key, "doc_type": "381",
		"notes_details": map[string]any{"related_doc_reference": ref, "reason_text": "Customer return"}, "lineitems": items})
	return b
}

// fullReturn returns every line of 02-mixed-categories.json.
func fullReturn() []retLine {
	return []retLine{pen("3"),
		{nameAr: "خدمة توصيل عقاري", nameEn: "Real estate delivery service", qty: "1", excl: "200.00", pct: "0.05", cat: "S"},
		{nameAr: "دواء", nameEn: "Medicine", qty: "2", excl: "45.50", pct: "0.00", cat: "Z", reason: "VATEX-SA-35"},
		{nameAr: "رسوم خدمة مالية", nameEn: "Financial service fee", qty: "1", excl: "12.00", pct: "0", cat: "E", reason: "VATEX-SA-29",
			reasonText: "Financial services mentioned in Article 29 of the VAT Regulations"},
		{nameAr: "تبرع", nameEn: "Donation", qty: "1", excl: "10.00", cat: "O", reason: "VATEX-SA-OOS", reasonText: "Donation outside the scope of VAT"},
	}
}

// TestCumulativeReturns: return sequences on one invoice (440.30 SAR, 3 pens at 39.10
// each), each step accepted or refused with a 400 naming the line and what remains.
// Per line, the quantity and amount returned by all credit notes together never exceed
// what was sold.
func TestCumulativeReturns(t *testing.T) {
	api := agenttest.StartAPI(t, agenttest.APIOptions{})
	api.Env.Onboard(t)
	ctx := context.Background()
	admin := api.Admin(t)
	cashier := api.Cashier(t, admin, "c1", apitype.RoleCashier)
	sup := api.Cashier(t, admin, "s1", apitype.RoleSupervisor)

	type step struct {
		lines []retLine
		ok    bool
		rule  string // of a refusal
		field string // of a refusal
		says  string // in a refusal's message
		// replay: the previous step's request again (same key): its stored note.
		replay bool
	}
	refused := func(field, says string, lines ...retLine) step {
		return step{lines: lines, rule: apitype.RuleLimit, field: field, says: says}
	}
	accepted := func(lines ...retLine) step { return step{lines: lines, ok: true} }
	cases := []struct {
		name  string
		steps []step
	}{
		{"full return, then nothing is left", []step{
			accepted(fullReturn()...),
			{lines: fullReturn(), ok: true, replay: true}, // the same request again: the stored note
			refused("lineitems[0]", "quantity 1 more than was sold: sold 3, already returned 3, 0 remains", pen("1")),
		}},
		{"partial returns up to the quantity sold", []step{
			accepted(pen("1")), accepted(pen("2")),
			refused("lineitems[0]", "sold 3, already returned 3, 0 remains", pen("1")),
		}},
		{"the reported case: 39.10 then 430.10 (11 pens)", []step{
			accepted(pen("1")),
			refused("lineitems[0]", "quantity 11 more than was sold: sold 3, already returned 1, 2 remains", pen("11")),
		}},
		{"over by one halala", []step{
			refused("lineitems[0]", "amount 117.31 more than was sold: sold 117.30, already returned 0.00, 117.30 SAR remains", penAt("1", "117.31")),
			accepted(penAt("1", "117.30")),
			refused("lineitems[0]", "0.00 SAR remains", penAt("1", "0.01")),
		}},
		{"by quantity, whatever the amount", []step{
			refused("lineitems[0]", "quantity 4 more than was sold: sold 3", penAt("4", "0.01")),
			accepted(penAt("3", "0.01")),
			refused("lineitems[0]", "0 remains", penAt("1", "0.01")),
		}},
		{"fractions add up exactly", []step{
			accepted(penAt("0.5", "39.10")), accepted(penAt("2.5", "39.10")),
			refused("lineitems[0]", "quantity 0.0000000001 more than was sold: sold 3, already returned 3, 0 remains", penAt("0.0000000001", "100")),
		}},
		{"two lines of one item add up", []step{
			refused("lineitems[0]", "quantity 4 more than was sold", pen("2"), pen("2")),
			accepted(pen("2"), pen("1")),
		}},
		{"an item not sold on the invoice", []step{
			{lines: []retLine{{nameAr: "كتاب", nameEn: "Book", qty: "1", excl: "10.00", pct: "0.15", cat: "S"}},
				rule: apitype.RuleValue, field: "lineitems[0]", says: "was not sold on invoice"},
		}},
	}
	n := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n++
			inv, err := cashier.Sale(ctx, withKey(t, saleFile(t, "02-mixed-categories.json"), fmt.Sprintf("cum-%d", n)))
			if err != nil || inv.Totals.TaxInclusive != "440.30" {
				t.Fatalf("invoice: %+v %v", inv, err)
			}
			// The receipt's number finds the document, as the UUID does.
			if d, err := cashier.Document(ctx, inv.IRN); err != nil || d.UUID != inv.UUID {
				t.Fatalf("document by invoice number %s: %+v %v", inv.IRN, d, err)
			}
			if d, err := cashier.Reprint(ctx, inv.IRN); err != nil || d.UUID != inv.UUID || !d.Copy {
				t.Fatalf("reprint by invoice number %s: %+v %v", inv.IRN, d, err)
			}
			var last *apitype.Document
			for i, s := range c.steps {
				head, _ := api.Env.Store.Head(ctx)
				key := fmt.Sprintf("cum-%d-%d", n, i)
				if s.replay {
					key = last.IdempotencyKey
				}
				d, err := sup.Return(ctx, returnBody(key, inv.IRN, s.lines...))
				if s.ok {
					if err != nil {
						t.Fatalf("step %d: refused: %v", i, err)
					}
					if s.replay && (!d.Replayed || d.UUID != last.UUID) {
						t.Fatalf("step %d: a repeated request is not answered with the stored note: %+v", i, d)
					}
					last = d
					if d.Links == nil || d.Links.Corrects == nil || d.Links.Corrects.ICV != inv.ICV || d.Links.Corrects.Foreign || len(d.Links.Returned) == 0 {
						t.Fatalf("step %d: links %+v", i, d.Links)
					}
					continue
				}
				var ae *client.APIError
				if !asAPIError(err, &ae) || ae.Status != 400 || ae.Code != apitype.CodeInvalidSale || len(ae.Fields) != 1 ||
					ae.Fields[0].Field != s.field || ae.Fields[0].Rule != s.rule || !strings.Contains(ae.Fields[0].Message, s.says) {
					t.Fatalf("step %d: want a 400 on %s (%s) saying %q, got %v", i, s.field, s.rule, s.says, err)
				}
				if after, _ := api.Env.Store.Head(ctx); after != head {
					t.Fatalf("step %d: a refused return changed the journal: head %d → %d", i, head.ICV, after.ICV)
				}
			}
		})
	}

	t.Run("concurrent returns from two clients", func(t *testing.T) {
		sup2 := api.Cashier(t, admin, "s2", apitype.RoleSupervisor)
		inv, err := cashier.Sale(ctx, withKey(t, saleFile(t, "02-mixed-categories.json"), "cum-concurrent"))
		if err != nil {
			t.Fatal(err)
		}
		// Two clients, two pens each, three sold: exactly one passes, every round.
		const rounds = 4
		for r := 0; r < rounds; r++ {
			inv := inv
			if r > 0 {
				if inv, err = cashier.Sale(ctx, withKey(t, saleFile(t, "02-mixed-categories.json"), fmt.Sprintf("cum-concurrent-%d", r))); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, 2)
			for i, c := range []*client.Client{sup, sup2} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = c.Return(ctx, returnBody(fmt.Sprintf("conc-%d-%d", r, i), inv.IRN, pen("2")))
				}()
			}
			close(start)
			wg.Wait()
			var ok, no int
			for _, err := range errs {
				var ae *client.APIError
				switch {
				case err == nil:
					ok++
				case asAPIError(err, &ae) && ae.Status == 400 && len(ae.Fields) == 1 && ae.Fields[0].Field == "lineitems[0]" &&
					strings.Contains(ae.Fields[0].Message, "1 remains"):
					no++
				default:
					t.Fatalf("round %d: unexpected error %v", r, err)
				}
			}
			if ok != 1 || no != 1 {
				t.Fatalf("round %d: %d accepted, %d refused; want 1 and 1", r, ok, no)
			}
			got, err := api.Env.Store.Returned(ctx, inv.ICV)
			if err != nil || len(got) != 1 || got[0].Quantity != "2" {
				t.Fatalf("round %d: journal holds %+v %v", r, got, err)
			}
		}
	})

	t.Run("debit notes and foreign invoices are not limited", func(t *testing.T) {
		inv, err := cashier.Sale(ctx, withKey(t, saleFile(t, "02-mixed-categories.json"), "cum-debit"))
		if err != nil {
			t.Fatal(err)
		}
		deb := bytes.Replace(returnBody("cum-debit-1", inv.IRN, pen("5")), []byte(`"381"`), []byte(`"383"`), 1)
		if d, err := cashier.Debit(ctx, deb); err != nil || d.Links == nil || d.Links.Corrects.ICV != inv.ICV || len(d.Links.Returned) != 0 {
			t.Fatalf("debit note: %+v %v", d, err)
		}
		body := returnBody("cum-foreign-1", "INV-999999", pen("5"))
		d, err := sup.Return(ctx, body)
		if err != nil || !d.Links.Corrects.Foreign || d.BillingReference != "INV-999999" {
			t.Fatalf("return of another terminal's invoice: %+v %v", d, err)
		}
	})
}

func asAPIError(err error, target **client.APIError) bool {
	if err == nil {
		return false
	}
	ae, ok := err.(*client.APIError)
	if !ok {
		return false
	}
	*target = ae
	return true
}

// TestDeadLetterCorrected: fatoora-sim rejects a document (fault injection: HTTP 400
// on reporting); the dead letter lists ZATCA's code and the actions; a supervisor
// corrects it through the socket; the correction is a new document (next ICV) linked
// to the rejected one, its receipt says what it replaces, and it is reported. The
// rejected document stays in the journal, the export and the verification; it cannot
// be corrected or resent again.
func TestDeadLetterCorrected(t *testing.T) {
	api := agenttest.StartAPI(t, agenttest.APIOptions{})
	e := api.Env
	e.Onboard(t)
	ctx := context.Background()
	admin := api.Admin(t)
	cashier := api.Cashier(t, admin, "c1", apitype.RoleCashier)
	sup := api.Cashier(t, admin, "s1", apitype.RoleSupervisor)

	if _, err := e.Sim.Server.AddFault(fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultStatus, Status: 400, Times: 1}); err != nil {
		t.Fatal(err)
	}
	bad, err := cashier.Sale(ctx, withKey(t, saleFile(t, "01-cash-single-line.json"), "dl-1"))
	if err != nil {
		t.Fatal(err)
	}
	if d := e.WaitReported(t, bad.UUID, 30*time.Second); d.Report.Status != store.OutcomeRejected {
		t.Fatalf("the injected 400 did not reject the document: %+v", d.Report)
	}
	if _, err := cashier.DeadLetters(ctx); !client.IsForbidden(err) {
		t.Fatalf("dead letters as a cashier: %v", err)
	}
	if st, err := sup.Status(ctx); err != nil || !strings.Contains(strings.Join(st.Alarms, "\n"), "1 document(s) rejected by ZATCA: see the dead letters and issue corrections") {
		t.Fatalf("status alarms with a dead letter: %v %v", st.Alarms, err)
	}
	dls, err := sup.DeadLetters(ctx)
	if err != nil || len(dls) != 1 || dls[0].UUID != bad.UUID || len(dls[0].Errors) == 0 || dls[0].Errors[0].Code == "" ||
		dls[0].ContentRejected || strings.Join(dls[0].Actions, ",") != "correct,resend" {
		t.Fatalf("dead letters: %+v %v", dls, err)
	}

	// Refusals: the rejected document's own key, another document type, a cashier.
	if _, err := sup.CorrectDeadLetter(ctx, bad.IRN, withKey(t, saleFile(t, "01-cash-single-line.json"), "dl-1")); !client.HasCode(err, apitype.CodeInvalidSale) {
		t.Fatalf("correction with the rejected document's key: %v", err)
	}
	if _, err := cashier.CorrectDeadLetter(ctx, bad.UUID, withKey(t, saleFile(t, "01-cash-single-line.json"), "dl-1-fix")); !client.IsForbidden(err) {
		t.Fatalf("correction by a cashier: %v", err)
	}

	pagesBefore := len(e.Printer.Pages())
	fix, err := sup.CorrectDeadLetter(ctx, bad.IRN, withKey(t, saleFile(t, "01-cash-single-line.json"), "dl-1-fix"))
	if err != nil {
		t.Fatalf("correct: %v", err)
	}
	if fix.ICV != bad.ICV+1 || fix.UUID == bad.UUID || fix.Hash == bad.Hash || fix.Links == nil || fix.Links.Replaces == nil ||
		fix.Links.Replaces.UUID != bad.UUID || fix.Links.Replaces.IRN != bad.IRN {
		t.Fatalf("correction: %+v links %+v", fix, fix.Links)
	}
	pages := e.Printer.WaitPages(t, pagesBefore+1, 30*time.Second)
	if !bytes.Contains(pages[len(pages)-1].Data, []byte("Replaces rejected document "+bad.IRN)) {
		t.Error("the correction's receipt does not say which rejected document it replaces")
	}
	if _, err := sup.Reprint(ctx, fix.IRN); err != nil {
		t.Fatal(err)
	}
	pages = e.Printer.WaitPages(t, len(pages)+1, 30*time.Second)
	if !bytes.Contains(pages[len(pages)-1].Data, []byte("Replaces rejected document "+bad.IRN)) {
		t.Error("the correction's reprint does not say which rejected document it replaces")
	}
	if d := e.WaitReported(t, fix.UUID, 30*time.Second); d.Report.Status != store.OutcomeReported {
		t.Fatalf("the correction is %s", d.Report.Status)
	}

	// The rejected document stays: journal, status, dead letters, export, verify.
	old, err := sup.Document(ctx, bad.UUID)
	if err != nil || old.Report.Status != "rejected" || old.Links == nil || old.Links.ReplacedBy == nil || old.Links.ReplacedBy.UUID != fix.UUID {
		t.Fatalf("the rejected document: %+v %v", old, err)
	}
	dls, err = sup.DeadLetters(ctx)
	if err != nil || len(dls) != 1 || dls[0].ReplacedBy == nil || dls[0].ReplacedBy.ICV != fix.ICV || len(dls[0].Actions) != 0 {
		t.Fatalf("dead letters after the correction: %+v %v", dls, err)
	}
	if again, err := sup.CorrectDeadLetter(ctx, bad.UUID, withKey(t, saleFile(t, "01-cash-single-line.json"), "dl-1-fix")); err != nil ||
		!again.Replayed || again.UUID != fix.UUID {
		t.Fatalf("retried correction (same key): %+v %v", again, err)
	}
	if st, err := sup.Status(ctx); err != nil || strings.Contains(strings.Join(st.Alarms, "\n"), "see the dead letters and issue corrections") {
		t.Fatalf("status alarms after the correction: %v %v", st.Alarms, err)
	}
	if _, err := sup.CorrectDeadLetter(ctx, bad.UUID, withKey(t, saleFile(t, "01-cash-single-line.json"), "dl-1-fix2")); !client.HasCode(err, apitype.CodeConflict) {
		t.Fatalf("second correction: %v", err)
	}
	if _, err := sup.ResendDeadLetter(ctx, bad.UUID, "try again"); !client.HasCode(err, apitype.CodeConflict) {
		t.Fatalf("resend of a replaced document: %v", err)
	}
	if _, err := sup.CorrectDeadLetter(ctx, fix.UUID, withKey(t, saleFile(t, "01-cash-single-line.json"), "dl-1-fix3")); !client.HasCode(err, apitype.CodeConflict) {
		t.Fatalf("correction of a reported document: %v", err)
	}
	// Returns refer to the replacement, not to the replaced invoice.
	if _, err := sup.Return(ctx, returnBody("dl-ret-1", bad.IRN, retLine{nameAr: "كتاب", nameEn: "Book", qty: "1", excl: "100.00", pct: "0.15", cat: "S"})); !client.HasCode(err, apitype.CodeInvalidSale) ||
		!strings.Contains(err.Error(), "replaced by "+fix.IRN) {
		t.Fatalf("return of the replaced invoice: %v", err)
	}
	v, err := admin.Verify(ctx)
	if err != nil || !v.OK {
		t.Fatalf("verify: %+v %v", v, err)
	}
	dir := filepath.Join(e.Config.ExportRoot, "dl")
	if _, err := admin.Export(ctx, apitype.ExportRequest{Dir: dir}); err != nil {
		t.Fatalf("export: %v", err)
	}
	manifest := readCSV(t, filepath.Join(dir, store.ManifestName))
	if len(manifest) != 3 || manifest[1][1] != bad.UUID || manifest[1][8] != "rejected" || manifest[2][1] != fix.UUID {
		t.Fatalf("manifest %v", manifest)
	}
	links := readCSV(t, filepath.Join(dir, store.LinksName))
	if len(links) != 2 || links[1][0] != fmt.Sprint(fix.ICV) || links[1][2] != "replaces" || links[1][4] != fmt.Sprint(bad.ICV) {
		t.Fatalf("links.csv %v", links)
	}
	acc, err := e.Sim.Server.Acceptances(ctx, "reporting")
	if err != nil || acc[fix.UUID] != 1 || acc[bad.UUID] != 0 {
		t.Fatalf("simulator acceptances %v %v", acc, err)
	}
}

// TestDeadLetterResent: a document rejected for a reason that was not its content is
// resent as the same bytes (supervisor, audited), reported once, and cannot be resent
// again.
func TestDeadLetterResent(t *testing.T) {
	api := agenttest.StartAPI(t, agenttest.APIOptions{})
	e := api.Env
	e.Onboard(t)
	ctx := context.Background()
	admin := api.Admin(t)
	cashier := api.Cashier(t, admin, "c1", apitype.RoleCashier)
	sup := api.Cashier(t, admin, "s1", apitype.RoleSupervisor)
	if _, err := e.Sim.Server.AddFault(fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultStatus, Status: 400, Times: 1}); err != nil {
		t.Fatal(err)
	}
	bad, err := cashier.Sale(ctx, withKey(t, saleFile(t, "01-cash-single-line.json"), "rs-1"))
	if err != nil {
		t.Fatal(err)
	}
	e.WaitReported(t, bad.UUID, 30*time.Second)
	stored, _ := e.Store.Get(ctx, bad.UUID)

	if _, err := sup.ResendDeadLetter(ctx, bad.UUID, " "); !client.HasCode(err, apitype.CodeInvalidRequest) {
		t.Fatalf("resend without a reason: %v", err)
	}
	d, err := sup.ResendDeadLetter(ctx, bad.IRN, "ZATCA's outage is over")
	if err != nil || d.UUID != bad.UUID || d.Links == nil || d.Links.Resends != 1 {
		t.Fatalf("resend: %+v %v", d, err)
	}
	after := e.WaitReported(t, bad.UUID, 30*time.Second)
	if after.Report.Status != store.OutcomeReported || !bytes.Equal(after.XML, stored.XML) || after.Hash != bad.Hash {
		t.Fatalf("after the resend: %s (same bytes %v)", after.Report.Status, bytes.Equal(after.XML, stored.XML))
	}
	ents, _ := e.Store.Entries(ctx, store.AuditFilter{Action: store.ActionResent})
	if len(ents) != 1 || ents[0].Actor != "cashier:s1" || !strings.Contains(string(ents[0].Details), "outage is over") {
		t.Fatalf("resend audit: %+v", ents)
	}
	if _, err := sup.ResendDeadLetter(ctx, bad.UUID, "again"); !client.HasCode(err, apitype.CodeConflict) {
		t.Fatalf("resend of a reported document: %v", err)
	}
	acc, _ := e.Sim.Server.Acceptances(ctx, "reporting")
	if acc[bad.UUID] != 1 {
		t.Fatalf("the simulator accepted the document %d times", acc[bad.UUID])
	}
	if dls, err := sup.DeadLetters(ctx); err != nil || len(dls) != 0 {
		t.Fatalf("dead letters after the resend: %+v %v", dls, err)
	}
	if v, err := admin.Verify(ctx); err != nil || !v.OK {
		t.Fatalf("verify after the resend: %+v %v", v, err)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestDeadLetterContentRejected: a document ZATCA rejected for its content (a BR rule)
// can only be corrected: resending the same bytes is refused with the rule IDs.
func TestDeadLetterContentRejected(t *testing.T) {
	api := agenttest.StartAPI(t, agenttest.APIOptions{Env: agenttest.Options{Uploader: &agenttest.KickCounter{}}})
	e := api.Env
	e.Onboard(t)
	ctx := context.Background()
	admin := api.Admin(t)
	sup := api.Cashier(t, admin, "s1", apitype.RoleSupervisor)
	d, err := sup.Sale(ctx, withKey(t, saleFile(t, "01-cash-single-line.json"), "cr-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Store.RecordAttempt(ctx, d.UUID, store.Attempt{At: time.Now(), HTTPStatus: 400, Outcome: store.OutcomeRejected,
		Errors: []store.Message{{Type: "ERROR", Code: "BR-KSA-37", Category: "KSA", Message: "The seller address building number must contain 4 digits."}}}); err != nil {
		t.Fatal(err)
	}
	dls, err := sup.DeadLetters(ctx)
	if err != nil || len(dls) != 1 || !dls[0].ContentRejected || strings.Join(dls[0].Actions, ",") != "correct" || dls[0].Errors[0].Code != "BR-KSA-37" {
		t.Fatalf("dead letters: %+v %v", dls, err)
	}
	_, err = sup.ResendDeadLetter(ctx, d.IRN, "try again")
	if !client.HasCode(err, apitype.CodeConflict) || !strings.Contains(err.Error(), "BR-KSA-37") || !strings.Contains(err.Error(), "/correct") {
		t.Fatalf("resend of a content rejection: %v", err)
	}
	if got, _ := e.Store.Get(ctx, d.UUID); got.Report.Status != store.OutcomeRejected {
		t.Fatalf("the refused resend changed the status to %s", got.Report.Status)
	}
}
