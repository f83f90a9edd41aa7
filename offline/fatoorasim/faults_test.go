package fatoorasim_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/zatca"
)

func admin(s *sim) *fatoorasim.AdminClient {
	return &fatoorasim.AdminClient{BaseURL: s.http.URL, HTTP: s.http.Client()}
}

func TestFaultStatusCodes(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()
	adm := admin(s)
	for _, status := range []int{429, 500, 503, 504} {
		f, err := adm.AddFault(ctx, fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultStatus, Status: status, Times: 1})
		if err != nil {
			t.Fatal(err)
		}
		doc := e.doc(t, "01-cash-single-line.json", time.Now())
		_, err = s.client.Report(ctx, e.production, doc)
		ae := wantAPIError(t, err, status, "", "")
		if !ae.Retryable() || ae.PausesQueue() || ae.Permanent() || zatca.DispositionOf(err) != zatca.DispositionRetry {
			t.Errorf("%d: disposition %v", status, ae.Disposition())
		}
		if (status == 429 || status == 503) && ae.RetryAfter != time.Second {
			t.Errorf("%d: RetryAfter = %v", status, ae.RetryAfter)
		}
		// Times: 1 — the retry of the same bytes goes through.
		rep, err := s.client.Report(ctx, e.production, doc)
		if err != nil || rep.Status != zatca.Reported {
			t.Fatalf("%d: retry: %v %+v", status, err, rep)
		}
		faults, err := adm.Faults(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(faults, func(x fatoorasim.Fault) bool { return x.ID == f.ID })
		if i < 0 || faults[i].Fired != 1 || faults[i].Matched != 1 {
			t.Errorf("%d: counters = %+v", status, faults)
		}
	}
}

func TestFaultHangTimesOut(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()
	if _, err := admin(s).AddFault(ctx, fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultHang, Times: 1}); err != nil {
		t.Fatal(err)
	}
	doc := e.doc(t, "01-cash-single-line.json", time.Now())
	short := s.clientWithTimeout(t, 300*time.Millisecond)
	_, err := short.Report(ctx, e.production, doc)
	ae := wantAPIError(t, err, 0, "", "")
	if !ae.Timeout() || !ae.Retryable() || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hang: timeout=%v retryable=%v err=%v", ae.Timeout(), ae.Retryable(), err)
	}
	// The hung request stored nothing: the retry is a first report.
	rep, err := s.client.Report(ctx, e.production, doc)
	if err != nil || rep.Status != zatca.Reported {
		t.Fatalf("retry after hang: %v %+v", err, rep)
	}
}

