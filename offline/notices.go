package offline

import (
	"context"
	"fmt"
	"time"

	"github.com/posagent/posagent/store"
)

// Status returns a snapshot: the worker's state and counters, the
// journal's queue counts, and the current notices.
func (w *Worker) Status(ctx context.Context) (Status, error) {
	now := w.clock.Now()
	q, err := w.st.Stats(ctx, now)
	s := w.snapshot(now)
	s.Queue = q
	if err != nil {
		return s, fmt.Errorf("uploader status: %w", err)
	}
	return s, nil
}

// Snapshot is Status without the journal's queue counts (Queue is zero):
// it reads only the worker's memory and never blocks on the store.
func (w *Worker) Snapshot() Status {
	return w.snapshot(w.clock.Now())
}

// Notices returns the conditions to print on the next receipt, most
// serious first. It reads only the worker's memory.
func (w *Worker) Notices() []Notice {
	return w.snapshot(w.clock.Now()).Notices
}

// DeadLetters lists the documents ZATCA rejected (never resent) with its
// reasons, oldest first, for the operator's rejection workflow: fix the
// cause, then issue a new document (and a credit note when needed).
func (w *Worker) DeadLetters(ctx context.Context) ([]store.DeadLetter, error) {
	dl, err := w.st.DeadLetters(ctx)
	if err != nil {
		return nil, fmt.Errorf("uploader dead letters: %w", err)
	}
	return dl, nil
}

func (w *Worker) snapshot(now time.Time) Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := Status{
		At:               now,
		Running:          w.running.Load(),
		InFlight:         len(w.inflight),
		Counters:         w.counters,
		LastAttemptAt:    w.lastAttempt,
		LastAnsweredAt:   w.lastAnswered,
		LastError:        w.lastErr,
		ConsecutiveFails: w.failures,
		FailingSince:     w.failingSince,
	}
	if now.Before(w.holdUntil) {
		s.BackingOff, s.BackoffUntil = true, w.holdUntil
	}
	if p := w.pause; p != nil {
		s.Paused, s.PauseReason, s.PauseHTTPStatus, s.PausedSince, s.NextProbeAt = true, p.reason, p.httpStatus, p.since, p.nextProbe
	}
	s.PastWarnAge, s.PastAlarmAge, s.PastDeadline = w.trk.count[levelWarning], w.trk.count[levelAlarm], w.trk.count[levelOverdue]
	oldest := w.trk.oldest()

	var ns []Notice
	if p := w.pause; p != nil {
		ns = append(ns, Notice{Code: NoticePaused, Level: LevelAlarm, Since: p.since,
			Message: "ZATCA reporting stopped: " + p.reason + ". Documents are kept and sent once fixed."})
	}
	oldestText := func() string {
		if oldest == nil {
			return ""
		}
		return fmt.Sprintf(" (oldest: ICV %d, %s old)", oldest.icv, now.Sub(oldest.issued).Truncate(time.Minute))
	}
	since := func(age time.Duration) time.Time {
		if oldest == nil {
			return time.Time{}
		}
		return oldest.issued.Add(age)
	}
	switch {
	case s.PastDeadline > 0:
		ns = append(ns, Notice{Code: NoticeOverdue, Level: LevelAlarm, Count: s.PastDeadline, Since: since(w.cfg.Deadline),
			Message: fmt.Sprintf("%d document(s) not reported to ZATCA within %s%s. Restore the connection; file a failure notification with ZATCA if needed.",
				s.PastDeadline, hours(w.cfg.Deadline), oldestText())})
	case s.PastAlarmAge > 0:
		ns = append(ns, Notice{Code: NoticeAlarmAge, Level: LevelAlarm, Count: s.PastAlarmAge, Since: since(w.cfg.AlarmAge),
			Message: fmt.Sprintf("%d document(s) not reported to ZATCA for over %s%s; the deadline is %s.",
				s.PastAlarmAge, hours(w.cfg.AlarmAge), oldestText(), hours(w.cfg.Deadline))})
	case s.PastWarnAge > 0:
		ns = append(ns, Notice{Code: NoticeWarnAge, Level: LevelWarning, Count: s.PastWarnAge, Since: since(w.cfg.WarnAge),
			Message: fmt.Sprintf("%d document(s) not reported to ZATCA for over %s%s.", s.PastWarnAge, hours(w.cfg.WarnAge), oldestText())})
	}
	if n := countSince(w.rejectedAt, now.Add(-w.cfg.NoticeWindow)); n > 0 {
		ns = append(ns, Notice{Code: NoticeRejected, Level: LevelAlarm, Count: n,
			Message: fmt.Sprintf("%d document(s) rejected by ZATCA in the last %s: see the dead letters, fix the cause, issue new documents.", n, hours(w.cfg.NoticeWindow))})
	}
	if w.pause == nil && w.failures > 0 {
		ns = append(ns, Notice{Code: NoticeUnreachable, Level: LevelWarning, Since: w.failingSince,
			Message: fmt.Sprintf("ZATCA not reachable since %s; retrying.", w.failingSince.In(store.KSA).Format("2006-01-02 15:04"))})
	}
	if n := countSince(w.warnedAt, now.Add(-w.cfg.NoticeWindow)); n > 0 {
		ns = append(ns, Notice{Code: NoticeWarnings, Level: LevelWarning, Count: n,
			Message: fmt.Sprintf("%d document(s) reported with ZATCA warnings in the last %s.", n, hours(w.cfg.NoticeWindow))})
	}
	s.Notices = ns
	return s
}

func countSince(ts []time.Time, since time.Time) int {
	n := 0
	for i := len(ts) - 1; i >= 0 && !ts[i].Before(since); i-- {
		n++
	}
	return n
}
