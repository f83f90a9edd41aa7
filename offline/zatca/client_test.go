package zatca_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/offline/zatca"
)

// The tests in this file run the client against small scripted servers on loopback
// (ZATCA's body variants that the simulator does not produce: erroMessages, a single
// infoMessages object, other 409 bodies …). The client against the real simulator is
// tested in offline/fatoorasim.

func sdkCredentials(t testing.TB) zatca.Credentials {
	t.Helper()
	text, err := os.ReadFile("../../testdata/zatca/Certificates/cert.pem")
	if err != nil {
		t.Fatal(err)
	}
	return zatca.Credentials{
		Token:  base64.StdEncoding.EncodeToString(bytes.TrimSpace(text)),
		Secret: "Dehvg1fc6RUsNwJfk6KE3aH/K2cvYqTZ/l6ELqWq/0I=",
	}
}

func csrPEM(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/zatca/ApiExamples/compliance-csid-request-example.csr.pem")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testDoc() zatca.Document {
	return zatca.Document{
		UUID:        "3cf5ee18-ee25-44ea-a444-2c37ba7f28be",
		InvoiceHash: "Hss2gNFjBY5OJn/5CEVZSSNUMrSf4QlCMxwsioPN6fA=",
		XML:         []byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Invoice>é</Invoice>\n"),
	}
}

// recorded is one request as the server saw it.
type recorded struct {
	method, path string
	header       http.Header
	body         []byte
}

// scripted serves fixed answers and records the requests.
type scripted struct {
	mu     sync.Mutex
	reqs   []recorded
	status int
	ctype  string
	body   string
	header map[string]string
	delay  time.Duration
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, recorded{r.Method, r.URL.Path, r.Header.Clone(), b})
	status, ctype, body, hdr, delay := s.status, s.ctype, s.body, s.header, s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if ctype == "" {
		ctype = "application/json"
	}
	w.Header().Set("Content-Type", ctype)
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (s *scripted) last(t *testing.T) recorded {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("no request reached the server")
	}
	return s.reqs[len(s.reqs)-1]
}

func newScripted(t *testing.T, status int, body string) (*scripted, *zatca.Client) {
	t.Helper()
	s := &scripted{status: status, body: body}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, newClient(t, hs.URL, 5*time.Second)
}

