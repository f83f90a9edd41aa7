package offline

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/store"
)

// Store is what the worker reads and writes: the reporting queue, the audit
// log, and the journal's Head and List to follow every unreported
// document's age. store/sqlite's DB implements it.
type Store interface {
	store.Outbox
	store.Audit
	Head(ctx context.Context) (store.Head, error)
	List(ctx context.Context, r store.Range) ([]*store.Document, error)
}

// Options are the worker's dependencies and settings.
type Options struct {
	Config   Config
	Store    Store
	Uploader Uploader
	// Clock defaults to the system clock.
	Clock Clock
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Timing constants that are not worth configuring.
const (
	// recordTimeout bounds recording an answer that arrived, even while the
	// worker stops.
	recordTimeout = 15 * time.Second
	// scanChunk is how many documents one journal read returns when the
	// worker learns new documents.
	scanChunk = 256
	// maxRetryAfter caps a server's Retry-After hint.
	maxRetryAfter = time.Hour
	// maxRecent caps the remembered rejections and warnings for Notices.
	maxRecent = 10000
)

// Worker drains the reporting queue. Create it with New and run it with
// Run; Kick, Resume, Status, Notices and DeadLetters may be called from any
// goroutine.
type Worker struct {
	cfg   Config
	st    Store
	up    Uploader
	clock Clock
	log   *slog.Logger
	rnd   func() float64

	kick    chan struct{}
	wake    chan struct{} // a job changed what the dispatcher waits for
	resume  chan struct{}
	running atomic.Bool

	mu       sync.Mutex
	inflight map[string]bool // UUID → sent as a probe
	// attempted holds the documents whose attempt was recorded since the
	// dispatcher last read the queue: a read that raced with the record
	// may still show them due.
	attempted     map[string]struct{}
	pause         *pauseState
	failures      int       // consecutive rounds of retryable failures
	failingSince  time.Time // first failure of the current run of failures
	holdUntil     time.Time // no sends before (service backoff)
	resumeHorizon time.Time // after a Resume, documents due before this count as due
	trk           tracker
	due           timeHeap // next attempt times the worker recorded
	counters      Counters
	lastAttempt   time.Time
	lastAnswered  time.Time
	lastErr       string
	rejectedAt    []time.Time
	warnedAt      []time.Time
	probeSeq      int
	logs          logLimiter
}

type pauseState struct {
	reason     string
	httpStatus int
	since      time.Time
	nextProbe  time.Time
	probing    bool
}

type job struct {
	doc   *store.Document
	probe bool
}

// New checks the options and returns a stopped worker.
func New(o Options) (*Worker, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	if o.Store == nil {
		return nil, fmt.Errorf("new worker: Store is nil: %w", ErrInvalidConfig)
	}
	if o.Uploader == nil {
		return nil, fmt.Errorf("new worker: Uploader is nil: %w", ErrInvalidConfig)
	}
	if o.Clock == nil {
		o.Clock = SystemClock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Worker{
		cfg:       o.Config,
		st:        o.Store,
		up:        o.Uploader,
		clock:     o.Clock,
		log:       o.Logger,
		rnd:       defaultRand,
		kick:      make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
		resume:    make(chan struct{}, 1),
		inflight:  map[string]bool{},
		attempted: map[string]struct{}{},
		trk:       newTracker(),
		logs:      logLimiter{every: o.Config.LogEvery},
	}, nil
}

// Kick tells the worker that documents were journaled; it never blocks.
func (w *Worker) Kick() { signal(w.kick) }

// Resume restarts a paused queue at once: call it when credentials were
// renewed or fixed, or the configuration changed. Documents that got 401
// or 406 are sent again, and a service backoff is cut short. Without it, a
// paused queue probes one document every ProbeInterval.
func (w *Worker) Resume() { signal(w.resume) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run reports until ctx ends, then stops sending, abandons the requests in
// flight (their documents stay due and are resent, same bytes, at the next
// start; an answer that already arrived is still recorded) and returns
// ctx.Err(). Store and network errors never stop it: they are logged and
// retried.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return fmt.Errorf("offline run: %w", ErrRunning)
	}
	defer w.running.Store(false)
	w.log.Info("uploader started", "concurrency", w.cfg.Concurrency, "rate_limit", w.cfg.RateLimit)

	runCtx, cancel := context.WithCancel(ctx)
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				w.upload(runCtx, j)
			}
		}()
	}
	err := w.loop(runCtx, jobs)
	cancel()
	close(jobs)
	wg.Wait()
	w.log.Info("uploader stopped", "err", err)
	return err
}

