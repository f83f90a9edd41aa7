package fatoorasim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/zatca"
)

var fuzzRoutes = []struct{ method, path string }{
	{http.MethodPost, "/compliance"},
	{http.MethodPost, "/compliance/invoices"},
	{http.MethodPost, "/production/csids"},
	{http.MethodPatch, "/production/csids"},
	{http.MethodPost, "/invoices/reporting/single"},
	{http.MethodPost, "/invoices/clearance/single"},
	{http.MethodPost, "/e-invoicing/simulation/invoices/reporting/single"},
	{http.MethodGet, "/invoices/reporting/single"},
	{http.MethodPost, "/nope"},
}

// FuzzSimRequest throws arbitrary bodies, headers and credentials at the EGS API. The
// simulator must never crash, never answer 500, and answer JSON or ZATCA's text/plain.
func FuzzSimRequest(f *testing.F) {
	s := startSim(f, func(o *fatoorasim.Options) { o.SandboxOTPs = true })
	e := newEGS(f, "0100")
	e.onboard(f, s)
	prod := basic(e.production)
	comp := basic(e.compliance)
	doc := e.doc(f, "01-cash-single-line.json", time.Now())
	body := []byte(docBody(doc))
	csrBody, _ := json.Marshal(map[string]string{"csr": b64(string(e.csrPEM(f)))})

	f.Add(uint8(4), "V2", prod, "", body)
	f.Add(uint8(1), "V2", comp, "", body)
	f.Add(uint8(0), "V2", "", "123345", csrBody)
	f.Add(uint8(3), "V2", prod, "123345", csrBody)
	f.Add(uint8(2), "V2", comp, "", []byte(`{"compliance_request_id":"`+e.complianceID+`"}`))
	f.Add(uint8(5), "V2", prod, "", body)
	f.Add(uint8(4), "v2", prod, "", body)
	f.Add(uint8(4), "V2", "Basic !!!", "", []byte(`{"invoice":"PEludm9pY2U+"}`))
	f.Add(uint8(4), "V2", prod, "", []byte(`{"invoiceHash":1,"uuid":[],"invoice":null}`))
	f.Add(uint8(4), "V2", prod, "", bytes.Replace(body, []byte(`"invoice":"`), []byte(`"invoice":"PD94bWwgdmVyc2lvbj0iMS4wIj8+PEludm9pY2U+`), 1))
	f.Add(uint8(0), "V2", "", "12", []byte(`{"csr":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K"}`))

	h := s.srv.EGSHandler()
	allowed := []int{200, 202, 208, 303, 400, 401, 404, 405, 406, 409, 413, 428}
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, route uint8, version, auth, otp string, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
		if version != "" {
			req.Header.Set("Accept-Version", version)
		}
		if auth != "" && !strings.ContainsAny(auth, "\r\n") {
			req.Header.Set("Authorization", auth)
		}
		if otp != "" && !strings.ContainsAny(otp, "\r\n") {
			req.Header.Set("OTP", otp)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		n.Add(1)
		if !slices.Contains(allowed, rec.Code) {
			t.Fatalf("%s %s: HTTP %d %s", r.method, r.path, rec.Code, rec.Body.Bytes())
		}
		ct := rec.Header().Get("Content-Type")
		switch {
		case strings.HasPrefix(ct, "application/json"):
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("invalid JSON body: %q", rec.Body.Bytes())
			}
		case strings.HasPrefix(ct, "text/plain"):
		default:
			t.Fatalf("content type %q", ct)
		}
	})
}

func basic(c zatca.Credentials) string { return "Basic " + b64(c.Token+":"+c.Secret) }
