package fatoorasim_test

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/csr"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/zatca"
)

// TestAdminAPI drives the portal side over HTTP with the AdminClient.
func TestAdminAPI(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()
	adm := admin(s)

	otps, err := adm.GenerateOTPs(ctx, testVAT, 5)
	if err != nil || len(otps) != 5 {
		t.Fatalf("otps: %v %+v", err, otps)
	}
	for _, o := range otps {
		if d := o.ExpiresAt.Sub(o.CreatedAt); d != time.Hour {
			t.Errorf("OTP %s valid for %v", o.Code, d)
		}
	}
	for _, bad := range []struct {
		vat string
		n   int
	}{{"123", 1}, {"399999999900004", 1}, {testVAT, 0}, {testVAT, 101}} {
		if _, err := adm.GenerateOTPs(ctx, bad.vat, bad.n); !errors.Is(err, fatoorasim.ErrInvalidInput) {
			t.Errorf("GenerateOTPs(%q, %d): %v", bad.vat, bad.n, err)
		}
	}
	listed, err := adm.OTPs(ctx, testVAT)
	if err != nil || len(listed) != 6 || listed[5].UsedAt == nil { // the onboarding OTP is used
		t.Fatalf("OTPs = %v %+v", err, listed)
	}

	devs, err := adm.Devices(ctx)
	// Compliance documents are not part of the reported chain.
	if err != nil || len(devs) != 1 || devs[0].VAT != testVAT || devs[0].EGSSerial != e.cfg.SerialNumber ||
		devs[0].LastICV != 0 {
		t.Fatalf("devices = %v %+v", err, devs)
	}
	if err := adm.SetRenewalNotCompliant(ctx, devs[0].ID, true); err != nil {
		t.Fatal(err)
	}
	if err := adm.SetRenewalNotCompliant(ctx, 999, true); !errors.Is(err, fatoorasim.ErrNotFound) {
		t.Errorf("renewal policy of an unknown device: %v", err)
	}
	if err := adm.ForceRenewalNotCompliant(ctx, true); err != nil || !s.srv.RenewalNotCompliantForced() {
		t.Fatalf("force: %v", err)
	}

	// Report one warning and one error, then read stats and the CSV.
	late := e.doc(t, "01-cash-single-line.json", time.Now().Add(-48*time.Hour))
	if rep, err := s.client.Report(ctx, e.production, late); err != nil || rep.Status != zatca.ReportedWithWarnings {
		t.Fatal(err, rep)
	}
	if d, _ := adm.Devices(ctx); len(d) != 1 || d[0].LastICV != 4 || d[0].LastInvoiceHash != late.InvoiceHash {
		t.Errorf("chain head after a report = %+v", d)
	}
	st, err := adm.Stats(ctx, "")
	if err != nil || len(st) != 1 || st[0].AcceptedWithWarnings != 1 {
		t.Fatalf("stats = %v %+v", err, st)
	}
	raw, err := adm.IssuesCSV(ctx, st[0].Month)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("csv: %v %q", err, raw)
	}
	found := false
	for _, r := range recs[1:] {
		if r[10] == "BR-KSA-98" && r[3] == testVAT && r[5] == late.UUID && r[8] == "202" {
			found = true
		}
	}
	if !found {
		t.Errorf("csv lacks the BR-KSA-98 row: %q", raw)
	}
	if _, err := adm.Stats(ctx, "2026-1"); !errors.Is(err, fatoorasim.ErrInvalidInput) {
		t.Errorf("bad month: %v", err)
	}
	if _, err := adm.IssuesCSV(ctx, "nope"); !errors.Is(err, fatoorasim.ErrInvalidInput) {
		t.Errorf("bad month csv: %v", err)
	}

	// Clock: offset, advance, now; exactly one at a time.
	st0, err := adm.Clock(ctx)
	if err != nil || st0.Offset != 0 {
		t.Fatalf("clock: %v %+v", err, st0)
	}
	c1, err := adm.SetClock(ctx, fatoorasim.ClockChange{Offset: ptr(fatoorasim.Duration(time.Hour))})
	if err != nil || time.Duration(c1.Offset) != time.Hour {
		t.Fatalf("offset: %v %+v", err, c1)
	}
	c2, err := adm.SetClock(ctx, fatoorasim.ClockChange{Advance: ptr(fatoorasim.Duration(30 * time.Minute))})
	if err != nil || time.Duration(c2.Offset) != 90*time.Minute {
		t.Fatalf("advance: %v %+v", err, c2)
	}
	target := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c3, err := adm.SetClock(ctx, fatoorasim.ClockChange{Now: &target})
	if err != nil || c3.Now.Sub(target).Abs() > 5*time.Second {
		t.Fatalf("now: %v %+v", err, c3)
	}
	if _, err := adm.SetClock(ctx, fatoorasim.ClockChange{}); !errors.Is(err, fatoorasim.ErrInvalidInput) {
		t.Errorf("empty clock change: %v", err)
	}
	if _, err := adm.SetClock(ctx, fatoorasim.ClockChange{Offset: ptr(fatoorasim.Duration(0)), Now: &target}); !errors.Is(err, fatoorasim.ErrInvalidInput) {
		t.Errorf("two clock changes: %v", err)
	}

	// The CA certificate, to verify issued CSIDs with.
	caPEM, err := adm.CACertificatePEM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := cert.ParsePEMOrBase64(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.signCert.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("production certificate vs CA: %v", err)
	}

	// Revoke through the API; unknown IDs are 404.
	if err := adm.RevokeCSID(ctx, devs[0].CSIDs[1].RequestID); err != nil {
		t.Fatal(err)
	}
	if err := adm.RevokeCSID(ctx, 1); !errors.Is(err, fatoorasim.ErrNotFound) {
		t.Errorf("revoke unknown: %v", err)
	}
	// Strict JSON on the admin API.
	resp := rawRequest(t, s, http.MethodPost, "/admin/otps", map[string]string{"Content-Type": "application/json"}, `{"vat":"`+testVAT+`","count":1,"extra":true}`)
	if resp.status != 400 {
		t.Errorf("unknown admin field: %d %s", resp.status, resp.body)
	}
}