// loop is the dispatcher: each round it learns new documents, raises
// deadline levels, sends what is due, and sleeps until the next event.
func (w *Worker) loop(ctx context.Context, jobs chan<- job) error {
	lim := newLimiter(w.clock, w.cfg.RateLimit, w.cfg.Burst)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-w.resume:
			w.doResume(ctx, "resume requested")
		default:
		}
		now := w.clock.Now()
		w.refresh(ctx, now)
		w.checkDeadlines(ctx, now)
		wake := w.dispatch(ctx, jobs, lim, now)
		if err := ctx.Err(); err != nil {
			return err
		}
		d := wake.Sub(w.clock.Now())
		if d <= 0 {
			continue
		}
		t := w.clock.NewTimer(d)
		select {
		case <-ctx.Done():
		case <-w.kick:
		case <-w.wake:
		case <-w.resume:
			w.doResume(ctx, "resume requested")
		case <-t.C():
		}
		t.Stop()
	}
}

// refresh loads the deadline tracker at the first round and then reads the
// documents journaled since the last round.
func (w *Worker) refresh(ctx context.Context, now time.Time) {
	if err := w.refreshTracker(ctx, now); err != nil && ctx.Err() == nil {
		w.logLimited(now, "journal-read", slog.LevelError, "uploader: reading the journal failed", "err", err)
	}
}

func (w *Worker) refreshTracker(ctx context.Context, now time.Time) error {
	w.mu.Lock()
	loaded := w.trk.loaded
	w.mu.Unlock()
	if !loaded {
		if err := w.loadTracker(ctx, now); err != nil {
			return err
		}
	}
	head, err := w.st.Head(ctx)
	if err != nil {
		return fmt.Errorf("uploader refresh: %w", err)
	}
	for {
		w.mu.Lock()
		from := w.trk.scannedTo + 1
		w.mu.Unlock()
		if from > head.ICV {
			return nil
		}
		to := min(head.ICV, from+scanChunk-1)
		docs, err := w.st.List(ctx, store.Range{From: from, To: to})
		if err != nil {
			return fmt.Errorf("uploader refresh: %w", err)
		}
		w.mu.Lock()
		for _, d := range docs {
			if !d.Report.Final() {
				w.trk.add(d.ICV, d.UUID, d.IssuedAt)
			}
		}
		w.trk.advance(to)
		w.mu.Unlock()
	}
}

// loadTracker starts following from the oldest unreported document, with
// the deadline levels the audit log already holds.
func (w *Worker) loadTracker(ctx context.Context, now time.Time) error {
	head, err := w.st.Head(ctx)
	if err != nil {
		return fmt.Errorf("uploader load: %w", err)
	}
	// Every unreported document is due by then: the oldest one is first.
	oldest, err := w.st.Pending(ctx, now.AddDate(100, 0, 0), 1)
	if err != nil {
		return fmt.Errorf("uploader load: %w", err)
	}
	fired := map[uint64]level{}
	from := head.ICV
	if len(oldest) > 0 {
		from = oldest[0].ICV - 1
		entries, err := w.st.Entries(ctx, store.AuditFilter{Action: deadlineActions, Since: oldest[0].IssuedAt})
		if err != nil {
			return fmt.Errorf("uploader load: %w", err)
		}
		for _, e := range entries {
			l := levelWarning
			if e.Action == ActionDeadlineAlarm {
				l = levelAlarm
			}
			fired[e.DocumentICV] = max(fired[e.DocumentICV], l)
		}
	}
	w.mu.Lock()
	w.trk.fired = fired
	w.trk.scannedTo = from
	w.trk.loaded = true
	w.mu.Unlock()
	w.log.Info("uploader: queue loaded", "head_icv", head.ICV, "first_unreported_icv", from+1)
	return nil
}

