package fatoorasim_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/zatca"
)

func onboarded(t *testing.T, opts ...simOption) (*sim, *egs) {
	t.Helper()
	s := startSim(t, opts...)
	e := newEGS(t, "0100")
	e.onboard(t, s)
	return s, e
}

func TestReportTamperedDocument(t *testing.T) {
	s, e := onboarded(t)
	doc := e.doc(t, "01-cash-single-line.json", time.Now())
	// One amount changed after signing: TaxInclusiveAmount 115.00 → 105.00.
	re := regexp.MustCompile(`(<cbc:TaxInclusiveAmount currencyID="SAR">)[0-9.]+(</cbc:TaxInclusiveAmount>)`)
	if !re.Match(doc.XML) {
		t.Fatal("fixture has no TaxInclusiveAmount")
	}
	doc.XML = re.ReplaceAll(doc.XML, []byte("${1}105.00${2}"))

	rep, err := s.client.Report(context.Background(), e.production, doc)
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	if rep.HTTPStatus != 400 || rep.Status != zatca.Rejected || rep.ReportingStatus != "NOT_REPORTED" ||
		rep.ValidationResults.Status != "ERROR" {
		t.Fatalf("tampered report = %+v", rep)
	}
	got := codes(rep.ValidationResults)
	// The hash no longer matches the body, the QR's tag 6 or the totals; PayableAmount
	// (unchanged) now differs from TaxInclusiveAmount.
	for _, want := range []string{"E:invalid-invoice-hash", "E:invoiceHash_QRCODE_INVALID", "E:BR-CO-15", "W:BR-CO-16"} {
		if !slices.Contains(got, want) {
			t.Errorf("codes %v lack %s", got, want)
		}
	}
	for _, m := range rep.ValidationResults.Errors {
		if m.Code == "invalid-invoice-hash" && (m.Category != "INVOICE_HASHING_ERRORS" ||
			m.Message != "The invoice hash API body does not match the (calculated) Hash of the XML") {
			t.Errorf("hash error = %+v", m)
		}
	}
	// A rejection is never stored as reported: resending the same bytes is rejected
	// again, not 409.
	rep2, err := s.client.Report(context.Background(), e.production, doc)
	if err != nil || rep2.Status != zatca.Rejected {
		t.Fatalf("resent rejected document: %v %+v", err, rep2)
	}
}

func TestReportDuplicateAndLate(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()
	doc := e.doc(t, "01-cash-single-line.json", time.Now())
	rep, err := s.client.Report(ctx, e.production, doc)
	if err != nil || rep.Status != zatca.Reported {
		t.Fatalf("first report: %v %+v", err, rep)
	}
	dup, err := s.client.Report(ctx, e.production, doc)
	if err != nil {
		t.Fatalf("duplicate: %v", err)
	}
	if dup.HTTPStatus != 409 || dup.Status != zatca.AlreadyReported || !dup.Status.Accepted() ||
		len(dup.ValidationResults.Errors) != 1 ||
		dup.ValidationResults.Errors[0].Message != "Invoice was already Reported successfully earlier." {
		t.Fatalf("duplicate = %+v (%s)", dup, dup.Raw)
	}

	// Issued 25 hours ago (KSA time), reported now: 202 with BR-KSA-98.
	late := e.doc(t, "02-mixed-categories.json", time.Now().Add(-25*time.Hour))
	rep, err = s.client.Report(ctx, e.production, late)
	if err != nil {
		t.Fatalf("late report: %v", err)
	}
	if rep.HTTPStatus != 202 || rep.Status != zatca.ReportedWithWarnings || rep.ReportingStatus != "REPORTED" ||
		!rep.ValidationResults.HasCode("BR-KSA-98") {
		t.Fatalf("late report = %+v", rep)
	}
	for _, m := range rep.ValidationResults.Warnings {
		if m.Code == "BR-KSA-98" && !strings.Contains(m.Message, "within 24 hours") {
			t.Errorf("BR-KSA-98 message = %q", m.Message)
		}
	}

	// The same document 23 hours after issue is on time.
	onTime := e.doc(t, "01-cash-single-line.json", time.Now().Add(-23*time.Hour))
	if rep, err := s.client.Report(ctx, e.production, onTime); err != nil || rep.Status != zatca.Reported {
		t.Fatalf("report at 23 h: %v %+v", err, rep)
	}

	// Moving the simulator's clock makes an on-time document late.
	next := e.doc(t, "01-cash-single-line.json", time.Now())
	if err := s.srv.AdvanceClock(ctx, 24*time.Hour+time.Minute); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.client.Report(ctx, e.production, next); err != nil || !rep.ValidationResults.HasCode("BR-KSA-98") {
		t.Fatalf("report after moving the clock: %v %+v", err, rep)
	}
}

