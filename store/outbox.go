package store

import (
	"context"
	"time"
)

// Outbox is the reporting queue, the narrow view the uploader works
// against. Every journaled document enters it as pending in the same
// transaction as the document; report status lives in its own table, so
// documents stay immutable. Reporting is at-least-once: the uploader
// resends the exact stored bytes until an attempt with a final outcome is
// recorded (DESIGN decision 5).
type Outbox interface {
	// Pending returns up to limit documents that are due (next attempt at
	// or before now) and not final, oldest (lowest ICV) first, each with
	// its Report state.
	Pending(ctx context.Context, now time.Time, limit int) ([]*Document, error)

	// RecordAttempt records one reporting attempt for the document and
	// moves its report status. It fails with ErrReportFinal once the
	// status is final and ErrNotFound for an unknown UUID.
	RecordAttempt(ctx context.Context, uuid string, a Attempt) error

	// Attempts returns the document's attempts, oldest first.
	Attempts(ctx context.Context, uuid string) ([]Attempt, error)

	// Stats counts documents per report status, for /v1/status and alarms.
	Stats(ctx context.Context, now time.Time) (OutboxStats, error)

	// DeadLetters lists the rejected documents (400: never resent, shown
	// to the operator), oldest first.
	DeadLetters(ctx context.Context) ([]DeadLetter, error)
}

// Outcome is how a reporting attempt ended (SPEC §2.5), or "pending" for a
// document never attempted.
type Outcome string

// Outcomes.
const (
	OutcomePending              Outcome = "pending"                // no attempt yet (status only)
	OutcomeReported             Outcome = "reported"               // 200
	OutcomeReportedWithWarnings Outcome = "reported_with_warnings" // 202
	OutcomeAlreadyReported      Outcome = "already_reported"       // 409: success
	OutcomeRejected             Outcome = "rejected"               // 400: never resent
	OutcomeRetry                Outcome = "retry"                  // 429, 5xx, timeouts: back off
	OutcomePaused               Outcome = "paused"                 // 401, 406: queue stopped, alarm
)

// Final reports whether no attempt follows an attempt with this outcome.
func (o Outcome) Final() bool {
	switch o {
	case OutcomeReported, OutcomeReportedWithWarnings, OutcomeAlreadyReported, OutcomeRejected:
		return true
	}
	return false
}

// Valid reports whether o is an outcome an attempt can record.
func (o Outcome) Valid() bool {
	return o.Final() || o == OutcomeRetry || o == OutcomePaused
}

// Message is one validation message of ZATCA's answer.
type Message struct {
	Type     string `json:"type,omitempty"` // INFO, WARNING, ERROR
	Code     string `json:"code"`           // e.g. BR-KSA-98, invalid-invoice-hash
	Category string `json:"category,omitempty"`
	Message  string `json:"message,omitempty"`
	Status   string `json:"status,omitempty"`
}

// Attempt is one reporting attempt.
type Attempt struct {
	At         time.Time
	HTTPStatus int // 0 when no HTTP answer came (network error, timeout)
	Outcome    Outcome
	// ResponseJSON is ZATCA's response body as received (kept verbatim,
	// even when it is not JSON, e.g. the 406 text).
	ResponseJSON []byte
	Warnings     []Message
	Errors       []Message
	// TransportError is the client's error text when no answer came.
	TransportError string
	// NextAttemptAt is required for retry and paused, and zero for final
	// outcomes.
	NextAttemptAt time.Time
}

// MaxResponseBytes caps a stored response body.
const MaxResponseBytes = 1 << 20

// Validate checks an attempt's fields.
func (a *Attempt) Validate() error {
	if err := ValidateTime("Attempt.At", a.At); err != nil {
		return err
	}
	if a.HTTPStatus != 0 && (a.HTTPStatus < 100 || a.HTTPStatus > 599) {
		return invalid("Attempt.HTTPStatus", "must be 0 (no answer) or 100-599, got %d", a.HTTPStatus)
	}
	if !a.Outcome.Valid() {
		return invalid("Attempt.Outcome", "must be reported, reported_with_warnings, already_reported, rejected, retry or paused, got %q", clip(string(a.Outcome)))
	}
	if a.Outcome.Final() && !a.NextAttemptAt.IsZero() {
		return invalid("Attempt.NextAttemptAt", "must be zero for the final outcome %s", a.Outcome)
	}
	if !a.Outcome.Final() {
		if a.NextAttemptAt.IsZero() {
			return invalid("Attempt.NextAttemptAt", "is required for outcome %s", a.Outcome)
		}
		if err := ValidateTime("Attempt.NextAttemptAt", a.NextAttemptAt); err != nil {
			return err
		}
		if a.NextAttemptAt.Before(a.At) {
			return invalid("Attempt.NextAttemptAt", "is before the attempt itself")
		}
	}
	if len(a.ResponseJSON) > MaxResponseBytes {
		return invalid("Attempt.ResponseJSON", "is %d bytes, more than %d", len(a.ResponseJSON), MaxResponseBytes)
	}
	if len(a.TransportError) > 4096 {
		return invalid("Attempt.TransportError", "is %d bytes, more than 4096", len(a.TransportError))
	}
	for i, m := range append(append([]Message(nil), a.Warnings...), a.Errors...) {
		if m.Code == "" {
			return invalid("Attempt.Warnings/Errors", "message %d has no code", i)
		}
	}
	return nil
}

// ReportState is a document's reporting status.
type ReportState struct {
	Status        Outcome // OutcomePending until the first attempt, then the last outcome
	Attempts      int
	LastAttemptAt time.Time // zero before the first attempt
	NextAttemptAt time.Time // zero once final
	FinalAt       time.Time // zero until final
	HTTPStatus    int       // of the last attempt
	Warnings      []Message // of the last attempt
	Errors        []Message // of the last attempt
}

// Final reports whether reporting is over for the document.
func (r ReportState) Final() bool { return r.Status.Final() }

// OutboxStats counts documents per report status.
type OutboxStats struct {
	Unreported           int // not final: pending, retry or paused
	Due                  int // unreported with the next attempt at or before now
	NeverAttempted       int
	Retrying             int
	Paused               int
	Reported             int
	ReportedWithWarnings int
	AlreadyReported      int
	Rejected             int
	// OldestUnreported is the IssuedAt of the oldest unreported document
	// (zero when none) and OldestUnreportedAge its age at now: simplified
	// documents must be reported within 24 hours (SPEC §2.5).
	OldestUnreported    time.Time
	OldestUnreportedAge time.Duration
}

// DeadLetter is a rejected document with ZATCA's reasons.
type DeadLetter struct {
	ICV        uint64
	UUID       string
	IRN        string
	IssuedAt   time.Time
	RejectedAt time.Time
	HTTPStatus int
	Errors     []Message
	Warnings   []Message
}