func newClient(t *testing.T, url string, timeout time.Duration) *zatca.Client {
	t.Helper()
	cfg := zatca.DefaultConfig()
	cfg.Environment = zatca.Custom
	cfg.BaseURL = url
	cfg.Timeout = timeout
	c, err := zatca.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const reportedBody = `{"validationResults":{"infoMessages":[{"type":"INFO","code":"XSD_ZATCA_VALID","category":"XSD validation","message":"Complied with UBL 2.1 standards in line with ZATCA specifications","status":"PASS"}],"warningMessages":[],"errorMessages":[],"status":"PASS"},"reportingStatus":"REPORTED","clearanceStatus":null,"qrSellertStatus":null,"qrBuyertStatus":null}`

func TestReportRequestIsExact(t *testing.T) {
	srv, c := newScripted(t, 200, reportedBody)
	creds := sdkCredentials(t)
	doc := testDoc()
	res, err := c.Report(context.Background(), creds, doc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != zatca.Reported || res.ReportingStatus != "REPORTED" || string(res.Raw) != reportedBody {
		t.Fatalf("result = %+v", res)
	}
	r := srv.last(t)
	if r.method != "POST" || r.path != "/invoices/reporting/single" {
		t.Fatalf("request %s %s", r.method, r.path)
	}
	for k, want := range map[string]string{
		"Accept-Version":   "V2",
		"Accept-Language":  "en",
		"Clearance-Status": "0",
		"Content-Type":     "application/json",
		"Accept":           "application/json",
		// The token is used verbatim as the username.
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(creds.Token+":"+creds.Secret)),
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if r.header.Get("OTP") != "" {
		t.Error("OTP header sent on reporting")
	}
	var body map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body) != 3 || body["invoiceHash"] != doc.InvoiceHash || body["uuid"] != doc.UUID ||
		body["invoice"] != base64.StdEncoding.EncodeToString(doc.XML) {
		t.Fatalf("body = %s", r.body)
	}
}

func TestOnboardingRequestsAreExact(t *testing.T) {
	srv, c := newScripted(t, 200, `{"requestID":1234567890123,"dispositionMessage":"ISSUED","binarySecurityToken":"`+
		sdkCredentials(t).Token+`","secret":"s3cr3t","errors":null}`)
	ctx := context.Background()
	csr := csrPEM(t)

	res, err := c.ComplianceCSID(ctx, "123345", csr)
	if err != nil {
		t.Fatal(err)
	}
	if res.RequestID != "1234567890123" || res.DispositionMessage != "ISSUED" || res.Credentials.Secret != "s3cr3t" {
		t.Fatalf("result = %+v", res)
	}
	r := srv.last(t)
	if r.method != "POST" || r.path != "/compliance" || r.header.Get("OTP") != "123345" ||
		r.header.Get("Authorization") != "" || r.header.Get("Accept-Version") != "V2" {
		t.Fatalf("compliance request: %s %s %v", r.method, r.path, r.header)
	}
	var body map[string]string
	_ = json.Unmarshal(r.body, &body)
	if body["csr"] != base64.StdEncoding.EncodeToString(csr) ||
		!strings.HasPrefix(body["csr"], "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K") {
		t.Fatalf("csr field = %.60s…", body["csr"])
	}

	comp := res.Credentials
	if _, err := c.ProductionCSID(ctx, comp, res.RequestID); err != nil {
		t.Fatal(err)
	}
	r = srv.last(t)
	if r.method != "POST" || r.path != "/production/csids" || string(r.body) != `{"compliance_request_id":"1234567890123"}` ||
		r.header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(comp.Token+":s3cr3t")) {
		t.Fatalf("production request: %s %s %s", r.method, r.path, r.body)
	}

	if _, err := c.RenewProductionCSID(ctx, comp, "654321", csr); err != nil {
		t.Fatal(err)
	}
	r = srv.last(t)
	if r.method != "PATCH" || r.path != "/production/csids" || r.header.Get("OTP") != "654321" {
		t.Fatalf("renewal request: %s %s", r.method, r.path)
	}

	if _, err := c.ComplianceCheck(ctx, comp, testDoc()); err == nil {
		t.Fatal("a CSID body accepted as a compliance result")
	}
	r = srv.last(t)
	if r.path != "/compliance/invoices" || r.header.Get("Clearance-Status") != "" {
		t.Fatalf("compliance check: %s %v", r.path, r.header)
	}

	srv.status, srv.body = 200, `{"clearanceStatus":"CLEARED","clearedInvoice":"`+base64.StdEncoding.EncodeToString([]byte("<x/>"))+`"}`
	cr, err := c.Clear(ctx, comp, testDoc())
	if err != nil || cr.Status != zatca.Cleared || string(cr.ClearedInvoice) != "<x/>" {
		t.Fatalf("clear: %v %+v", err, cr)
	}
	if r = srv.last(t); r.path != "/invoices/clearance/single" || r.header.Get("Clearance-Status") != "1" {
		t.Fatalf("clearance request: %s %v", r.path, r.header)
	}
}