// checkDeadlines audits and logs every document whose age crossed WarnAge
// or AlarmAge since the last round, once per document and level.
func (w *Worker) checkDeadlines(ctx context.Context, now time.Time) {
	w.mu.Lock()
	if !w.trk.due(now) {
		w.mu.Unlock()
		return
	}
	warn, alarm := w.trk.crossings(now, w.ages())
	w.mu.Unlock()
	if len(warn) == 0 && len(alarm) == 0 {
		return
	}
	for _, c := range []struct {
		docs   []*tracked
		action string
		age    time.Duration
		lvl    level
	}{{warn, ActionDeadlineWarning, w.cfg.WarnAge, levelWarning}, {alarm, ActionDeadlineAlarm, w.cfg.AlarmAge, levelAlarm}} {
		if len(c.docs) == 0 {
			continue
		}
		slices.SortFunc(c.docs, func(a, b *tracked) int { return cmpUint(a.icv, b.icv) })
		var failed error
		for _, d := range c.docs {
			details, _ := json.Marshal(map[string]any{
				"uuid": d.uuid, "issued_at": d.issued.Format(time.RFC3339), "age_seconds": int64(now.Sub(d.issued) / time.Second),
				"threshold": hours(c.age),
			})
			_, err := w.st.Record(ctx, store.Entry{At: now, Actor: w.cfg.Actor, Action: c.action, Details: details, DocumentICV: d.icv})
			if err != nil {
				// Try again at a later round.
				w.mu.Lock()
				w.trk.lower(d, c.lvl-1)
				w.mu.Unlock()
				failed = err
			}
		}
		lvl := slog.LevelWarn
		msg := fmt.Sprintf("uploader: documents still unreported after %s (reporting deadline %s)", hours(c.age), hours(w.cfg.Deadline))
		if c.lvl == levelAlarm {
			lvl = slog.LevelError
		}
		w.logLimited(now, c.action, lvl, msg, "count", len(c.docs), "first_icv", c.docs[0].icv,
			"last_icv", c.docs[len(c.docs)-1].icv, "oldest_issued", c.docs[0].issued)
		if failed != nil && ctx.Err() == nil {
			w.logLimited(now, "audit", slog.LevelError, "uploader: writing the audit log failed", "err", failed)
		}
	}
}

// ages are the thresholds of the levels.
func (w *Worker) ages() [numLevels]time.Duration {
	return [numLevels]time.Duration{levelWarning: w.cfg.WarnAge, levelAlarm: w.cfg.AlarmAge, levelOverdue: w.cfg.Deadline}
}

// dispatch sends what is due and returns when to run the next round.
func (w *Worker) dispatch(ctx context.Context, jobs chan<- job, lim *limiter, now time.Time) time.Time {
	next := now.Add(w.cfg.PollInterval)
	w.mu.Lock()
	w.due.popUntil(now)
	if t, ok := w.due.peek(); ok && t.Before(next) {
		next = t
	}
	if t := w.trk.next; !t.IsZero() && t.Before(next) {
		next = t
	}
	horizon := now
	if w.resumeHorizon.After(now) {
		horizon = w.resumeHorizon
	}
	if p := w.pause; p != nil {
		probe := !p.probing && !now.Before(p.nextProbe)
		if !probe {
			if !p.probing && p.nextProbe.Before(next) {
				next = p.nextProbe
			}
			w.mu.Unlock()
			return next
		}
		p.probing = true
		p.nextProbe = now.Add(w.cfg.ProbeInterval)
		w.probeSeq++
		seq := w.probeSeq
		w.mu.Unlock()
		if !w.sendProbe(ctx, jobs, now.Add(w.cfg.ProbeInterval), seq) {
			w.mu.Lock()
			if w.pause != nil {
				w.pause.probing = false
			}
			w.mu.Unlock()
		}
		return next
	}
	if now.Before(w.holdUntil) {
		if w.holdUntil.Before(next) {
			next = w.holdUntil
		}
		w.mu.Unlock()
		return next
	}
	probing := w.failures > 0
	inflight := len(w.inflight)
	clear(w.attempted)
	w.mu.Unlock()
	if probing && inflight > 0 {
		return next // wait for the probe's answer
	}

	docs, err := w.st.Pending(ctx, horizon, w.cfg.BatchSize+inflight)
	if err != nil {
		if ctx.Err() == nil {
			w.logLimited(now, "pending", slog.LevelError, "uploader: reading the queue failed", "err", err)
		}
		if t := now.Add(w.cfg.RetryBase); t.Before(next) {
			next = t
		}
		return next
	}
	sent := 0
	for _, d := range docs {
		w.mu.Lock()
		_, busy := w.inflight[d.UUID]
		if _, done := w.attempted[d.UUID]; done {
			busy = true
		}
		stop := w.pause != nil || w.clock.Now().Before(w.holdUntil) || w.failures > 0 && (sent > 0 || len(w.inflight) > 0)
		probe := w.failures > 0
		w.mu.Unlock()
		if stop {
			break
		}
		if busy {
			continue
		}
		if err := lim.wait(ctx); err != nil {
			return now
		}
		if !w.send(ctx, jobs, job{doc: d, probe: probe}) {
			return now
		}
		sent++
	}
	if sent > 0 && len(docs) >= w.cfg.BatchSize {
		return now // there may be more due
	}
	return next
}