func TestReportChainContinuity(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()
	d1 := e.doc(t, "01-cash-single-line.json", time.Now())
	d2 := e.doc(t, "01-cash-single-line.json", time.Now())
	d3 := e.doc(t, "01-cash-single-line.json", time.Now())
	// Out of order is accepted without a warning.
	for _, d := range []zatca.Document{d3, d1, d2} {
		rep, err := s.client.Report(ctx, e.production, d)
		if err != nil || rep.Status != zatca.Reported {
			t.Fatalf("report: %v %+v", err, rep)
		}
	}
	// A document whose PIH is not the previous document's hash: accepted with a warning.
	e.pih = d1.InvoiceHash
	d4 := e.doc(t, "01-cash-single-line.json", time.Now())
	rep, err := s.client.Report(ctx, e.production, d4)
	if err != nil {
		t.Fatal(err)
	}
	if rep.HTTPStatus != 202 || !rep.ValidationResults.HasCode("invalid-previous-invoice-hash") {
		t.Fatalf("broken chain = %+v", rep)
	}
}

func TestReportWrongSignerOrVAT(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()

	// A document signed by another onboarded EGS, reported with e's valid credentials:
	// the document is rejected (400, never resent); the credentials stay good (no 401,
	// which would pause e's whole queue for one document).
	other := newEGS(t, "0100")
	other.onboard(t, s)
	doc := other.doc(t, "01-cash-single-line.json", time.Now())
	rep, err := s.client.Report(ctx, e.production, doc)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != zatca.Rejected || !rep.ValidationResults.HasCode("certificate-permissions") {
		t.Fatalf("other EGS's certificate = %+v", codes(rep.ValidationResults))
	}

	// A seller VAT different from the certificate's UID.
	e.seller.VATNumber = "300000000000003"
	doc = e.doc(t, "01-cash-single-line.json", time.Now())
	rep, err = s.client.Report(ctx, e.production, doc)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != zatca.Rejected || !rep.ValidationResults.HasCode("certificate-permissions") {
		t.Fatalf("VAT mismatch = %+v", codes(rep.ValidationResults))
	}
}

func TestRevokedCSID(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()
	doc := e.doc(t, "01-cash-single-line.json", time.Now())
	devs, err := s.srv.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prod := devs[0].CSIDs[1]
	if err := s.srv.RevokeCSID(ctx, prod.RequestID); err != nil {
		t.Fatal(err)
	}
	_, err = s.client.Report(ctx, e.production, doc)
	ae := wantAPIError(t, err, 401, "", "")
	if !ae.PausesQueue() || ae.Retryable() || ae.Permanent() {
		t.Errorf("401: disposition %v", ae.Disposition())
	}
	if !strings.Contains(string(ae.Body), "revoked") {
		t.Errorf("401 body = %s", ae.Body)
	}
	if err := s.srv.RevokeCSID(ctx, 42); err == nil {
		t.Error("revoking an unknown CSID succeeded")
	}
}

func TestWrongAcceptVersion(t *testing.T) {
	s, e := onboarded(t)
	doc := e.doc(t, "01-cash-single-line.json", time.Now())
	for _, v := range []string{"", "v2", "V1", "V3"} {
		h := map[string]string{"Content-Type": "application/json"}
		if v != "" {
			h["Accept-Version"] = v
		}
		req := rawRequestAuth(t, s, "/invoices/reporting/single", h, e.production, doc)
		if req.status != 406 || req.body != "This Version is not supported or not provided in the header." ||
			!strings.HasPrefix(req.header.Get("Content-Type"), "text/plain") {
			t.Errorf("Accept-Version %q: %d %q %q", v, req.status, req.header.Get("Content-Type"), req.body)
		}
	}
	// The 406 path stored nothing: the document reports normally afterwards.
	if rep, err := s.client.Report(context.Background(), e.production, doc); err != nil || rep.Status != zatca.Reported {
		t.Fatalf("report after 406s: %v %+v", err, rep)
	}
}