func TestRenewalNotCompliantIsAResult(t *testing.T) {
	_, c := newScripted(t, 428, `{"requestID":"1234567890124","dispositionMessage":"NOT_COMPLIANT","binarySecurityToken":"`+
		sdkCredentials(t).Token+`","secret":"x"}`)
	res, err := c.RenewProductionCSID(context.Background(), sdkCredentials(t), "123456", csrPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	if !res.NotCompliant() || res.HTTPStatus != 428 || res.RequestID != "1234567890124" {
		t.Fatalf("result = %+v", res)
	}
}

func TestLenientValidationResults(t *testing.T) {
	for name, tc := range map[string]struct {
		body          string
		info, w, errs int
		status        string
	}{
		"errorMessages":                   {`{"validationResults":{"errorMessages":[{"code":"BR-KSA-37"}],"status":"ERROR"}}`, 0, 0, 1, "ERROR"},
		"erroMessages (OpenAPI spelling)": {`{"validationResults":{"erroMessages":[{"code":"BR-KSA-37"}],"status":"ERROR"}}`, 0, 0, 1, "ERROR"},
		"both spellings merged":           {`{"validationResults":{"errorMessages":[{"code":"a"}],"erroMessages":[{"code":"b"}]}}`, 0, 0, 2, ""},
		"infoMessages as one object":      {`{"validationResults":{"infoMessages":{"type":"INFO","code":"XSD_ZATCA_VALID","status":"PASS"},"warningMessages":[],"errorMessages":[],"status":"PASS"}}`, 1, 0, 0, "PASS"},
		"null lists and unknown fields":   {`{"validationResults":{"infoMessages":null,"warningMessages":null,"errorMessages":null,"status":"PASS","extra":{"x":1}},"somethingNew":[1,2]}`, 0, 0, 0, "PASS"},
		"numbers as codes":                {`{"validationResults":{"warningMessages":[{"code":98,"message":"late"}],"status":"WARNING"}}`, 0, 1, 0, "WARNING"},
		"null entries skipped":            {`{"validationResults":{"warningMessages":[null,{"code":"BR-KSA-98"}]}}`, 0, 1, 0, ""},
		"message as bare string":          {`{"validationResults":{"errorMessages":["broken"]}}`, 0, 0, 1, ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, c := newScripted(t, 400, tc.body)
			res, err := c.Report(context.Background(), sdkCredentials(t), testDoc())
			if err != nil {
				t.Fatal(err)
			}
			v := res.ValidationResults
			if len(v.Info) != tc.info || len(v.Warnings) != tc.w || len(v.Errors) != tc.errs || v.Status != tc.status {
				t.Fatalf("parsed %+v", v)
			}
		})
	}
	var v zatca.ValidationResults
	if err := json.Unmarshal([]byte(`{"warningMessages":[{"code":"BR-KSA-98"}]}`), &v); err != nil || !v.HasCode("BR-KSA-98") {
		t.Fatalf("HasCode: %v %+v", err, v)
	}
}

func TestReportOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		ctype   string
		body    string
		header  map[string]string
		want    zatca.ReportStatus // 0: an *APIError is expected
		disp    zatca.Disposition
		code    string
		retryIn time.Duration
	}{
		{name: "200", status: 200, body: reportedBody, want: zatca.Reported},
		{name: "202", status: 202, body: `{"validationResults":{"warningMessages":[{"code":"BR-KSA-98"}],"status":"WARNING"},"reportingStatus":"REPORTED"}`, want: zatca.ReportedWithWarnings},
		{name: "200 with warnings", status: 200, body: `{"validationResults":{"warningMessages":[{"code":"BR-KSA-08"}]}}`, want: zatca.ReportedWithWarnings},
		{name: "409 swagger body", status: 409, body: `{"validationResults":{"errorMessages":[{"message":"Invoice was already Reported successfully earlier."}],"status":"ERROR"},"reportingStatus":"NOT_REPORTED"}`, want: zatca.AlreadyReported},
		{name: "409 other body", status: 409, body: `{"message":"Invoice Hash Previously Submitted","reportingStatus":"REPORTED_SUCCESSFULLY_EARLIER"}`, want: zatca.AlreadyReported},
		{name: "409 empty body", status: 409, body: ``, want: zatca.AlreadyReported},
		{name: "400", status: 400, body: `{"validationResults":{"errorMessages":[{"code":"invalid-invoice-hash"}],"status":"ERROR"},"reportingStatus":"NOT_REPORTED"}`, want: zatca.Rejected},
		{name: "401", status: 401, body: ``, disp: zatca.DispositionPauseQueue},
		{name: "403", status: 403, body: ``, disp: zatca.DispositionPauseQueue},
		{name: "404", status: 404, body: `not found`, ctype: "text/plain", disp: zatca.DispositionPauseQueue},
		{name: "406", status: 406, ctype: "text/plain", body: "This Version is not supported or not provided in the header.", disp: zatca.DispositionPauseQueue},
		{name: "413", status: 413, body: `{"code":"413","message":"Request Entity is too large"}`, disp: zatca.DispositionDeadLetter, code: "413"},
		{name: "429", status: 429, body: ``, header: map[string]string{"Retry-After": "7"}, disp: zatca.DispositionRetry, retryIn: 7 * time.Second},
		{name: "500", status: 500, body: `{"errors":[{"code":"Internal","message":"boom"}]}`, disp: zatca.DispositionRetry, code: "Internal"},
		{name: "502", status: 502, body: `<html>bad gateway</html>`, ctype: "text/html", disp: zatca.DispositionRetry},
		{name: "503", status: 503, body: ``, disp: zatca.DispositionRetry},
		{name: "504", status: 504, body: ``, disp: zatca.DispositionRetry},
		{name: "303", status: 303, body: `{"message":"use reporting"}`, disp: zatca.DispositionPauseQueue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := newScripted(t, tc.status, tc.body)
			srv.ctype, srv.header = tc.ctype, tc.header
			res, err := c.Report(context.Background(), sdkCredentials(t), testDoc())
			if tc.want != 0 {
				if err != nil || res.Status != tc.want || res.HTTPStatus != tc.status {
					t.Fatalf("got %v %+v, want %v", err, res, tc.want)
				}
				return
			}
			var ae *zatca.APIError
			if !errors.As(err, &ae) || res != nil {
				t.Fatalf("got %+v %v, want *APIError", res, err)
			}
			if ae.HTTPStatus != tc.status || ae.Disposition() != tc.disp || zatca.DispositionOf(err) != tc.disp {
				t.Fatalf("error %v: status %d disposition %v, want %v", ae, ae.HTTPStatus, ae.Disposition(), tc.disp)
			}
			if tc.code != "" && !ae.HasCode(tc.code) {
				t.Errorf("error %v lacks code %q", ae, tc.code)
			}
			if ae.RetryAfter != tc.retryIn {
				t.Errorf("RetryAfter = %v, want %v", ae.RetryAfter, tc.retryIn)
			}
			if got := ae.Retryable(); got != (tc.disp == zatca.DispositionRetry) {
				t.Errorf("Retryable = %v", got)
			}
			if got := ae.PausesQueue(); got != (tc.disp == zatca.DispositionPauseQueue) {
				t.Errorf("PausesQueue = %v", got)
			}
			if got := ae.Permanent(); got != (tc.disp == zatca.DispositionDeadLetter) {
				t.Errorf("Permanent = %v", got)
			}
		})
	}
}

func TestOnboardingErrorsAreTyped(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		code   string
	}{
		{400, `{"errors":[{"code":"Invalid-OTP","message":"The provided OTP is invalid"}]}`, "Invalid-OTP"},
		{400, `{"code":"Missing-ComplianceSteps","message":"not yet"}`, "Missing-ComplianceSteps"},
		{400, `{"errors":{"code":"Invalid-CSR","message":"bad"}}`, "Invalid-CSR"},
	} {
		_, c := newScripted(t, tc.status, tc.body)
		_, err := c.ComplianceCSID(context.Background(), "123345", csrPEM(t))
		var ae *zatca.APIError
		if !errors.As(err, &ae) || !ae.HasCode(tc.code) || !ae.Permanent() {
			t.Errorf("%s: %v", tc.body, err)
		}
		if ae != nil && ae.Body != nil {
			t.Errorf("onboarding error keeps the body (may carry a secret): %q", ae.Body)
		}
	}
	// A 200 without usable credentials is an error, not a result.
	_, c := newScripted(t, 200, `{"requestID":1,"dispositionMessage":"ISSUED","binarySecurityToken":"%%%","secret":"x"}`)
	if _, err := c.ComplianceCSID(context.Background(), "123345", csrPEM(t)); err == nil {
		t.Fatal("malformed token accepted")
	}
}

