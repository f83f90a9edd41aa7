package offline_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/offline"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/store"
)

// Every sale fixture, issued and journaled for real, is reported once and
// accepted.
func TestReportsEverySaleFixture(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for i := range h.sales {
		h.issue(i, time.Now(), nil)
	}
	w := h.newWorker(fastConfig(), nil)
	start(t, w)
	w.Kick()
	waitFor(t, 60*time.Second, "every document reported", func() bool { return h.stats().Unreported == 0 })
	docs := h.allDocs()
	for _, d := range docs {
		if d.Report.Status != store.OutcomeReported {
			t.Errorf("ICV %d (%s): %s HTTP %d warnings %v errors %v", d.ICV, h.sales[(d.ICV-1)%uint64(len(h.sales))].name,
				d.Report.Status, d.Report.HTTPStatus, d.Report.Warnings, d.Report.Errors)
		}
	}
	h.checkReportedOnce(docs)
}

// "Commit then drop": ZATCA commits the report and the connection dies
// before the answer; the retry sends the same bytes, gets 409, and the
// journal records the document as reported.
func TestCommitThenDrop(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	if _, err := h.sim.AddFault(fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultCommitDrop, Times: 1}); err != nil {
		t.Fatal(err)
	}
	d := h.issue(0, time.Now(), nil)
	w := h.newWorker(fastConfig(), nil)
	start(t, w)
	w.Kick()
	waitFor(t, 30*time.Second, "the report to be final", h.allFinal)

	got, err := h.db.Get(ctx, d.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Report.Status != store.OutcomeAlreadyReported || got.Report.HTTPStatus != 409 {
		t.Fatalf("report state %+v, want already_reported 409", got.Report)
	}
	as := h.attempts(d.UUID)
	if len(as) != 2 {
		t.Fatalf("%d attempts, want 2: %+v", len(as), as)
	}
	if a := as[0]; a.Outcome != store.OutcomeRetry || a.HTTPStatus != 0 || a.TransportError == "" || !a.NextAttemptAt.After(a.At) {
		t.Errorf("first attempt %+v, want a retry without an answer", a)
	}
	if a := as[1]; a.Outcome != store.OutcomeAlreadyReported || a.HTTPStatus != 409 ||
		!strings.Contains(string(a.ResponseJSON), "already Reported successfully") || !a.NextAttemptAt.IsZero() {
		t.Errorf("second attempt %+v (%s), want 409 already reported", a, a.ResponseJSON)
	}
	e := h.wire.entry(d.UUID)
	if e.requests != 2 || len(e.bodies) != 1 || !slices.Equal(e.statuses, []int{0, 409}) {
		t.Errorf("on the wire: %d requests, %d distinct bodies, statuses %v; want 2, 1 (the same bytes), [0 409]",
			e.requests, len(e.bodies), e.statuses)
	}
	h.checkReportedOnce(h.allDocs())
	sims, err := h.sim.Stats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sims) != 1 || sims[0].Accepted != 1 || sims[0].Duplicates != 1 {
		t.Errorf("simulator statistics %+v, want 1 accepted and 1 duplicate", sims)
	}
	if c := w.Snapshot().Counters; c.AlreadyReported != 1 || c.Retries != 1 || c.Attempts != 2 {
		t.Errorf("counters %+v", c)
	}
	ms, err := w.MonthlyStats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].AlreadyReported != 1 || ms[0].Issued != 1 {
		t.Errorf("monthly stats %+v", ms)
	}
}

var taxInclusiveRE = regexp.MustCompile(`(<cbc:TaxInclusiveAmount currencyID="SAR">)[0-9.]+(</cbc:TaxInclusiveAmount>)`)

// tamperAmount changes the total after signing: ZATCA rejects the document
// (the invoice hash no longer matches).
func tamperAmount(xml []byte) []byte {
	return taxInclusiveRE.ReplaceAll(xml, []byte("${1}1.00${2}"))
}

