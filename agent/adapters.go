package agent

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/board"
	"github.com/posagent/posagent/offline"
)

// BoardClock adapts a board.Board's clock sanity check to the agent's ClockChecker.
func BoardClock(b board.Board) ClockChecker { return boardClock{b} }

type boardClock struct{ b board.Board }

func (c boardClock) CheckClock(ctx context.Context) ClockCheck {
	s, err := c.b.ClockSanity(ctx)
	out := ClockCheck{Sane: err == nil}
	switch s.Sync {
	case board.SyncSynced:
		t := true
		out.Synced = &t
	case board.SyncUnsynced:
		f := false
		out.Synced = &f
		out.Message = "the clock is not synchronised (NTP)"
	}
	if err != nil {
		var ce *board.ClockError
		if !errors.As(err, &ce) && ctx.Err() != nil {
			out.Sane = true // a cancelled check says nothing about the clock
			return out
		}
		out.Message = err.Error()
	}
	return out
}

// WorkerUploader adapts the reporting worker to the agent's Uploader. The worker's
// status reads the journal's queue counts, so the adapter keeps a snapshot for up to
// refresh (the sale path asks for it twice per sale). A pause that began before the
// last credentials change is not held against the new credentials.
func WorkerUploader(w *offline.Worker, refresh time.Duration) Uploader {
	return &workerUploader{w: w, refresh: refresh}
}

type workerUploader struct {
	w       *offline.Worker
	refresh time.Duration

	mu        sync.Mutex
	at        time.Time
	snap      offline.Status
	changedAt time.Time
}

func (u *workerUploader) Kick() { u.w.Kick() }

func (u *workerUploader) CredentialsChanged() {
	u.mu.Lock()
	u.changedAt, u.at = time.Now(), time.Time{}
	u.mu.Unlock()
	u.w.Resume()
}

func (u *workerUploader) UploadState() UploadState {
	u.mu.Lock()
	defer u.mu.Unlock()
	if time.Since(u.at) >= u.refresh {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := u.w.Status(ctx)
		cancel()
		if err == nil || !s.At.IsZero() {
			u.snap, u.at = s, time.Now()
		}
	}
	s := u.snap
	out := UploadState{State: "stopped"}
	if s.Running {
		out.State = "running"
	}
	paused := s.Paused && !(!u.changedAt.IsZero() && s.PausedSince.Before(u.changedAt))
	if paused {
		out.State = "paused"
		out.PausedReason = s.PauseReason
		out.Unauthorized = s.PauseHTTPStatus == http.StatusUnauthorized
	}
	for _, n := range s.Notices {
		if n.Code == offline.NoticePaused && !paused {
			continue
		}
		if n.Level == offline.LevelAlarm {
			out.Alarms = append(out.Alarms, n.Message)
		}
		out.Notices = append(out.Notices, n.Message)
	}
	return out
}

// MonthlyStats returns the worker's per-month figures (all months when month is "").
func (u *workerUploader) MonthlyStats(ctx context.Context, month string) ([]apitype.MonthStats, error) {
	ms, err := u.w.MonthlyStats(ctx, month)
	if err != nil {
		return nil, err
	}
	out := make([]apitype.MonthStats, len(ms))
	for i, m := range ms {
		out[i] = apitype.MonthStats{Month: m.Month, Issued: m.Issued, Accepted: m.Accepted,
			AcceptedWithWarnings: m.AcceptedWithWarnings, AlreadyReported: m.AlreadyReported,
			Rejected: m.Rejected, Pending: m.Pending, Late: m.Late, FailurePeriod: m.FailurePeriod}
	}
	return out, nil
}
