package offline_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/offline"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/offlinetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The portal-like statistics and the CSV of ZATCA's errors and warnings,
// computed from the journal's attempts: a late document (BR-KSA-98), a
// rejected one, the next one (whose PIH is the rejected one's hash), and one
// that met a 429 first. The CSV is compared byte for byte with
// testdata/issues.csv (go test -update rewrites it).
func TestStatisticsAndIssuesCSV(t *testing.T) {
	clock := offlinetest.NewClock(t0)
	h := newHarness(t, harnessOptions{clock: clock})
	ctx := context.Background()
	h.issue(0, clock.Now(), nil) // reported after 25 hours: late
	clock.Set(t0.Add(24*time.Hour + 30*time.Minute))
	h.issue(1, clock.Now(), tamperAmount) // rejected
	h.issue(2, clock.Now(), nil)          // PIH is the rejected document's hash
	clock.Advance(time.Minute)
	h.issue(3, clock.Now(), nil) // meets a 429 first
	clock.Set(t0.Add(25 * time.Hour))

	cfg := offline.DefaultConfig()
	cfg.RateLimit = 0
	cfg.Concurrency = 1 // one at a time: the 429 lands on ICV 1, deterministically
	cfg.Jitter = 0      // and the retry times are exact
	w := h.newWorker(cfg, nil)
	if _, err := h.sim.AddFault(fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultStatus,
		Status: 429, Times: 1}); err != nil {
		t.Fatal(err)
	}
	start(t, w)
	w.Kick()
	drive(t, h, w, clock, 2*time.Minute, h.allFinal)

	ms, err := w.MonthlyStats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []offline.MonthStats{{Month: "2026-12", Issued: 4, Accepted: 1, AcceptedWithWarnings: 2, Rejected: 1, Late: 1}}
	if len(ms) != 1 || ms[0] != want[0] {
		t.Errorf("monthly stats %+v, want %+v", ms, want)
	}
	if ms, err := offline.MonthlyStats(ctx, h.db, "2026-11"); err != nil || len(ms) != 0 {
		t.Errorf("November: %+v %v, want nothing", ms, err)
	}
	for _, bad := range []string{"2026-13", "2026-1", "december"} {
		if _, err := offline.MonthlyStats(ctx, h.db, bad); !errors.Is(err, offline.ErrInvalidInput) {
			t.Errorf("month %q: %v, want ErrInvalidInput", bad, err)
		}
		if err := offline.WriteIssuesCSV(ctx, &bytes.Buffer{}, h.db, bad); !errors.Is(err, offline.ErrInvalidInput) {
			t.Errorf("CSV month %q: %v, want ErrInvalidInput", bad, err)
		}
	}

	var buf bytes.Buffer
	if err := w.WriteIssuesCSV(ctx, &buf, "2026-12"); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{",429,", "BR-KSA-98", "invalid-invoice-hash", "KSA-13"} {
		if !strings.Contains(buf.String(), code) {
			t.Errorf("CSV lacks %s:\n%s", code, buf.String())
		}
	}
	golden := filepath.Join("testdata", "issues.csv")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantCSV, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), wantCSV) {
		t.Errorf("issues CSV differs from %s:\n--- got\n%s--- want\n%s", golden, buf.String(), wantCSV)
	}
	var nov bytes.Buffer
	if err := w.WriteIssuesCSV(ctx, &nov, "2026-11"); err != nil || nov.String() != strings.Join(offline.IssuesCSVHeader, ",")+"\n" {
		t.Errorf("November CSV %q %v, want the header only", nov.String(), err)
	}
}

// The rate limit holds during catch-up: with 5 documents/s and a burst of
// 5, each second of the clock lets exactly 5 more reports out.
func TestRateLimit(t *testing.T) {
	clock := offlinetest.NewClock(t0)
	h := newHarness(t, harnessOptions{clock: clock})
	const n = 17
	for i := range n {
		h.issue(i, clock.Now(), nil)
	}
	cfg := offline.DefaultConfig()
	cfg.RateLimit, cfg.Burst, cfg.Concurrency = 5, 5, 4
	w := h.newWorker(cfg, nil)
	start(t, w)
	w.Kick()
	for sec := 0; ; sec++ {
		want := min(n, 5*(sec+1))
		waitFor(t, 30*time.Second, "the second's reports", func() bool {
			return h.wire.count() == want && w.Snapshot().InFlight == 0
		})
		time.Sleep(50 * time.Millisecond)
		if got := h.wire.count(); got != want {
			t.Fatalf("after %d s: %d reports, want %d", sec, got, want)
		}
		if want == n {
			break
		}
		clock.Advance(time.Second)
	}
	waitFor(t, 30*time.Second, "every report final", h.allFinal)
	h.checkReportedOnce(h.allDocs())
}

// Run refuses to run twice at once.
func TestRunTwice(t *testing.T) {
	h := newHarness(t, harnessOptions{noOnboard: true})
	w := h.newWorker(fastConfig(), offline.StaticCredentials(h.creds))
	stop := start(t, w)
	waitFor(t, 10*time.Second, "the worker to run", func() bool { return w.Snapshot().Running })
	if err := w.Run(context.Background()); !errors.Is(err, offline.ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
	stop()
	if w.Snapshot().Running {
		t.Errorf("still running after stop")
	}
}