// A 400 rejection is a dead letter: recorded with ZATCA's reasons, never
// resent, listed for the operator; the documents around it are reported.
func TestRejectionIsDeadLettered(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	h.issue(0, time.Now(), nil)
	bad := h.issue(1, time.Now(), tamperAmount)
	h.issue(2, time.Now(), nil)
	w := h.newWorker(fastConfig(), nil)
	start(t, w)
	w.Kick()
	waitFor(t, 30*time.Second, "every report final", h.allFinal)
	// Give it every chance to resend: kicks and several poll intervals.
	for range 5 {
		w.Kick()
		time.Sleep(60 * time.Millisecond)
	}
	if e := h.wire.entry(bad.UUID); e.requests != 1 || !slices.Equal(e.statuses, []int{400}) {
		t.Errorf("the rejected document reached ZATCA %d times (statuses %v), want once", e.requests, e.statuses)
	}
	as := h.attempts(bad.UUID)
	if len(as) != 1 || as[0].Outcome != store.OutcomeRejected || as[0].HTTPStatus != 400 || !hasCode(as[0].Errors, "invalid-invoice-hash") {
		t.Fatalf("attempts of the rejected document: %+v", as)
	}
	fromStore, err := h.db.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fromWorker, err := w.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, dls := range [][]store.DeadLetter{fromStore, fromWorker} {
		if len(dls) != 1 || dls[0].UUID != bad.UUID || dls[0].ICV != bad.ICV || dls[0].HTTPStatus != 400 ||
			!hasCode(dls[0].Errors, "invalid-invoice-hash") || dls[0].RejectedAt.IsZero() {
			t.Errorf("dead letters %+v", dls)
		}
	}
	for _, d := range h.allDocs() {
		// The next document's PIH is the rejected one's hash as signed,
		// which the simulator may flag with a chain warning.
		if d.UUID != bad.UUID && d.Report.Status != store.OutcomeReported && d.Report.Status != store.OutcomeReportedWithWarnings {
			t.Errorf("ICV %d: %s, want reported", d.ICV, d.Report.Status)
		}
	}
	entries, err := h.db.Entries(ctx, store.AuditFilter{Action: store.ActionReportFinal, DocumentICV: bad.ICV})
	if err != nil || len(entries) != 1 || !strings.Contains(string(entries[0].Details), "rejected") {
		t.Errorf("audit of the rejection: %v %+v", err, entries)
	}
	wantCodes(t, w.Notices(), offline.NoticeRejected)
	// The simulator's own records: one rejection, nothing submitted twice.
	sims, err := h.sim.Stats(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sims) != 1 || sims[0].Rejected != 1 || sims[0].Accepted+sims[0].AcceptedWithWarnings != 2 || sims[0].Duplicates != 0 {
		t.Errorf("simulator statistics %+v, want 1 rejected, 2 accepted, no duplicates", sims)
	}
	if c := w.Snapshot().Counters; c.Rejected != 1 || c.Reported+c.ReportedWithWarnings != 2 {
		t.Errorf("counters %+v", c)
	}
}

func hasCode(ms []store.Message, code string) bool { return hasWarning(ms, code) }