// sendProbe sends one document of a paused queue, a different one each
// time so that a single document refused for its own reasons cannot keep
// the queue paused.
func (w *Worker) sendProbe(ctx context.Context, jobs chan<- job, horizon time.Time, seq int) bool {
	w.mu.Lock()
	clear(w.attempted)
	w.mu.Unlock()
	docs, err := w.st.Pending(ctx, horizon, w.cfg.Concurrency+1)
	if err != nil {
		if ctx.Err() == nil {
			w.logLimited(w.clock.Now(), "pending", slog.LevelError, "uploader: reading the queue failed", "err", err)
		}
		return false
	}
	w.mu.Lock()
	var free []*store.Document
	for _, d := range docs {
		_, busy := w.inflight[d.UUID]
		_, done := w.attempted[d.UUID]
		if !busy && !done {
			free = append(free, d)
		}
	}
	w.mu.Unlock()
	if len(free) == 0 {
		return false
	}
	return w.send(ctx, jobs, job{doc: free[seq%len(free)], probe: true})
}

func (w *Worker) send(ctx context.Context, jobs chan<- job, j job) bool {
	w.mu.Lock()
	w.inflight[j.doc.UUID] = j.probe
	w.mu.Unlock()
	select {
	case jobs <- j:
		return true
	case <-ctx.Done():
		w.mu.Lock()
		delete(w.inflight, j.doc.UUID)
		w.mu.Unlock()
		return false
	}
}

// doResume clears a pause and a service backoff.
func (w *Worker) doResume(ctx context.Context, why string) {
	now := w.clock.Now()
	w.mu.Lock()
	p := w.pause
	w.pause = nil
	w.failures, w.holdUntil, w.failingSince = 0, time.Time{}, time.Time{}
	w.resumeHorizon = now.Add(w.cfg.ProbeInterval)
	w.mu.Unlock()
	if p != nil {
		w.auditPause(ctx, now, ActionResumed, map[string]any{"reason": why, "paused_reason": p.reason,
			"paused_seconds": int64(now.Sub(p.since) / time.Second)})
		w.log.Info("uploader: queue resumed", "why", why, "paused_for", now.Sub(p.since))
	}
}

