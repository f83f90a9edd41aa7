package offline_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"
	"time"

	"github.com/posagent/posagent/offline"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/offlinetest"
	"github.com/posagent/posagent/store"
)

// drive moves the fake clock whenever the worker has nothing to do now (no
// request in flight and nothing due, or a backoff or pause in force) to the
// next timer, until done holds. The clock never moves while a request is in
// flight, so an attempt's recorded time is the simulator's time of it.
func drive(t *testing.T, h *harness, w *offline.Worker, clock *offlinetest.Clock, limit time.Duration, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var busySince time.Time
	for {
		if time.Now().After(deadline) {
			t.Fatalf("timed out driving the clock at %s: status %+v", clock.Now(), w.Snapshot())
		}
		st := w.Snapshot()
		if st.InFlight > 0 {
			busySince = time.Time{}
			time.Sleep(2 * time.Millisecond)
			continue
		}
		if done() {
			return
		}
		if !st.BackingOff && !st.Paused && h.due() {
			// Work is due and no request is out: the worker is between
			// rounds. Give it a moment, then assume it waits for a timer.
			if busySince.IsZero() {
				busySince = time.Now()
			}
			if time.Since(busySince) < 300*time.Millisecond {
				time.Sleep(2 * time.Millisecond)
				continue
			}
		}
		busySince = time.Time{}
		if next, ok := clock.NextTimer(); ok && next.After(clock.Now()) {
			clock.Set(next)
		} else {
			clock.Advance(time.Second)
		}
		time.Sleep(time.Millisecond)
	}
}