// Every answer of SPEC §2.5, produced by the simulator on the wire, ends as
// the table says, and retries resend the same bytes.
func TestStatusDispositions(t *testing.T) {
	h := newHarness(t, harnessOptions{clientTimeout: 3 * time.Second})
	ctx := context.Background()
	w := h.newWorker(fastConfig(), nil)
	start(t, w)
	type want struct {
		outcome  store.Outcome
		statuses []int // on the wire, in order
		outcomes []store.Outcome
	}
	for i, c := range []struct {
		name  string
		fault fatoorasim.Fault
		want  want
	}{
		{"200", fatoorasim.Fault{}, want{store.OutcomeReported, []int{200}, []store.Outcome{store.OutcomeReported}}},
		{"429 twice", fatoorasim.Fault{Action: fatoorasim.FaultStatus, Status: 429, Times: 2},
			want{store.OutcomeReported, []int{429, 429, 200}, []store.Outcome{store.OutcomeRetry, store.OutcomeRetry, store.OutcomeReported}}},
		{"500", fatoorasim.Fault{Action: fatoorasim.FaultStatus, Status: 500, Times: 1},
			want{store.OutcomeReported, []int{500, 200}, []store.Outcome{store.OutcomeRetry, store.OutcomeReported}}},
		{"503", fatoorasim.Fault{Action: fatoorasim.FaultStatus, Status: 503, Times: 1},
			want{store.OutcomeReported, []int{503, 200}, []store.Outcome{store.OutcomeRetry, store.OutcomeReported}}},
		{"504", fatoorasim.Fault{Action: fatoorasim.FaultStatus, Status: 504, Times: 1},
			want{store.OutcomeReported, []int{504, 200}, []store.Outcome{store.OutcomeRetry, store.OutcomeReported}}},
		{"connection reset", fatoorasim.Fault{Action: fatoorasim.FaultReset, Times: 1},
			want{store.OutcomeReported, []int{0, 200}, []store.Outcome{store.OutcomeRetry, store.OutcomeReported}}},
		{"client timeout", fatoorasim.Fault{Action: fatoorasim.FaultHang, Times: 1},
			want{store.OutcomeReported, []int{0, 200}, []store.Outcome{store.OutcomeRetry, store.OutcomeReported}}},
		{"413", fatoorasim.Fault{Action: fatoorasim.FaultStatus, Status: 413, Times: 1},
			want{store.OutcomeRejected, []int{413}, []store.Outcome{store.OutcomeRejected}}},
		{"401 once", fatoorasim.Fault{Action: fatoorasim.FaultStatus, Status: 401, Times: 1},
			want{store.OutcomeReported, []int{401, 200}, []store.Outcome{store.OutcomePaused, store.OutcomeReported}}},
		{"406 once", fatoorasim.Fault{Action: fatoorasim.FaultStatus, Status: 406, Times: 1},
			want{store.OutcomeReported, []int{406, 200}, []store.Outcome{store.OutcomePaused, store.OutcomeReported}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.sim.ClearFaults()
			if c.fault.Action != "" {
				c.fault.Endpoint = fatoorasim.EndpointReporting
				if _, err := h.sim.AddFault(c.fault); err != nil {
					t.Fatal(err)
				}
			}
			d := h.issue(i, time.Now(), nil)
			w.Kick()
			waitFor(t, 30*time.Second, "the report to be final", h.allFinal)
			got, err := h.db.Get(ctx, d.UUID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Report.Status != c.want.outcome {
				t.Errorf("final %s, want %s", got.Report.Status, c.want.outcome)
			}
			var outcomes []store.Outcome
			for _, a := range h.attempts(d.UUID) {
				outcomes = append(outcomes, a.Outcome)
				if a.Outcome == store.OutcomeRetry && (a.NextAttemptAt.Before(a.At) || a.HTTPStatus == 0 && a.TransportError == "") {
					t.Errorf("retry attempt %+v", a)
				}
			}
			if !slices.Equal(outcomes, c.want.outcomes) {
				t.Errorf("attempt outcomes %v, want %v", outcomes, c.want.outcomes)
			}
			time.Sleep(100 * time.Millisecond) // nothing more goes out
			e := h.wire.entry(d.UUID)
			if !slices.Equal(e.statuses, c.want.statuses) || len(e.bodies) != 1 {
				t.Errorf("on the wire: statuses %v with %d distinct bodies, want %v with 1", e.statuses, len(e.bodies), c.want.statuses)
			}
			if st := w.Snapshot(); st.Paused {
				t.Errorf("still paused: %s", st.PauseReason)
			}
		})
	}
}