func TestInputIsCheckedBeforeSending(t *testing.T) {
	srv, c := newScripted(t, 200, reportedBody)
	ctx := context.Background()
	creds := sdkCredentials(t)
	good := testDoc()
	for name, call := range map[string]func() error{
		"empty uuid":  func() error { d := good; d.UUID = " "; _, err := c.Report(ctx, creds, d); return err },
		"hash not 32": func() error { d := good; d.InvoiceHash = "AAAA"; _, err := c.Report(ctx, creds, d); return err },
		"hash hex": func() error {
			d := good
			d.InvoiceHash = strings.Repeat("ab", 32)
			_, err := c.Report(ctx, creds, d)
			return err
		},
		"empty xml": func() error { d := good; d.XML = nil; _, err := c.Report(ctx, creds, d); return err },
		"xml too large": func() error {
			d := good
			d.XML = make([]byte, zatca.MaxDocumentBytes+1)
			_, err := c.Report(ctx, creds, d)
			return err
		},
		"otp letters":   func() error { _, err := c.ComplianceCSID(ctx, "12a456", csrPEM(t)); return err },
		"csr not PEM":   func() error { _, err := c.ComplianceCSID(ctx, "123456", []byte("MIIB")); return err },
		"no request id": func() error { _, err := c.ProductionCSID(ctx, creds, ""); return err },
	} {
		err := call()
		if !errors.Is(err, zatca.ErrInvalidRequest) || zatca.DispositionOf(err) != zatca.DispositionDeadLetter {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Bad credentials are the queue's problem, not the document's: they pause the
	// queue instead of dead-lettering the document.
	for name, call := range map[string]func() error{
		"no secret":        func() error { _, err := c.Report(ctx, zatca.Credentials{Token: creds.Token}, good); return err },
		"token re-encoded": func() error { _, err := c.Report(ctx, zatca.Credentials{Token: "%%", Secret: "x"}, good); return err },
	} {
		err := call()
		if !errors.Is(err, zatca.ErrInvalidCredentials) || zatca.DispositionOf(err) != zatca.DispositionPauseQueue {
			t.Errorf("%s: %v (disposition %v)", name, err, zatca.DispositionOf(err))
		}
	}
	if len(srv.reqs) != 0 {
		t.Fatalf("%d invalid requests reached the server", len(srv.reqs))
	}
}

func TestTimeoutAndNetworkErrors(t *testing.T) {
	srv := &scripted{status: 200, body: reportedBody, delay: 5 * time.Second}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c := newClient(t, hs.URL, 200*time.Millisecond)
	_, err := c.Report(context.Background(), sdkCredentials(t), testDoc())
	var ae *zatca.APIError
	if !errors.As(err, &ae) || !ae.Timeout() || !ae.Retryable() || ae.HTTPStatus != 0 {
		t.Fatalf("timeout: %v", err)
	}

	// The caller's own deadline also counts.
	c = newClient(t, hs.URL, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Report(ctx, sdkCredentials(t), testDoc()); !errors.Is(err, context.DeadlineExceeded) ||
		zatca.DispositionOf(err) != zatca.DispositionRetry {
		t.Fatalf("caller deadline: %v", err)
	}

	// Nothing listening.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c = newClient(t, "http://"+addr, time.Second)
	_, err = c.Report(context.Background(), sdkCredentials(t), testDoc())
	if !errors.As(err, &ae) || ae.HTTPStatus != 0 || ae.Timeout() || !ae.Retryable() {
		t.Fatalf("connection refused: %v", err)
	}
}

func TestTLSWithGivenCA(t *testing.T) {
	hs := httptest.NewTLSServer(&scripted{status: 200, body: reportedBody})
	defer hs.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw})

	cfg := zatca.DefaultConfig()
	cfg.Environment = zatca.Custom
	cfg.BaseURL = hs.URL
	cfg.CACertPEM = caPEM
	c, err := zatca.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.Report(context.Background(), sdkCredentials(t), testDoc()); err != nil || res.Status != zatca.Reported {
		t.Fatalf("with the CA: %v", err)
	}

	// System roots do not know the test server: a configuration problem, not an outage.
	cfg.CACertPEM = nil
	c, err = zatca.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Report(context.Background(), sdkCredentials(t), testDoc())
	var ae *zatca.APIError
	if !errors.As(err, &ae) || !ae.PausesQueue() {
		t.Fatalf("unknown CA: %v", err)
	}
}

func TestCredentialsNeverShowTheSecret(t *testing.T) {
	creds := sdkCredentials(t)
	creds.Secret = "TOP-SECRET-VALUE"
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		out = append(out, fmt.Sprintf(verb, creds))
	}
	out = append(out, fmt.Sprint(creds), fmt.Sprintf("%v", &creds), fmt.Sprintf("%+v", struct{ C zatca.Credentials }{creds}))
	j, err := json.Marshal(creds)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(j))
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("creds", "c", creds)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("creds", "c", creds)
	out = append(out, logBuf.String())
	for _, s := range out {
		if strings.Contains(s, "TOP-SECRET") || strings.Contains(s, fmt.Sprintf("%x", "TOP-SECRET")) {
			t.Errorf("secret leaked: %s", s)
		}
	}
	if !strings.Contains(string(j), creds.Token) {
		t.Errorf("JSON lost the token: %s", j)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := zatca.DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*zatca.Config){
		"unknown environment":  func(c *zatca.Config) { c.Environment = "staging" },
		"custom without URL":   func(c *zatca.Config) { c.Environment = zatca.Custom },
		"custom plain http":    func(c *zatca.Config) { c.Environment = zatca.Custom; c.BaseURL = "http://example.com" },
		"custom ftp":           func(c *zatca.Config) { c.Environment = zatca.Custom; c.BaseURL = "ftp://127.0.0.1" },
		"custom with query":    func(c *zatca.Config) { c.Environment = zatca.Custom; c.BaseURL = "https://h/x?y=1" },
		"zero timeout":         func(c *zatca.Config) { c.Timeout = 0 },
		"language fr":          func(c *zatca.Config) { c.Language = "fr" },
		"CA PEM without certs": func(c *zatca.Config) { c.CACertPEM = []byte("nope") },
		"no response limit":    func(c *zatca.Config) { c.MaxResponseBytes = 0 },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := zatca.New(c, nil); err == nil {
			t.Errorf("%s: New accepted", name)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8443", "http://localhost:1", "http://[::1]:2", "https://sim.example/e-invoicing/simulation"} {
		c := ok
		c.Environment, c.BaseURL = zatca.Custom, u
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for env, want := range map[zatca.Environment]string{
		zatca.Sandbox:    "https://gw-fatoora.zatca.gov.sa/e-invoicing/developer-portal",
		zatca.Simulation: "https://gw-fatoora.zatca.gov.sa/e-invoicing/simulation",
		zatca.Production: "https://gw-fatoora.zatca.gov.sa/e-invoicing/core",
	} {
		if env.BaseURL() != want {
			t.Errorf("%s: %s", env, env.BaseURL())
		}
		if e, err := zatca.ParseEnvironment(string(env)); err != nil || e != env {
			t.Errorf("ParseEnvironment(%s) = %v %v", env, e, err)
		}
	}
	if _, err := zatca.ParseEnvironment("core"); err == nil {
		t.Error("ParseEnvironment accepted core")
	}
}

func TestCredentialsCertificate(t *testing.T) {
	creds := sdkCredentials(t)
	text, err := creds.CertificateBase64()
	if err != nil || !strings.HasPrefix(text, "MIID3jCCA4Sg") {
		t.Fatalf("CertificateBase64 = %.20q %v", text, err)
	}
	der, err := creds.CertificateDER()
	if err != nil || der[0] != 0x30 {
		t.Fatalf("CertificateDER: %v", err)
	}
	if (zatca.Credentials{}).IsZero() != true || creds.IsZero() {
		t.Error("IsZero")
	}
}