func TestClearance(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	e := newEGS(t, "1100")
	otps, _ := s.srv.GenerateOTPs(ctx, testVAT, 1)
	res, err := s.client.ComplianceCSID(ctx, otps[0].Code, e.csrPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	e.compliance, e.complianceID = res.Credentials, res.RequestID
	e.useCredentials(t, res.Credentials)
	e.passCompliance(t, s, e.compliance)
	// The three standard documents: compliance answers with clearanceStatus.
	for _, f := range []string{"01-cash-single-line.json", "09-credit-note.json", "10-debit-note.json"} {
		cr, err := s.client.ComplianceCheck(ctx, e.compliance, e.standardDoc(t, f, time.Now()))
		if err != nil || !cr.Passed || cr.ClearanceStatus != "CLEARED" || cr.ReportingStatus != "" {
			t.Fatalf("standard compliance %s: %v %+v", f, err, cr)
		}
	}
	pres, err := s.client.ProductionCSID(ctx, e.compliance, e.complianceID)
	if err != nil {
		t.Fatalf("production CSID after six steps: %v", err)
	}
	e.production = pres.Credentials
	e.useCredentials(t, pres.Credentials)

	// Simplified documents are not cleared: 303 as ZATCA, which pauses the queue.
	_, err = s.client.Clear(ctx, e.production, e.doc(t, "01-cash-single-line.json", time.Now()))
	ae := wantAPIError(t, err, 303, "", "")
	if !ae.PausesQueue() || !strings.Contains(string(ae.Body), "Clearance is deactiviated") {
		t.Fatalf("303: %v %s", ae, ae.Body)
	}
	std := e.standardDoc(t, "02-mixed-categories.json", time.Now())
	cr, err := s.client.Clear(ctx, e.production, std)
	if err != nil || cr.Status != zatca.Cleared || cr.ClearanceStatus != "CLEARED" || string(cr.ClearedInvoice) != string(std.XML) {
		t.Fatalf("clear standard: %v %+v", err, cr)
	}
	again, err := s.client.Clear(ctx, e.production, std)
	if err != nil || again.Status != zatca.AlreadyCleared || again.HTTPStatus != 208 {
		t.Fatalf("clear twice: %v %+v", err, again)
	}
	// A standard document on the reporting endpoint is rejected.
	rep, err := s.client.Report(ctx, e.production, e.standardDoc(t, "01-cash-single-line.json", time.Now()))
	if err != nil || rep.Status != zatca.Rejected || !rep.ValidationResults.HasCode("invalid-invoice-type") {
		t.Fatalf("standard reported: %v %+v", err, rep)
	}
}

func TestRequestLimitsAndPaths(t *testing.T) {
	s, e := onboarded(t, func(o *fatoorasim.Options) { o.MaxBodyBytes = 64 << 10 })
	ctx := context.Background()
	big := e.doc(t, "13-hundred-lines.json", time.Now())
	if len(big.XML)*4/3 < 64<<10 {
		t.Fatalf("fixture too small for the limit: %d bytes", len(big.XML))
	}
	_, err := s.client.Report(ctx, e.production, big)
	if ae := wantAPIError(t, err, 413, "", ""); !ae.Permanent() {
		t.Errorf("413 disposition = %v", ae.Disposition())
	}

	// ZATCA's URL prefix for the environment works like the root.
	cl := newPrefixedClient(t, s, "/e-invoicing/simulation")
	if rep, err := cl.Report(ctx, e.production, e.doc(t, "01-cash-single-line.json", time.Now())); err != nil || rep.Status != zatca.Reported {
		t.Fatalf("prefixed report: %v %+v", err, rep)
	}
	if rep := rawPost(t, s, "/e-invoicing/core/invoices/reporting/single", nil, "{}"); rep.status != 404 {
		t.Errorf("another environment's prefix: %d", rep.status)
	}
	if rep := rawRequest(t, s, http.MethodGet, "/invoices/reporting/single", nil, ""); rep.status != 405 {
		t.Errorf("GET reporting: %d", rep.status)
	}
}

func newPrefixedClient(t *testing.T, s *sim, prefix string) *zatca.Client {
	t.Helper()
	cfg := zatca.DefaultConfig()
	cfg.Environment, cfg.BaseURL = zatca.Custom, s.http.URL+prefix
	cl, err := zatca.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	return cl
}

func TestCSRCurveAndOptions(t *testing.T) {
	if _, err := fatoorasim.New(fatoorasim.Options{}); err == nil {
		t.Fatal("New accepted empty options")
	}
	o := fatoorasim.DefaultOptions()
	o.Dir = t.TempDir()
	o.Env = csr.EnvUnset
	if _, err := fatoorasim.New(o); err == nil {
		t.Fatal("New accepted env staging")
	}

	// A P-256 CSR: Invalid-CSR unless AcceptP256.
	p256CSR := func(t *testing.T) []byte {
		e := newEGS(t, "0100")
		key := newP256Signer(t)
		der, err := csr.Create(e.cfg, key)
		if err != nil {
			t.Fatal(err)
		}
		return csr.PEM(der)
	}
	s := startSim(t, func(o *fatoorasim.Options) { o.SandboxOTPs = true })
	_, err := s.client.ComplianceCSID(context.Background(), "123345", p256CSR(t))
	wantAPIError(t, err, 400, "Invalid-CSR", "secp256k1")
	s2 := startSim(t, func(o *fatoorasim.Options) { o.SandboxOTPs = true; o.AcceptP256 = true })
	res, err := s2.client.ComplianceCSID(context.Background(), "123345", p256CSR(t))
	if err != nil {
		t.Fatalf("P-256 with AcceptP256: %v", err)
	}
	der, _ := res.Credentials.CertificateDER()
	if c, err := cert.Parse(der); err != nil || c.Curve != cert.P256 {
		t.Fatalf("P-256 certificate: %v", err)
	}
}

func TestClosedServerAnswers503(t *testing.T) {
	s := startSim(t)
	if err := s.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	rep := rawPost(t, s, "/compliance", map[string]string{"Accept-Version": "V2"}, "{}")
	if rep.status != 503 {
		t.Fatalf("after Close: %d %s", rep.status, rep.body)
	}
	if rep := rawRequest(t, s, http.MethodGet, "/admin/devices", nil, ""); rep.status != 503 {
		t.Fatalf("admin after Close: %d", rep.status)
	}
}
