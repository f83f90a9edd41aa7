package fatoorasim_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/csr"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/zatca"
)

// TestOnboardingToFirstReport is the whole EGS life: CSR → OTP → compliance CSID → the
// three simplified compliance documents → production CSID → a reported invoice.
func TestOnboardingToFirstReport(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	e := newEGS(t, "0100")

	otps, err := s.srv.GenerateOTPs(ctx, testVAT, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(otps) != 3 || len(otps[0].Code) != 6 {
		t.Fatalf("otps = %+v", otps)
	}
	res, err := s.client.ComplianceCSID(ctx, otps[1].Code, e.csrPEM(t))
	if err != nil {
		t.Fatalf("ComplianceCSID: %v", err)
	}
	if res.HTTPStatus != 200 || res.DispositionMessage != "ISSUED" || len(res.RequestID) != 13 {
		t.Fatalf("compliance CSID result = %+v", res)
	}
	// The certificate is shaped like ZATCA's: subject and SAN from the CSR, secp256k1,
	// issued by the simulator's CA with a Java-style DC issuer name.
	der, err := res.Credentials.CertificateDER()
	if err != nil {
		t.Fatal(err)
	}
	c, err := cert.Parse(der)
	if err != nil {
		t.Fatalf("issued certificate does not parse: %v", err)
	}
	if got := c.Subject.Get(cert.OIDCommonName); got != e.cfg.CommonName {
		t.Errorf("subject CN = %q, want %q", got, e.cfg.CommonName)
	}
	if c.SubjectAltName == nil || c.SubjectAltName.VATNumber != testVAT || c.SubjectAltName.InvoiceType != "0100" ||
		c.SubjectAltName.SerialNumber != e.cfg.SerialNumber {
		t.Errorf("SAN = %+v", c.SubjectAltName)
	}
	if c.Curve != cert.Secp256k1 {
		t.Errorf("curve = %v", c.Curve)
	}
	if got, want := c.IssuerName(), "CN=FATOORASIM-EINVOICESCA1-CA, DC=simulation, DC=fatoora-sim, DC=local"; got != want {
		t.Errorf("issuer = %q, want %q", got, want)
	}
	// binarySecurityToken is base64 of the base64 DER text.
	text, _ := base64.StdEncoding.DecodeString(res.Credentials.Token)
	if string(text) != base64.StdEncoding.EncodeToString(der) {
		t.Error("binarySecurityToken is not base64 of the base64 DER")
	}
	e.compliance, e.complianceID = res.Credentials, res.RequestID
	e.useCredentials(t, res.Credentials)

	// The same OTP cannot be used twice.
	_, err = s.client.ComplianceCSID(ctx, otps[1].Code, e.csrPEM(t))
	wantAPIError(t, err, 400, "Invalid-OTP", "The provided OTP is invalid")

	// Production CSID before the compliance steps: refused.
	_, err = s.client.ProductionCSID(ctx, e.compliance, e.complianceID)
	wantAPIError(t, err, 400, "Missing-ComplianceSteps", "simplified-compliant,simplified-credit-note-compliant,simplified-debit-note-compliant")

	// Two of three steps: still refused, naming the missing one.
	for _, f := range []string{"01-cash-single-line.json", "09-credit-note.json"} {
		cr, err := s.client.ComplianceCheck(ctx, e.compliance, e.doc(t, f, time.Now()))
		if err != nil || !cr.Passed || cr.HTTPStatus != 200 {
			t.Fatalf("compliance %s: %v %+v", f, err, cr)
		}
		if cr.ValidationResults.Status != "PASS" || len(cr.ValidationResults.Info) != 1 ||
			cr.ValidationResults.Info[0].Code != "XSD_ZATCA_VALID" {
			t.Errorf("compliance %s validationResults = %+v", f, cr.ValidationResults)
		}
	}
	_, err = s.client.ProductionCSID(ctx, e.compliance, e.complianceID)
	wantAPIError(t, err, 400, "Missing-ComplianceSteps", "[simplified-debit-note-compliant]")

	cr, err := s.client.ComplianceCheck(ctx, e.compliance, e.doc(t, "10-debit-note.json", time.Now()))
	if err != nil || !cr.Passed {
		t.Fatalf("compliance debit note: %v %+v", err, cr)
	}

	// A wrong compliance_request_id.
	_, err = s.client.ProductionCSID(ctx, e.compliance, "1000000000000")
	wantAPIError(t, err, 400, "Invalid-ComplianceRequestId", "")

	pres, err := s.client.ProductionCSID(ctx, e.compliance, e.complianceID)
	if err != nil {
		t.Fatalf("ProductionCSID: %v", err)
	}
	if pres.TokenType != "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3" ||
		pres.DispositionMessage != "ISSUED" || pres.Credentials.Token == e.compliance.Token {
		t.Fatalf("production CSID = %+v", pres)
	}
	e.production = pres.Credentials
	e.useCredentials(t, pres.Credentials)

	// The compliance CSID cannot report; the production CSID cannot do compliance checks.
	_, err = s.client.Report(ctx, e.compliance, e.doc(t, "01-cash-single-line.json", time.Now()))
	wantAPIError(t, err, 401, "", "")

	doc := e.doc(t, "02-mixed-categories.json", time.Now())
	rep, err := s.client.Report(ctx, e.production, doc)
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	if rep.HTTPStatus != 200 || rep.Status != zatca.Reported || rep.ReportingStatus != "REPORTED" ||
		rep.ValidationResults.Status != "PASS" {
		t.Fatalf("report = %+v (%s)", rep, rep.Raw)
	}
	// The body is ZATCA's, misspelt fields included.
	for _, field := range []string{`"qrSellertStatus":null`, `"qrBuyertStatus":null`, `"clearanceStatus":null`, `"warningMessages":[]`} {
		if !strings.Contains(string(rep.Raw), field) {
			t.Errorf("response body lacks %s: %s", field, rep.Raw)
		}
	}

	devs, err := s.srv.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || len(devs[0].CSIDs) != 2 || devs[0].CSIDs[0].Kind != "compliance" ||
		devs[0].CSIDs[1].Kind != "production" || devs[0].CSIDs[1].Status != "active" {
		t.Fatalf("devices = %+v", devs)
	}
	if devs[0].LastInvoiceHash != doc.InvoiceHash {
		t.Errorf("device last hash = %q, want %q", devs[0].LastInvoiceHash, doc.InvoiceHash)
	}
	if got := len(devs[0].CSIDs[0].ComplianceSteps); got != 3 {
		t.Errorf("compliance steps = %v", devs[0].CSIDs[0].ComplianceSteps)
	}
}

// TestOnboardingStandardAndSimplified: title 1100 needs the standard documents too.
func TestOnboardingStandardAndSimplifiedNeedsSixSteps(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	e := newEGS(t, "1100")
	otps, _ := s.srv.GenerateOTPs(ctx, testVAT, 1)
	res, err := s.client.ComplianceCSID(ctx, otps[0].Code, e.csrPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	e.useCredentials(t, res.Credentials)
	e.passCompliance(t, s, res.Credentials)
	_, err = s.client.ProductionCSID(ctx, res.Credentials, res.RequestID)
	wantAPIError(t, err, 400, "Missing-ComplianceSteps", "[standard-compliant,standard-credit-note-compliant,standard-debit-note-compliant]")
}

func TestComplianceCSIDErrors(t *testing.T) {
	s := startSim(t, func(o *fatoorasim.Options) { o.SandboxOTPs = true })
	ctx := context.Background()
	e := newEGS(t, "0100")

	t.Run("missing OTP", func(t *testing.T) {
		_, err := s.client.ComplianceCSID(ctx, "", e.csrPEM(t))
		if !errors.Is(err, zatca.ErrInvalidRequest) {
			t.Fatalf("client sent an empty OTP: %v", err)
		}
		rep := rawPost(t, s, "/compliance", map[string]string{"Accept-Version": "V2"}, `{"csr":"`+base64.StdEncoding.EncodeToString(e.csrPEM(t))+`"}`)
		if rep.status != 400 || !strings.Contains(rep.body, "Missing-OTP") {
			t.Fatalf("no OTP header: %d %s", rep.status, rep.body)
		}
	})
	t.Run("invalid OTP", func(t *testing.T) {
		_, err := s.client.ComplianceCSID(ctx, "654321", e.csrPEM(t))
		wantAPIError(t, err, 400, "Invalid-OTP", "The provided OTP is invalid")
	})
	t.Run("sandbox invalid OTP 111111", func(t *testing.T) {
		_, err := s.client.ComplianceCSID(ctx, "111111", e.csrPEM(t))
		wantAPIError(t, err, 400, "Invalid-OTP", "invalid")
	})
	t.Run("sandbox expired OTP 222222", func(t *testing.T) {
		_, err := s.client.ComplianceCSID(ctx, "222222", e.csrPEM(t))
		wantAPIError(t, err, 400, "Invalid-OTP", "expired")
	})
	t.Run("sandbox valid OTP 123345", func(t *testing.T) {
		if _, err := s.client.ComplianceCSID(ctx, "123345", e.csrPEM(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OTP of another VAT number", func(t *testing.T) {
		otps, _ := s.srv.GenerateOTPs(ctx, "300000000000003", 1)
		_, err := s.client.ComplianceCSID(ctx, otps[0].Code, e.csrPEM(t))
		wantAPIError(t, err, 400, "Invalid-OTP", "")
	})
	t.Run("expired OTP after one hour", func(t *testing.T) {
		otps, _ := s.srv.GenerateOTPs(ctx, testVAT, 2)
		if err := s.srv.AdvanceClock(ctx, 59*time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := s.client.ComplianceCSID(ctx, otps[0].Code, e.csrPEM(t)); err != nil {
			t.Fatalf("OTP at 59 minutes: %v", err)
		}
		if err := s.srv.AdvanceClock(ctx, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		_, err := s.client.ComplianceCSID(ctx, otps[1].Code, e.csrPEM(t))
		wantAPIError(t, err, 400, "Invalid-OTP", "The provided OTP has expired")
		if err := s.srv.SetClockOffset(ctx, 0); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("CSR for another environment", func(t *testing.T) {
		e2 := newEGS(t, "0100")
		e2.cfg.Environment = csr.Production
		otps, _ := s.srv.GenerateOTPs(ctx, testVAT, 1)
		_, err := s.client.ComplianceCSID(ctx, otps[0].Code, e2.csrPEM(t))
		wantAPIError(t, err, 400, "Invalid-CSR", `"ZATCA-Code-Signing" does not match the simulation environment`)
		// The OTP was not used up by the failed request.
		if _, err := s.client.ComplianceCSID(ctx, otps[0].Code, e.csrPEM(t)); err != nil {
			t.Fatalf("OTP after a refused CSR: %v", err)
		}
	})
	t.Run("CSR not base64 of PEM", func(t *testing.T) {
		otps, _ := s.srv.GenerateOTPs(ctx, testVAT, 1)
		rep := rawPost(t, s, "/compliance", map[string]string{"Accept-Version": "V2", "OTP": otps[0].Code},
			`{"csr":"`+strings.ReplaceAll(string(e.csrPEM(t)), "\n", `\n`)+`"}`)
		if rep.status != 400 || !strings.Contains(rep.body, "Invalid-CSR") {
			t.Fatalf("raw PEM in the csr field: %d %s", rep.status, rep.body)
		}
	})
	t.Run("missing CSR", func(t *testing.T) {
		rep := rawPost(t, s, "/compliance", map[string]string{"Accept-Version": "V2", "OTP": "123345"}, `{}`)
		if rep.status != 400 || !strings.Contains(rep.body, "Missing-CSR") {
			t.Fatalf("no csr: %d %s", rep.status, rep.body)
		}
	})
}

// wantAPIError asserts an *APIError with the status, and when given the code and a
// substring of its message.
func wantAPIError(t testing.TB, err error, status int, code, msgPart string) *zatca.APIError {
	t.Helper()
	var ae *zatca.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want *zatca.APIError with HTTP %d", err, status)
	}
	if ae.HTTPStatus != status {
		t.Fatalf("HTTP status = %d, want %d (%v)", ae.HTTPStatus, status, ae)
	}
	if code == "" {
		return ae
	}
	for _, m := range ae.Messages {
		if m.Code == code && strings.Contains(m.Message, msgPart) {
			return ae
		}
	}
	t.Fatalf("error %v lacks code %q with message containing %q", ae, code, msgPart)
	return ae
}

type rawReply struct {
	status int
	header http.Header
	body   string
}

func rawPost(t testing.TB, s *sim, path string, headers map[string]string, body string) rawReply {
	t.Helper()
	return rawRequest(t, s, http.MethodPost, path, headers, body)
}

func rawRequest(t testing.TB, s *sim, method, path string, headers map[string]string, body string) rawReply {
	t.Helper()
	req, err := http.NewRequest(method, s.http.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawReply{resp.StatusCode, resp.Header, string(b)}
}