// upload reports one document and records the answer.
func (w *Worker) upload(ctx context.Context, j job) {
	d := j.doc
	w.mu.Lock()
	// A pause or a service backoff that began while the job waited for a
	// free slot holds it back too (it stays due).
	held := !j.probe && (w.pause != nil || w.clock.Now().Before(w.holdUntil))
	if held {
		delete(w.inflight, d.UUID)
	}
	w.mu.Unlock()
	if held {
		return
	}
	res, err := w.up.Report(ctx, Submission{ICV: d.ICV, UUID: d.UUID, Hash: d.Hash, XML: d.XML})
	if err != nil && ctx.Err() != nil {
		// Stopping: the answer is unknown. The document stays due and its
		// same bytes are resent at the next start (a 409 then settles it).
		w.mu.Lock()
		delete(w.inflight, d.UUID)
		w.counters.Unrecorded++
		if w.pause != nil && j.probe {
			w.pause.probing = false
		}
		w.mu.Unlock()
		return
	}
	now := w.clock.Now()
	v := classify(res, err)
	a := store.Attempt{
		At: now, HTTPStatus: v.httpStatus, Outcome: v.outcome, ResponseJSON: v.body,
		Warnings: v.warnings, Errors: v.errors, TransportError: clipText(v.transport, 4096),
	}
	if len(a.ResponseJSON) > store.MaxResponseBytes {
		a.ResponseJSON = a.ResponseJSON[:store.MaxResponseBytes]
	}
	switch v.outcome {
	case store.OutcomeRetry:
		wait := backoff(d.Report.Attempts, w.cfg.RetryBase, w.cfg.RetryMax, w.cfg.Jitter, w.rnd)
		wait = max(wait, min(v.retryAfter, maxRetryAfter))
		a.NextAttemptAt = now.Add(wait)
	case store.OutcomePaused:
		// Due again as soon as the queue runs again (Resume or a probe).
		a.NextAttemptAt = now.Add(w.cfg.ProbeInterval)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	recErr := w.st.RecordAttempt(rctx, d.UUID, a)
	cancel()

	log := w.log.With("icv", d.ICV, "uuid", d.UUID)
	var paused *pauseState
	wake := j.probe
	w.mu.Lock()
	delete(w.inflight, d.UUID)
	if recErr == nil {
		w.attempted[d.UUID] = struct{}{}
	}
	w.counters.Attempts++
	w.lastAttempt = now
	if j.probe {
		w.counters.Probes++
	}
	if recErr != nil {
		if errors.Is(recErr, store.ErrReportFinal) {
			w.trk.remove(d.ICV)
		} else {
			w.counters.RecordErrors++
			w.lastErr = recErr.Error()
		}
	} else if v.outcome.Final() {
		w.trk.remove(d.ICV)
	}
	if !a.NextAttemptAt.IsZero() {
		heap.Push(&w.due, a.NextAttemptAt)
	}
	switch v.outcome {
	case store.OutcomeReported, store.OutcomeReportedWithWarnings, store.OutcomeAlreadyReported, store.OutcomeRejected:
		w.lastAnswered = now
		w.failures, w.holdUntil, w.failingSince = 0, time.Time{}, time.Time{}
		switch v.outcome {
		case store.OutcomeReported:
			w.counters.Reported++
		case store.OutcomeReportedWithWarnings:
			w.counters.ReportedWithWarnings++
			w.warnedAt = appendRecent(w.warnedAt, now)
		case store.OutcomeAlreadyReported:
			w.counters.AlreadyReported++
		case store.OutcomeRejected:
			w.counters.Rejected++
			w.rejectedAt = appendRecent(w.rejectedAt, now)
		}
		if hasCode(v.warnings, "BR-KSA-98") {
			w.counters.Late++
		}
		if p := w.pause; p != nil {
			// ZATCA answered with the current credentials: whatever paused
			// the queue is fixed.
			w.pause = nil
			w.resumeHorizon = now.Add(w.cfg.ProbeInterval)
			wake = true
			defer w.resumedByAnswer(ctx, now, p, v.httpStatus)
		}
	case store.OutcomeRetry:
		w.counters.Retries++
		w.lastErr = describe(v)
		if !now.Before(w.holdUntil) {
			// A new round of failures: back the whole service off (failures
			// of requests already in flight do not escalate it).
			if w.failures == 0 {
				w.failingSince = now
			}
			hold := backoff(w.failures, w.cfg.RetryBase, w.cfg.RetryMax, w.cfg.Jitter, w.rnd)
			w.holdUntil = now.Add(max(hold, min(v.retryAfter, maxRetryAfter)))
			w.failures++
		}
		wake = true
	case store.OutcomePaused:
		w.counters.Paused++
		w.lastErr = v.reason
		if w.pause == nil {
			w.pause = &pauseState{reason: v.reason, httpStatus: v.httpStatus, since: now, nextProbe: now.Add(w.cfg.ProbeInterval)}
			paused = w.pause
		} else {
			w.pause.reason, w.pause.httpStatus = v.reason, v.httpStatus
			if j.probe {
				w.pause.probing = false
				w.pause.nextProbe = now.Add(w.cfg.ProbeInterval)
			}
		}
		wake = true
	}
	w.mu.Unlock()

	switch v.outcome {
	case store.OutcomeReported, store.OutcomeAlreadyReported:
		log.Debug("uploader: reported", "outcome", v.outcome, "http_status", v.httpStatus)
	case store.OutcomeReportedWithWarnings:
		log.Info("uploader: reported with warnings", "http_status", v.httpStatus, "warnings", codes(v.warnings))
	case store.OutcomeRejected:
		log.Error("uploader: rejected by ZATCA; never resent (dead letter)", "http_status", v.httpStatus, "errors", codes(v.errors))
	case store.OutcomeRetry:
		w.logLimited(now, "retry", slog.LevelWarn, "uploader: report failed; retrying with backoff",
			"icv", d.ICV, "http_status", v.httpStatus, "err", describe(v), "next_attempt", a.NextAttemptAt)
	case store.OutcomePaused:
		if paused != nil {
			log.Error("uploader: queue paused", "reason", v.reason, "http_status", v.httpStatus)
			w.auditPause(ctx, now, ActionPaused, map[string]any{"reason": v.reason, "http_status": v.httpStatus, "uuid": d.UUID})
		} else {
			w.logLimited(now, "paused", slog.LevelError, "uploader: queue still paused", "reason", v.reason)
		}
	}
	if recErr != nil && !errors.Is(recErr, store.ErrReportFinal) {
		w.logLimited(now, "record", slog.LevelError, "uploader: recording the answer failed; the document will be sent again",
			"icv", d.ICV, "outcome", v.outcome, "err", recErr)
	}
	if wake {
		signal(w.wake)
	}
}

func (w *Worker) resumedByAnswer(ctx context.Context, now time.Time, p *pauseState, status int) {
	w.auditPause(ctx, now, ActionResumed, map[string]any{"reason": fmt.Sprintf("ZATCA answered HTTP %d", status),
		"paused_reason": p.reason, "paused_seconds": int64(now.Sub(p.since) / time.Second)})
	w.log.Info("uploader: queue resumed", "why", "ZATCA answered", "http_status", status, "paused_for", now.Sub(p.since))
}

func (w *Worker) auditPause(ctx context.Context, now time.Time, action string, details map[string]any) {
	b, _ := json.Marshal(details)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if _, err := w.st.Record(rctx, store.Entry{At: now, Actor: w.cfg.Actor, Action: action, Details: b}); err != nil {
		w.logLimited(now, "audit", slog.LevelError, "uploader: writing the audit log failed", "action", action, "err", err)
	}
}

func describe(v verdict) string {
	switch {
	case v.transport != "":
		return v.transport
	case len(v.errors) > 0:
		return fmt.Sprintf("HTTP %d: %s: %s", v.httpStatus, v.errors[0].Code, v.errors[0].Message)
	}
	return fmt.Sprintf("HTTP %d", v.httpStatus)
}

func hasCode(ms []store.Message, code string) bool {
	for _, m := range ms {
		if m.Code == code {
			return true
		}
	}
	return false
}

func codes(ms []store.Message) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Code)
	}
	return out
}

