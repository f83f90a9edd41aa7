package fatoorasim_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden response bodies in testdata/golden/")

// TestGoldenBodies pins the exact bytes of the fixed answers the client depends on
// (SPEC §2.4/§2.5): 406 text, 409 body, onboarding error bodies.
func TestGoldenBodies(t *testing.T) {
	s, e := onboarded(t)
	doc := e.doc(t, "01-cash-single-line.json", time.Now())
	if _, err := s.client.Report(context.Background(), e.production, doc); err != nil {
		t.Fatal(err)
	}
	dup := rawRequestAuth(t, s, "/invoices/reporting/single", map[string]string{"Accept-Version": "V2", "Clearance-Status": "0"}, e.production, doc)
	v406 := rawRequestAuth(t, s, "/invoices/reporting/single", map[string]string{"Accept-Version": "V1"}, e.production, doc)
	otp := rawPost(t, s, "/compliance", map[string]string{"Accept-Version": "V2"}, `{"csr":"x"}`)
	steps := rawRequestAuth(t, s, "/production/csids", map[string]string{"Accept-Version": "V2"}, e.compliance, doc)
	for _, g := range []struct {
		file   string
		status int
		got    rawReply
	}{
		{"reporting-409.json", 409, dup},
		{"reporting-406.txt", 406, v406},
		{"compliance-missing-otp.json", 400, otp},
		{"production-csids-missing-request-id.json", 400, steps},
	} {
		if g.got.status != g.status {
			t.Errorf("%s: HTTP %d, want %d", g.file, g.got.status, g.status)
		}
		path := filepath.Join("testdata", "golden", g.file)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(g.got.body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if g.got.body != string(want) {
			t.Errorf("%s:\ngot  %s\nwant %s", g.file, g.got.body, want)
		}
	}
}