func TestAuthErrors(t *testing.T) {
	s, e := onboarded(t)
	doc := e.doc(t, "01-cash-single-line.json", time.Now())
	h := map[string]string{"Accept-Version": "V2", "Clearance-Status": "0"}
	cases := map[string]zatca.Credentials{
		"wrong secret":           {Token: e.production.Token, Secret: "nope"},
		"token encoded again":    {Token: b64(e.production.Token), Secret: e.production.Secret},
		"compliance credentials": e.compliance,
	}
	for name, creds := range cases {
		if rep := rawRequestAuth(t, s, "/invoices/reporting/single", h, creds, doc); rep.status != 401 {
			t.Errorf("%s: %d %s", name, rep.status, rep.body)
		}
	}
	if rep := rawPost(t, s, "/invoices/reporting/single", h, "{}"); rep.status != 401 {
		t.Errorf("no credentials: %d", rep.status)
	}
}

func TestRenewal(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()
	oldProd := e.production

	// Same key: refused.
	otps, _ := s.srv.GenerateOTPs(ctx, testVAT, 4)
	_, err := s.client.RenewProductionCSID(ctx, e.production, otps[0].Code, e.csrPEM(t))
	wantAPIError(t, err, 400, "Invalid-CSR", "new stamping key")

	// 200: a new production CSID for a new key; the old one stops working.
	oldDoc := e.doc(t, "01-cash-single-line.json", time.Now()) // signed with the old certificate
	e.rotateKey(t)
	res, err := s.client.RenewProductionCSID(ctx, e.production, otps[0].Code, e.csrPEM(t))
	if err != nil {
		t.Fatalf("renewal: %v", err)
	}
	if res.HTTPStatus != 200 || res.NotCompliant() || res.DispositionMessage != "ISSUED" {
		t.Fatalf("renewal = %+v", res)
	}
	e.production = res.Credentials
	e.useCredentials(t, res.Credentials)
	if _, err := s.client.Report(ctx, oldProd, e.doc(t, "01-cash-single-line.json", time.Now())); err == nil {
		t.Fatal("the superseded CSID still reports")
	} else {
		wantAPIError(t, err, 401, "", "")
	}
	// A document signed before the renewal is still accepted with the new credentials.
	if rep, err := s.client.Report(ctx, e.production, oldDoc); err != nil || rep.Status != zatca.Reported {
		t.Fatalf("report of a document signed before the renewal: %v %+v", err, rep)
	}

	// 428 NOT_COMPLIANT for this device: a compliance CSID that must pass the
	// compliance checks before the production CSID is issued.
	devs, _ := s.srv.Devices(ctx)
	if err := s.srv.SetRenewalNotCompliant(ctx, devs[0].ID, true); err != nil {
		t.Fatal(err)
	}
	during := e.doc(t, "01-cash-single-line.json", time.Now()) // signed with the current key
	e.rotateKey(t)
	res, err = s.client.RenewProductionCSID(ctx, e.production, otps[1].Code, e.csrPEM(t))
	if err != nil {
		t.Fatalf("renewal 428: %v", err)
	}
	if res.HTTPStatus != 428 || !res.NotCompliant() || res.DispositionMessage != "NOT_COMPLIANT" {
		t.Fatalf("renewal = %+v", res)
	}
	comp := res.Credentials
	// The current production CSID keeps working until the new one is issued.
	if rep, err := s.client.Report(ctx, e.production, during); err != nil || rep.Status != zatca.Reported {
		t.Fatalf("report during NOT_COMPLIANT renewal: %v %+v", err, rep)
	}
	_, err = s.client.ProductionCSID(ctx, comp, res.RequestID)
	wantAPIError(t, err, 400, "Missing-ComplianceSteps", "")
	e.useCredentials(t, comp)
	e.passCompliance(t, s, comp)
	pres, err := s.client.ProductionCSID(ctx, comp, res.RequestID)
	if err != nil {
		t.Fatalf("production CSID after 428: %v", err)
	}
	prev := e.production
	e.production = pres.Credentials
	e.useCredentials(t, pres.Credentials)
	if rep, err := s.client.Report(ctx, e.production, e.doc(t, "01-cash-single-line.json", time.Now())); err != nil || rep.Status != zatca.Reported {
		t.Fatalf("report with the renewed CSID: %v %+v", err, rep)
	}
	if _, err := s.client.Report(ctx, prev, e.doc(t, "01-cash-single-line.json", time.Now())); err == nil {
		t.Fatal("the CSID replaced after 428 still reports")
	}

	// Forced by the admin for every device.
	if err := s.srv.SetRenewalNotCompliant(ctx, devs[0].ID, false); err != nil {
		t.Fatal(err)
	}
	if err := s.srv.ForceRenewalNotCompliant(ctx, true); err != nil {
		t.Fatal(err)
	}
	e.rotateKey(t)
	res, err = s.client.RenewProductionCSID(ctx, e.production, otps[2].Code, e.csrPEM(t))
	if err != nil || !res.NotCompliant() {
		t.Fatalf("forced NOT_COMPLIANT: %v %+v", err, res)
	}
	// Renewal OTP errors.
	_, err = s.client.RenewProductionCSID(ctx, e.production, "000000", e.csrPEM(t))
	wantAPIError(t, err, 400, "Invalid-OTP", "")
}