func appendRecent(ts []time.Time, t time.Time) []time.Time {
	if len(ts) >= maxRecent {
		ts = ts[len(ts)-maxRecent/2:]
	}
	return append(ts, t)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// logLimited logs at most once per LogEvery per key, counting what it
// left out.
func (w *Worker) logLimited(now time.Time, key string, lvl slog.Level, msg string, args ...any) {
	w.mu.Lock()
	ok, skipped := w.logs.allow(key, now)
	w.mu.Unlock()
	if !ok {
		return
	}
	if skipped > 0 {
		args = append(args, "repeats_not_logged", skipped)
	}
	w.log.Log(context.Background(), lvl, msg, args...)
}

// logLimiter remembers when each key was last logged.
type logLimiter struct {
	every   time.Duration
	last    map[string]time.Time
	skipped map[string]int
}

func (l *logLimiter) allow(key string, now time.Time) (bool, int) {
	if l.last == nil {
		l.last, l.skipped = map[string]time.Time{}, map[string]int{}
	}
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every && now.Sub(t) >= 0 {
		l.skipped[key]++
		return false, 0
	}
	n := l.skipped[key]
	l.last[key], l.skipped[key] = now, 0
	return true, n
}

// timeHeap is a min-heap of times.
type timeHeap []time.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

func (h *timeHeap) peek() (time.Time, bool) {
	if len(*h) == 0 {
		return time.Time{}, false
	}
	return (*h)[0], true
}

func (h *timeHeap) popUntil(now time.Time) {
	for len(*h) > 0 && !(*h)[0].After(now) {
		heap.Pop(h)
	}
}