func TestFaultCommitThenDrop(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()
	if _, err := admin(s).AddFault(ctx, fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultCommitDrop, Times: 1}); err != nil {
		t.Fatal(err)
	}
	doc := e.doc(t, "01-cash-single-line.json", time.Now())
	_, err := s.client.Report(ctx, e.production, doc)
	ae := wantAPIError(t, err, 0, "", "")
	if ae.Timeout() || !ae.Retryable() {
		t.Fatalf("dropped connection: timeout=%v retryable=%v (%v)", ae.Timeout(), ae.Retryable(), err)
	}
	// The report was committed before the connection was dropped: the retry of the
	// same bytes gets 409, which the client reports as AlreadyReported.
	rep, err := s.client.Report(ctx, e.production, doc)
	if err != nil {
		t.Fatal(err)
	}
	if rep.HTTPStatus != 409 || rep.Status != zatca.AlreadyReported || !rep.Status.Accepted() {
		t.Fatalf("retry after commit-drop = %+v", rep)
	}
	st, err := s.srv.Stats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Accepted != 1 || st[0].Duplicates != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestFaultOutageWindow(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()
	adm := admin(s)
	if _, err := adm.AddFault(ctx, fatoorasim.Fault{Endpoint: fatoorasim.EndpointAll, Action: fatoorasim.FaultOutage, For: fatoorasim.Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	doc := e.doc(t, "01-cash-single-line.json", time.Now())
	for i := 0; i < 2; i++ {
		_, err := s.client.Report(ctx, e.production, doc)
		if ae := wantAPIError(t, err, 0, "", ""); !ae.Retryable() {
			t.Fatalf("outage: %v", err)
		}
	}
	// The outage ends on the simulator's clock.
	if _, err := adm.SetClock(ctx, fatoorasim.ClockChange{Advance: ptr(fatoorasim.Duration(61 * time.Minute))}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.client.Report(ctx, e.production, doc)
	if err != nil || rep.Status != zatca.Reported {
		t.Fatalf("after the outage: %v %+v", err, rep)
	}
}

func TestFaultLatencyAndReset(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()
	adm := admin(s)
	if _, err := adm.AddFault(ctx, fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultLatency,
		Latency: fatoorasim.Duration(200 * time.Millisecond), Times: 1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := s.client.Report(ctx, e.production, e.doc(t, "01-cash-single-line.json", time.Now()))
	if err != nil || rep.Status != zatca.Reported {
		t.Fatalf("with latency: %v %+v", err, rep)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("answer after %v, before the injected latency", d)
	}
	if _, err := adm.AddFault(ctx, fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultReset, Times: 2}); err != nil {
		t.Fatal(err)
	}
	doc := e.doc(t, "01-cash-single-line.json", time.Now())
	for i := 0; i < 2; i++ {
		_, err := s.client.Report(ctx, e.production, doc)
		wantAPIError(t, err, 0, "", "")
	}
	if rep, err := s.client.Report(ctx, e.production, doc); err != nil || rep.Status != zatca.Reported {
		t.Fatalf("after two resets: %v %+v", err, rep)
	}
	if err := adm.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	if f, _ := adm.Faults(ctx); len(f) != 0 {
		t.Errorf("faults after clear = %+v", f)
	}
}

// TestFaultProbabilityIsSeeded: a probabilistic rule fires on a subset, the same subset
// for the same seed.
func TestFaultProbabilityIsSeeded(t *testing.T) {
	s := startSim(t)
	ctx := context.Background()
	adm := admin(s)
	pattern := func() []int {
		f, err := adm.AddFault(ctx, fatoorasim.Fault{Endpoint: fatoorasim.EndpointCompliance, Action: fatoorasim.FaultStatus,
			Status: 503, Probability: 0.5, Seed: 42})
		if err != nil {
			t.Fatal(err)
		}
		defer adm.RemoveFault(ctx, f.ID)
		var out []int
		for i := 0; i < 40; i++ {
			out = append(out, rawPost(t, s, "/compliance", map[string]string{"Accept-Version": "V2"}, `{}`).status)
		}
		got, _ := adm.Faults(ctx)
		if len(got) != 1 || got[0].Matched != 40 || got[0].Fired != slicesCount(out, 503) {
			t.Errorf("counters = %+v, 503s = %d", got, slicesCount(out, 503))
		}
		return out
	}
	a, b := pattern(), pattern()
	n := slicesCount(a, 503)
	if n == 0 || n == 40 {
		t.Fatalf("probability 0.5 fired %d of 40 times", n)
	}
	if slicesCount(a, 400) != 40-n {
		t.Fatalf("statuses = %v", a)
	}
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different patterns:\n%v\n%v", a, b)
	}
}

func TestFaultValidation(t *testing.T) {
	s := startSim(t)
	adm := admin(s)
	for name, f := range map[string]fatoorasim.Fault{
		"unknown endpoint":  {Endpoint: "nope", Action: fatoorasim.FaultHang},
		"unknown action":    {Endpoint: "*", Action: "explode"},
		"status 200":        {Endpoint: "*", Action: fatoorasim.FaultStatus, Status: 200},
		"outage no window":  {Endpoint: "*", Action: fatoorasim.FaultOutage},
		"probability 2":     {Endpoint: "*", Action: fatoorasim.FaultReset, Probability: 2},
		"latency zero":      {Endpoint: "*", Action: fatoorasim.FaultLatency},
		"negative times":    {Endpoint: "*", Action: fatoorasim.FaultReset, Times: -1},
		"window to <= from": {Endpoint: "*", Action: fatoorasim.FaultReset, From: ptr(time.Now()), To: ptr(time.Now().Add(-time.Hour))},
	} {
		_, err := adm.AddFault(context.Background(), f)
		if !errors.Is(err, fatoorasim.ErrInvalidInput) {
			t.Errorf("%s: err = %v, want ErrInvalidInput", name, err)
		}
	}
	if err := adm.RemoveFault(context.Background(), 99); !errors.Is(err, fatoorasim.ErrNotFound) {
		t.Errorf("remove unknown fault: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func slicesCount(s []int, v int) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
