package offline_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/offline"
	"github.com/posagent/posagent/offline/offlinetest"
	"github.com/posagent/posagent/offline/zatca"
	"github.com/posagent/posagent/store"
)

// switchableCreds is a credentials provider the test can change, as a
// renewal or an operator fixing the configuration does.
type switchableCreds struct {
	v   atomic.Pointer[zatca.Credentials]
	err atomic.Pointer[error]
}

func (s *switchableCreds) set(c zatca.Credentials) { s.v.Store(&c); s.err.Store(nil) }
func (s *switchableCreds) fail(err error)          { s.err.Store(&err) }

func (s *switchableCreds) get(context.Context) (zatca.Credentials, error) {
	if e := s.err.Load(); e != nil {
		return zatca.Credentials{}, *e
	}
	return *s.v.Load(), nil
}

func auditCount(t *testing.T, h *harness, action string) int {
	t.Helper()
	es, err := h.db.Entries(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// 401 pauses the queue with an alarm; nothing is burnt. A probe every
// ProbeInterval finds the credentials fixed and resumes; Resume resumes at
// once. Nothing is lost.
func TestUnauthorizedPausesQueue(t *testing.T) {
	clock := offlinetest.NewClock(t0)
	h := newHarness(t, harnessOptions{clock: clock})
	cfg := offline.DefaultConfig()
	cfg.RateLimit = 0
	var creds switchableCreds
	wrong := h.creds
	wrong.Secret = "not-the-secret"
	creds.set(wrong)
	for i := range 20 {
		clock.Advance(time.Second)
		h.issue(i, clock.Now(), nil)
	}
	w := h.newWorker(cfg, creds.get)
	start(t, w)
	w.Kick()
	waitFor(t, 30*time.Second, "the queue to pause", func() bool { s := w.Snapshot(); return s.Paused && s.InFlight == 0 })

	st := w.Snapshot()
	if st.PauseHTTPStatus != 401 || !strings.Contains(st.PauseReason, "401") || st.NextProbeAt != st.PausedSince.Add(cfg.ProbeInterval) {
		t.Errorf("paused status %+v", st)
	}
	sent := h.wire.count()
	if sent == 0 || sent > cfg.Concurrency {
		t.Errorf("%d requests before the queue paused, want 1 to %d", sent, cfg.Concurrency)
	}
	wantCodes(t, w.Notices(), offline.NoticePaused)
	if n := auditCount(t, h, offline.ActionPaused); n != 1 {
		t.Errorf("%d %s audit entries, want 1", n, offline.ActionPaused)
	}
	if s := h.stats(); s.Unreported != 20 || s.Paused != sent {
		t.Errorf("queue %+v: want 20 unreported, %d paused", s, sent)
	}
	// Paused means paused: kicks send nothing.
	w.Kick()
	time.Sleep(50 * time.Millisecond)
	if n := h.wire.count(); n != sent {
		t.Errorf("%d requests after a kick while paused, want %d", n, sent)
	}

	// One probe per interval while the credentials are still wrong.
	clock.Advance(cfg.ProbeInterval)
	waitFor(t, 30*time.Second, "a probe", func() bool { return h.wire.count() == sent+1 && w.Snapshot().InFlight == 0 })
	time.Sleep(50 * time.Millisecond)
	if st := w.Snapshot(); !st.Paused || st.Counters.Probes != 1 || h.wire.count() != sent+1 {
		t.Errorf("after one probe: %+v, %d requests", st, h.wire.count())
	}

	// Fixed (a renewal, say) without telling the worker: the next probe
	// succeeds and the queue drains.
	creds.set(h.creds)
	clock.Advance(cfg.ProbeInterval)
	waitFor(t, 60*time.Second, "every report final", h.allFinal)
	if st := w.Snapshot(); st.Paused {
		t.Errorf("still paused: %+v", st)
	}
	if n := auditCount(t, h, offline.ActionResumed); n != 1 {
		t.Errorf("%d %s audit entries, want 1", n, offline.ActionResumed)
	}

	// Broken again, then fixed and Resume: it resumes at once, without the
	// clock moving.
	creds.set(wrong)
	for i := range 10 {
		h.issue(i, clock.Now(), nil)
	}
	w.Kick()
	waitFor(t, 30*time.Second, "the queue to pause again", func() bool { s := w.Snapshot(); return s.Paused && s.InFlight == 0 })
	creds.set(h.creds)
	w.Resume()
	waitFor(t, 60*time.Second, "every report final after Resume", h.allFinal)
	if n := auditCount(t, h, offline.ActionResumed); n != 2 {
		t.Errorf("%d %s audit entries, want 2", n, offline.ActionResumed)
	}
	h.checkReportedOnce(h.allDocs())
	for _, d := range h.allDocs() {
		for _, a := range h.attempts(d.UUID) {
			if a.Outcome == store.OutcomePaused && a.HTTPStatus != 401 {
				t.Errorf("ICV %d: paused attempt with HTTP %d", d.ICV, a.HTTPStatus)
			}
		}
	}
}

// Without credentials nothing is sent: the queue pauses until they come.
func TestNoCredentialsPausesWithoutSending(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var creds switchableCreds
	creds.fail(errors.New("no production CSID yet: onboarding not finished"))
	for i := range 3 {
		h.issue(i, time.Now(), nil)
	}
	cfg := fastConfig()
	cfg.ProbeInterval = time.Hour // only Resume restarts it here
	w := h.newWorker(cfg, creds.get)
	start(t, w)
	w.Kick()
	waitFor(t, 30*time.Second, "the queue to pause", func() bool { s := w.Snapshot(); return s.Paused && s.InFlight == 0 })
	if st := w.Snapshot(); !strings.Contains(st.PauseReason, "no usable credentials") || st.PauseHTTPStatus != 0 {
		t.Errorf("paused status %+v", st)
	}
	if n := h.wire.count(); n != 0 {
		t.Errorf("%d requests without credentials, want 0", n)
	}
	creds.set(h.creds)
	w.Resume()
	waitFor(t, 30*time.Second, "every report final", h.allFinal)
	h.checkReportedOnce(h.allDocs())
}