func TestStatsAndIssuesCSV(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()
	month := time.Now().In(time.FixedZone("AST", 3*3600)).Format("2006-01")
	ok := e.doc(t, "01-cash-single-line.json", time.Now())
	late := e.doc(t, "01-cash-single-line.json", time.Now().Add(-30*time.Hour))
	bad := e.doc(t, "01-cash-single-line.json", time.Now())
	bad.InvoiceHash = ok.InvoiceHash
	for _, d := range []zatca.Document{ok, late, bad, ok} {
		if _, err := s.client.Report(ctx, e.production, d); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.srv.Stats(ctx, month)
	if err != nil {
		t.Fatal(err)
	}
	want := []fatoorasim.MonthStats{{Month: month, Accepted: 1, AcceptedWithWarnings: 1, Rejected: 1, Duplicates: 1}}
	if !slices.Equal(st, want) {
		t.Fatalf("stats = %+v, want %+v", st, want)
	}
	if _, err := s.srv.Stats(ctx, "2026-13"); err == nil {
		t.Error("month 2026-13 accepted")
	}
	var buf bytes.Buffer
	if err := s.srv.WriteIssuesCSV(ctx, &buf, month); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], fatoorasim.IssuesCSVHeader) {
		t.Fatalf("header = %v", recs[0])
	}
	var got []string
	for _, r := range recs[1:] {
		if r[1] == "reporting" {
			got = append(got, r[9]+":"+r[10])
		}
	}
	if !slices.Contains(got, "WARNING:BR-KSA-98") || !slices.Contains(got, "ERROR:invalid-invoice-hash") {
		t.Fatalf("csv issues = %v", got)
	}
}

// TestRestartKeepsState: CA, CSIDs, reported invoices and the clock survive a restart.
func TestRestartKeepsState(t *testing.T) {
	o := fatoorasim.DefaultOptions()
	o.Dir = t.TempDir()
	o.Logger = testLogger(t)
	s := startSimIn(t, o)
	e := newEGS(t, "0100")
	e.onboard(t, s)
	ctx := context.Background()
	doc := e.doc(t, "01-cash-single-line.json", time.Now())
	if rep, err := s.client.Report(ctx, e.production, doc); err != nil || rep.Status != zatca.Reported {
		t.Fatal(err, rep)
	}
	if err := s.srv.SetClockOffset(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	s.http.Close()
	if err := s.srv.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := startSimIn(t, o)
	if got := s2.srv.ClockOffset(); got != time.Minute {
		t.Errorf("clock offset after restart = %v", got)
	}
	rep, err := s2.client.Report(ctx, e.production, doc)
	if err != nil || rep.Status != zatca.AlreadyReported {
		t.Fatalf("duplicate after restart: %v %+v", err, rep)
	}
	if rep, err := s2.client.Report(ctx, e.production, e.doc(t, "01-cash-single-line.json", time.Now())); err != nil || rep.Status != zatca.Reported {
		t.Fatalf("report after restart (same CA, same CSID): %v %+v", err, rep)
	}
}