// A 72-hour outage while the shop keeps selling: afterwards every document
// is reported exactly once (409s count as reported), the late ones carry
// BR-KSA-98, and the 12-hour and 20-hour alarms fired at the right
// documents, once each.
func TestOutage72Hours(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 300
	}
	const outage = 72 * time.Hour
	clock := offlinetest.NewClock(t0)
	h := newHarness(t, harnessOptions{clock: clock})
	ctx := context.Background()

	from, to := t0, t0.Add(outage)
	if _, err := h.sim.AddFault(fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultOutage,
		From: &from, To: &to}); err != nil {
		t.Fatal(err)
	}
	// After the outage some answers are lost after ZATCA committed them:
	// their retries get 409.
	if _, err := h.sim.AddFault(fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultCommitDrop,
		From: &to, Probability: 0.01, Seed: 7}); err != nil {
		t.Fatal(err)
	}

	cfg := offline.DefaultConfig()
	cfg.RateLimit = 0 // the clock stands still during catch-up
	w := h.newWorker(cfg, nil)
	start(t, w)

	began := time.Now()
	step := outage / time.Duration(n)
	failurePeriod := 0
	for i := range n {
		clock.Set(t0.Add(time.Duration(i) * step))
		d := h.issue(i, clock.Now(), nil)
		if d.FailurePeriod {
			failurePeriod++
		}
		w.Kick()
	}
	// The last second of the outage.
	end := to.Add(-time.Second)
	clock.Set(end)
	t.Logf("issued %d documents in %v", n, time.Since(began))

	// Before catch-up: the operator sees exactly which documents are past
	// each age.
	var past [3]int
	for _, d := range h.allDocs() {
		for i, age := range []time.Duration{cfg.WarnAge, cfg.AlarmAge, cfg.Deadline} {
			if end.Sub(d.IssuedAt) >= age {
				past[i]++
			}
		}
	}
	waitFor(t, 30*time.Second, "the status to show the ages at the end of the outage", func() bool {
		s := w.Snapshot()
		return [3]int{s.PastWarnAge, s.PastAlarmAge, s.PastDeadline} == past
	})
	if st, err := w.Status(ctx); err != nil || st.Queue.Unreported != n || past[2] == 0 || st.ConsecutiveFails == 0 {
		t.Errorf("status at the end of the outage: %v %+v (want %d unreported, %v past 12/20/24 h)", err, st, n, past)
	}
	wantCodes(t, w.Notices(), offline.NoticeOverdue, offline.NoticeUnreachable)

	clock.Set(to)
	began = time.Now()
	drive(t, h, w, clock, 10*time.Minute, h.allFinal)
	t.Logf("caught up in %v", time.Since(began))

	docs := h.allDocs()
	if len(docs) != n {
		t.Fatalf("journal has %d documents, want %d", len(docs), n)
	}
	h.checkReportedOnce(docs)

	// BR-KSA-98 exactly on the documents reported more than 24 hours after
	// their issue (the simulator's clock is the fake clock, which does not
	// move while a request is in flight).
	simCSV, err := csvRows(h, "")
	if err != nil {
		t.Fatal(err)
	}
	late, already := 0, 0
	for _, d := range docs {
		switch d.Report.Status {
		case store.OutcomeAlreadyReported:
			// The committed attempt is the one whose answer was lost: the
			// simulator's own record says whether it was late.
			already++
			as := h.attempts(d.UUID)
			first := as[len(as)-2].At
			if got, want := simCSV[d.UUID]["BR-KSA-98"], first.Sub(d.IssuedAt) > 24*time.Hour; got != want {
				t.Errorf("ICV %d (409): simulator BR-KSA-98 %v, want %v", d.ICV, got, want)
			}
		default:
			isLate := d.Report.FinalAt.Sub(d.IssuedAt) > 24*time.Hour
			if got := hasWarning(d.Report.Warnings, "BR-KSA-98"); got != isLate {
				t.Errorf("ICV %d issued %s reported %s: BR-KSA-98 %v, want %v", d.ICV, d.IssuedAt, d.Report.FinalAt, got, isLate)
			}
			if isLate {
				late++
				if d.Report.Status != store.OutcomeReportedWithWarnings || d.Report.HTTPStatus != 202 {
					t.Errorf("ICV %d: late report recorded as %s HTTP %d", d.ICV, d.Report.Status, d.Report.HTTPStatus)
				}
			}
		}
	}
	if late < n/2 {
		t.Errorf("%d late documents, want about two thirds of %d", late, n)
	}
	t.Logf("%d documents: %d late (BR-KSA-98), %d answered 409 after a lost answer; %d requests reached the simulator", n, late, already, h.wire.count())

	// The alarms: once per document and level, while it was unreported,
	// exactly for the documents that reached 12 h (20 h) unreported.
	entries, err := h.db.Entries(ctx, store.AuditFilter{Action: "uploader.deadline."})
	if err != nil {
		t.Fatal(err)
	}
	fired := map[string]map[uint64]time.Time{}
	for _, e := range entries {
		m := fired[e.Action]
		if m == nil {
			m = map[uint64]time.Time{}
			fired[e.Action] = m
		}
		if _, dup := m[e.DocumentICV]; dup {
			t.Errorf("%s audited twice for ICV %d", e.Action, e.DocumentICV)
		}
		m[e.DocumentICV] = e.At
	}
	for _, lv := range []struct {
		action string
		age    time.Duration
	}{{offline.ActionDeadlineWarning, cfg.WarnAge}, {offline.ActionDeadlineAlarm, cfg.AlarmAge}} {
		count := 0
		for _, d := range docs {
			at, ok := fired[lv.action][d.ICV]
			want := d.Report.FinalAt.Sub(d.IssuedAt) >= lv.age
			if ok != want {
				t.Errorf("ICV %d issued %s reported %s: %s audited %v, want %v", d.ICV, d.IssuedAt, d.Report.FinalAt, lv.action, ok, want)
				continue
			}
			if ok {
				count++
				if at.Sub(d.IssuedAt) < lv.age || at.After(d.Report.FinalAt) {
					t.Errorf("ICV %d: %s at %s, issued %s, reported %s", d.ICV, lv.action, at, d.IssuedAt, d.Report.FinalAt)
				}
			}
		}
		t.Logf("%s: %d documents", lv.action, count)
		if count == 0 {
			t.Errorf("no %s fired", lv.action)
		}
	}

	// The simulator's own statistics: every document accepted once.
	sims, err := h.sim.Stats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, m := range sims {
		accepted += m.Accepted + m.AcceptedWithWarnings
	}
	if accepted != n {
		t.Errorf("the simulator's statistics count %d acceptances, want %d: %+v", accepted, n, sims)
	}

	// Statistics from the journal's attempts agree.
	ms, err := w.MonthlyStats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var sum offline.MonthStats
	for _, m := range ms {
		sum.Issued += m.Issued
		sum.Accepted += m.Accepted
		sum.AcceptedWithWarnings += m.AcceptedWithWarnings
		sum.AlreadyReported += m.AlreadyReported
		sum.Late += m.Late
		sum.Pending += m.Pending
		sum.FailurePeriod += m.FailurePeriod
	}
	if sum.Issued != n || sum.Accepted+sum.AcceptedWithWarnings+sum.AlreadyReported != n || sum.Pending != 0 ||
		sum.Late != late || sum.AlreadyReported != already || sum.FailurePeriod != failurePeriod || failurePeriod == 0 {
		t.Errorf("monthly stats %+v: want %d issued, %d late, %d already reported, %d failure-period", sum, n, late, already, failurePeriod)
	}
	st, err := w.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Counters.Late != late || st.PastWarnAge != 0 || st.Queue.Unreported != 0 {
		t.Errorf("final status: %+v", st)
	}
	wantCodes(t, w.Notices(), offline.NoticeWarnings)
}

func hasWarning(ms []store.Message, code string) bool {
	for _, m := range ms {
		if m.Code == code {
			return true
		}
	}
	return false
}

// csvRows reads the simulator's issues CSV: UUID → codes.
func csvRows(h *harness, month string) (map[string]map[string]bool, error) {
	var buf bytes.Buffer
	if err := h.sim.WriteIssuesCSV(context.Background(), &buf, month); err != nil {
		return nil, err
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, c := range recs[0] {
		col[c] = i
	}
	out := map[string]map[string]bool{}
	for _, r := range recs[1:] {
		u := r[col["uuid"]]
		if out[u] == nil {
			out[u] = map[string]bool{}
		}
		out[u][r[col["code"]]] = true
	}
	return out, nil
}

func wantCodes(t *testing.T, ns []offline.Notice, codes ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, n := range ns {
		have[n.Code] = true
	}
	for _, c := range codes {
		if !have[c] {
			t.Errorf("notices %+v lack %s", ns, c)
		}
	}
}
