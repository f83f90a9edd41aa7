package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/store"
)

// readiness returns why the agent must not sign now (nil: ready). The caller holds
// stampMu for reading.
func (a *Agent) readiness(now time.Time, up UploadState) []apitype.Reason {
	var rs []apitype.Reason
	add := func(code, format string, args ...any) {
		rs = append(rs, apitype.Reason{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	if !a.started.Load() {
		add(apitype.ReasonStarting, "the agent is still running its start checks")
	}
	st := a.stamp
	switch st.state {
	case credOK:
		switch {
		case now.After(st.cert.NotAfter):
			add(apitype.ReasonCSIDExpired, "the production CSID expired on %s: renew it with a new OTP", st.cert.NotAfter.In(ksa).Format(time.DateOnly))
		case now.Before(st.cert.NotBefore):
			add(apitype.ReasonClockInsane, "the clock reads %s, before the CSID's validity starts (%s)", now.In(ksa).Format(time.RFC3339), st.cert.NotBefore.In(ksa).Format(time.RFC3339))
		}
		if up.Unauthorized {
			add(apitype.ReasonCSIDRevoked, "ZATCA refuses the production CSID (401: revoked or unknown): onboard again with a new OTP")
		}
	case credMissing:
		add(apitype.ReasonNotOnboarded, "%s", st.message)
	default:
		add(apitype.ReasonKeyUnavailable, "%s", st.message)
	}
	a.stateMu.Lock()
	cc, back := a.clockCheck, a.clockBack
	if back != nil && !now.Before(back.Last) {
		a.clockBack, back = nil, nil // the clock caught up with the last document
	}
	a.stateMu.Unlock()
	if cc != nil && !cc.Sane {
		add(apitype.ReasonClockInsane, "%s", cc.Message)
	}
	if back != nil {
		add(apitype.ReasonClockBack, "the clock reads %s, earlier than document ICV %d issued %s", now.In(ksa).Format(time.RFC3339),
			back.LastICV, back.Last.In(ksa).Format(time.RFC3339))
	}
	return rs
}

var ksa = store.KSA

// Status reports readiness, the clock, the key, the credentials, the printer, the chain
// head, the reporting queue and the alarms.
func (a *Agent) Status(ctx context.Context) apitype.Status {
	now := a.clock.Now()
	up := a.up.UploadState()
	s := apitype.Status{Version: a.cfg.Version, StartedAt: a.start.In(ksa), Now: now.In(ksa)}

	a.stampMu.RLock()
	s.Reasons = a.readiness(now, up)
	s.Key, s.Credentials = a.keyAndCredentials(now, up)
	a.stampMu.RUnlock()
	s.Ready = len(s.Reasons) == 0

	a.stateMu.Lock()
	s.Clock = apitype.ClockStatus{State: "ok"}
	if cc := a.clockCheck; cc != nil {
		s.Clock.Synced = cc.Synced
		s.Clock.Message = cc.Message
		if !cc.Sane {
			s.Clock.State = "not_sane"
		}
	} else if a.board == nil {
		s.Clock.Message = "no board clock check configured"
	}
	if a.clockBack != nil {
		s.Clock.State = "went_back"
		s.Clock.Message = fmt.Sprintf("the clock is behind document ICV %d (%s)", a.clockBack.LastICV, a.clockBack.Last.In(ksa).Format(time.RFC3339))
	}
	if a.lastJump != nil {
		j := *a.lastJump
		s.Clock.LastJump = &j
	}
	s.Printer = a.printerSt
	a.stateMu.Unlock()

	if head, err := a.st.Head(ctx); err != nil {
		s.Ready = false
		s.Reasons = append(s.Reasons, apitype.Reason{Code: apitype.ReasonJournal, Message: err.Error()})
	} else {
		s.Chain = chainStatus(head)
	}

	s.Queue.Uploader = up.State
	s.Queue.PausedReason = up.PausedReason
	s.Queue.Paused = up.State == "paused"
	if qs, err := a.st.Stats(ctx, now); err != nil {
		s.Alarms = append(s.Alarms, "reporting queue unreadable: "+err.Error())
	} else {
		s.Queue.Unreported, s.Queue.Due, s.Queue.Retrying = qs.Unreported, qs.Due, qs.Retrying
		s.Queue.Rejected = qs.Rejected
		s.Queue.Reported = qs.Reported + qs.ReportedWithWarnings + qs.AlreadyReported
		if !qs.OldestUnreported.IsZero() {
			t := qs.OldestUnreported.In(ksa)
			s.Queue.OldestUnreported = &t
			s.Queue.OldestUnreportedAgeSeconds = int64(qs.OldestUnreportedAge / time.Second)
		}
		if open := a.openDeadLetters(ctx, qs.Rejected); open > 0 {
			s.Alarms = append(s.Alarms, fmt.Sprintf("%d document(s) rejected by ZATCA: see the dead letters and issue corrections", open))
		}
	}
	s.Alarms = append(s.Alarms, up.Alarms...)
	if s.Credentials.RenewalNeeded {
		s.Alarms = append(s.Alarms, "renewal needed: "+s.Credentials.Message)
	}
	if s.Clock.LastJump != nil && now.Sub(s.Clock.LastJump.At) < 24*time.Hour {
		s.Alarms = append(s.Alarms, fmt.Sprintf("the clock jumped %+.0f s at %s", s.Clock.LastJump.Seconds, s.Clock.LastJump.At.Format(time.RFC3339)))
	}
	a.obMu.Lock()
	s.Onboarding = a.ob
	a.obMu.Unlock()
	return s
}

// keyAndCredentials describes the stamp. The caller holds stampMu for reading.
func (a *Agent) keyAndCredentials(now time.Time, up UploadState) (apitype.KeyStatus, apitype.CredentialsStatus) {
	st := a.stamp
	var k apitype.KeyStatus
	switch {
	case st.key != nil:
		k = apitype.KeyStatus{State: "unsealed", Type: st.keyType, Fingerprint: st.keyFP}
	case st.state == credMissing:
		k = apitype.KeyStatus{State: "missing", Message: "no stamping key until onboarding"}
	default:
		k = apitype.KeyStatus{State: "error", Message: st.message}
	}
	c := apitype.CredentialsStatus{State: st.state, Message: st.message, RequestID: st.requestID}
	if st.cert == nil {
		return k, c
	}
	nb, na := st.cert.NotBefore.In(ksa), st.cert.NotAfter.In(ksa)
	from := na.Add(-a.cfg.RenewBefore)
	days := int(math.Floor(na.Sub(now).Hours() / 24))
	c.Serial = st.cert.SerialNumber.String()
	c.NotBefore, c.NotAfter, c.DaysLeft, c.RenewalFrom = &nb, &na, &days, &from
	if st.state != credOK {
		return k, c
	}
	switch {
	case up.Unauthorized:
		c.State, c.Message = credRevoked, "ZATCA refuses this CSID (401); signing stopped: onboard again with a new OTP"
	case now.After(na):
		c.State, c.Message = credExpired, "expired on "+na.Format(time.DateOnly)+"; signing stopped: renew with a new OTP"
		c.RenewalNeeded = true
	case !now.Before(from):
		c.State, c.RenewalNeeded = credRenewalNeeded, true
		c.Message = fmt.Sprintf("the CSID expires on %s (%d days): get an OTP from the Fatoora portal and renew", na.Format(time.DateOnly), days)
	}
	return k, c
}

func chainStatus(h store.Head) apitype.ChainStatus {
	c := apitype.ChainStatus{ICV: h.ICV, Hash: h.Hash}
	if !h.IssuedAt.IsZero() {
		t := h.IssuedAt.In(ksa)
		c.IssuedAt = &t
	}
	return c
}

// Stats returns the reporting figures, with the per-month figures of month ("YYYY-MM";
// "" for every month) when the uploader computes them.
func (a *Agent) Stats(ctx context.Context, month string) (*apitype.Stats, error) {
	now := a.clock.Now()
	head, err := a.st.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	qs, err := a.st.Stats(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	out := &apitype.Stats{
		Now: now.In(ksa), Chain: chainStatus(head),
		Unreported: qs.Unreported, NeverAttempted: qs.NeverAttempted, Retrying: qs.Retrying, Paused: qs.Paused,
		Reported: qs.Reported, ReportedWithWarnings: qs.ReportedWithWarnings, AlreadyReported: qs.AlreadyReported,
		Rejected: qs.Rejected, OldestUnreportedAge: int64(qs.OldestUnreportedAge / time.Second),
	}
	if m, ok := a.up.(MonthlyStatser); ok {
		if out.Months, err = m.MonthlyStats(ctx, month); err != nil {
			return nil, fmt.Errorf("stats: %w", err)
		}
	}
	return out, nil
}

// DeadLetters lists the documents ZATCA rejected, with its reasons.
func (a *Agent) DeadLetters(ctx context.Context) ([]apitype.DeadLetter, error) {
	dls, err := a.st.DeadLetters(ctx)
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	out := make([]apitype.DeadLetter, 0, len(dls))
	for _, d := range dls {
		x, err := a.deadLetterExtra(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("dead letters: %w", err)
		}
		out = append(out, apitype.DeadLetter{ICV: d.ICV, UUID: d.UUID, IRN: d.IRN, IssuedAt: d.IssuedAt.In(ksa),
			RejectedAt: d.RejectedAt.In(ksa), HTTPStatus: d.HTTPStatus, Errors: messages(d.Errors), Warnings: messages(d.Warnings),
			DeadLetterExtra: x})
	}
	return out, nil
}

func messages(ms []store.Message) []apitype.Message {
	if len(ms) == 0 {
		return nil
	}
	out := make([]apitype.Message, len(ms))
	for i, m := range ms {
		out[i] = apitype.Message{Type: m.Type, Code: m.Code, Category: m.Category, Message: m.Message}
	}
	return out
}

// checkClock asks the board whether the clock is plausible and records a change of
// verdict in the audit log.
func (a *Agent) checkClock(ctx context.Context) {
	if a.board == nil {
		return
	}
	cc := a.board.CheckClock(ctx)
	a.stateMu.Lock()
	prev := a.clockCheck
	a.clockCheck = &cc
	a.stateMu.Unlock()
	if prev != nil && prev.Sane == cc.Sane && boolPtrEq(prev.Synced, cc.Synced) {
		return
	}
	if !cc.Sane || (cc.Synced != nil && !*cc.Synced) {
		ev := store.ClockEvent{Kind: store.ClockUnsynced, At: a.clock.Now(), Source: "board", Detail: cc.Message}
		if err := a.st.RecordClockEvent(ctx, ev); err != nil {
			a.log.Error("record clock event", "err", err)
		}
		a.log.Warn("clock check", "sane", cc.Sane, "synced", syncedText(cc.Synced), "message", cc.Message)
	} else if prev != nil {
		a.audit(ctx, "clock.sane", 0, map[string]any{"synced": syncedText(cc.Synced), "message": cc.Message})
		a.log.Info("clock check passes again", "synced", syncedText(cc.Synced))
	}
}

func syncedText(b *bool) string {
	switch {
	case b == nil:
		return "unknown"
	case *b:
		return "yes"
	}
	return "no"
}

func boolPtrEq(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// observeClock compares how far the wall clock moved with how far the monotonic clock
// moved since the last observation; a difference beyond the threshold is a jump
// (someone or something set the time), recorded in the audit log ("time change" is a
// prohibited function, SPEC §8).
func (a *Agent) observeClock(ctx context.Context, lastWall time.Time, lastMono time.Duration, wall time.Time, mono time.Duration) {
	jump := wall.Round(0).Sub(lastWall.Round(0)) - (mono - lastMono)
	if jump.Abs() < a.cfg.ClockJumpThreshold {
		return
	}
	kind := store.ClockJumpedForward
	if jump < 0 {
		kind = store.ClockJumpedBack
	}
	expected := lastWall.Add(mono - lastMono)
	ev := store.ClockEvent{Kind: kind, At: wall, Previous: expected, Source: "agent",
		Detail: fmt.Sprintf("wall clock moved %v while %v elapsed", wall.Round(0).Sub(lastWall.Round(0)), mono-lastMono)}
	if err := a.st.RecordClockEvent(ctx, ev); err != nil {
		a.log.Error("record clock jump", "err", err)
	}
	a.stateMu.Lock()
	a.lastJump = &apitype.ClockJump{At: wall.In(ksa), Seconds: jump.Seconds()}
	a.stateMu.Unlock()
	a.log.Warn("clock jump", "kind", kind, "seconds", jump.Seconds(), "now", wall)
}

// checkPrinter polls the printer's state for status.
func (a *Agent) checkPrinter(ctx context.Context) {
	if a.prn == nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err := a.prn.Status(pctx)
	a.setPrinterStatus(st, err)
}

func (a *Agent) setPrinterStatus(st printer.Status, err error) {
	ps := apitype.PrinterStatus{State: "online", PaperNearEnd: st.PaperNearEnd}
	if err == nil {
		err = st.Err()
	}
	switch {
	case err == nil:
	case errors.Is(err, printer.ErrPaperOut):
		ps.State = "paper_out"
	case errors.Is(err, printer.ErrCoverOpen):
		ps.State = "cover_open"
	case errors.Is(err, printer.ErrOffline), errors.Is(err, printer.ErrTimeout), errors.Is(err, printer.ErrClosed):
		ps.State = "offline"
	default:
		ps.State = "error"
	}
	if err != nil {
		ps.Message = err.Error()
	}
	a.stateMu.Lock()
	a.printerSt = ps
	a.stateMu.Unlock()
}

// checkCredentials audits the moment the CSID becomes unusable (revoked or expired) or
// enters its renewal window, once per change.
func (a *Agent) checkCredentials(ctx context.Context) {
	now := a.clock.Now()
	up := a.up.UploadState()
	a.stampMu.RLock()
	_, c := a.keyAndCredentials(now, up)
	a.stampMu.RUnlock()
	a.stateMu.Lock()
	prev := a.lastCredState
	a.lastCredState = c.State
	a.stateMu.Unlock()
	if prev == c.State {
		return
	}
	a.audit(ctx, "credentials.state", 0, map[string]any{"from": prev, "to": c.State, "message": c.Message, "request_id": c.RequestID})
	a.log.Warn("credentials state changed", "from", prev, "to", c.State, "message", c.Message)
}
