package localapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/agent/apitype"
)

// fuzzRoutes are the routes whose bodies are decoded. Onboarding and export are left
// out: valid bodies there talk to ZATCA or write files.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/v1/sales"},
	{"POST", "/v1/returns"},
	{"POST", "/v1/debits"},
	{"POST", "/v1/login"},
	{"POST", "/v1/session/pin"},
	{"POST", "/v1/cashiers"},
	{"PUT", "/v1/cashiers/c1/pin"},
	{"POST", "/v1/documents/0b74525d-8deb-41e9-af1c-ea1b1e2d4a52/reprint"},
	{"POST", "/v1/deadletters/0b74525d-8deb-41e9-af1c-ea1b1e2d4a52/correct"},
	{"POST", "/v1/deadletters/INV-000001/resend"},
	{"POST", "/v1/verify"},
}

// FuzzRequestDecoding sends arbitrary bodies to the routes that decode them, through
// the real socket to a real (not onboarded) agent. Whatever the body: no panic, no 5xx,
// every error answer has the JSON error shape, a 400 names at least one field rule, and
// nothing enters the journal.
func FuzzRequestDecoding(f *testing.F) {
	root := agenttest.RepoRoot(f)
	seeds, _ := filepath.Glob(filepath.Join(root, "testdata/sales/*.json"))
	invalid, _ := filepath.Glob(filepath.Join(root, "testdata/sales/invalid/*.json"))
	for i, p := range append(seeds[:min(len(seeds), 6)], invalid...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i%3), b)
	}
	for _, s := range []string{`{"cashier":"admin","pin":"000000"}`, `{"pin":"1","new_pin":"2"}`,
		`{"id":"c2","name":"N","role":"cashier","pin":"4826"}`, `{"pin":"4826"}`, `{}`, ``, `[]`, `null`,
		`{"cashier":5}`, `{"a":1,"a":2}`, "\xff\xfe", `{"lineitems":[{"quantity":1e400}]}`} {
		for r := range fuzzRoutes {
			f.Add(uint8(r), []byte(s))
		}
	}

	a := startAPI(f, apiOptions{env: agenttest.Options{NoPrinter: true}})
	admin := a.Admin(f)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", a.Socket)
	}}}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req, err := http.NewRequest(r.method, "http://posagent"+r.path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+admin.Token())
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, r.path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, resp.StatusCode, raw)
		}
		if resp.StatusCode >= 300 {
			var e apitype.Error
			if err := json.Unmarshal(raw, &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("%s %s: %d answer is not the JSON error shape: %q", r.method, r.path, resp.StatusCode, raw)
			}
			if resp.StatusCode == http.StatusBadRequest {
				if len(e.Fields) == 0 || e.Fields[0].Rule == "" {
					t.Fatalf("%s %s %q: 400 without a field rule: %s", r.method, r.path, body, raw)
				}
			}
		}
		if h, err := a.Env.Store.Head(context.Background()); err != nil || h.ICV != 0 {
			t.Fatalf("the journal changed (ICV %d, %v) on %s %q", h.ICV, err, r.path, body)
		}
	})
}
