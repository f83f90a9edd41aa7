package store

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Implementations wrap them (directly or through the typed
// errors below) so callers classify with errors.Is.
var (
	// ErrNotFound: no document (or audit entry) matches.
	ErrNotFound = errors.New("store: not found")
	// ErrInvalid: the input breaks a rule; nothing was written. The error is
	// a *ValidationError naming the field.
	ErrInvalid = errors.New("store: invalid input")
	// ErrClockWentBack: Append refused to sign because the clock reads
	// earlier than the last document. The error is a *ClockError.
	ErrClockWentBack = errors.New("store: clock went back")
	// ErrChainMismatch: the document a build function returned does not
	// continue the chain (ICV or PIH). The error is a *ChainError.
	ErrChainMismatch = errors.New("store: document does not continue the chain")
	// ErrStorageFull: the disk or the configured quota is full. Nothing was
	// written; the same call succeeds once space returns.
	ErrStorageFull = errors.New("store: storage full")
	// ErrReportFinal: the document's report status is final (reported or
	// rejected); no further attempt can be recorded.
	ErrReportFinal = errors.New("store: report status is final")
	// ErrCorrupt: stored data fails its own checksum or cannot be decoded;
	// Verify tells which row.
	ErrCorrupt = errors.New("store: stored data is corrupt")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
)

// ValidationError says which field of the input breaks which rule.
type ValidationError struct {
	Field  string // e.g. "UUID", "Attempt.NextAttemptAt", "Entry.Details"
	Reason string // e.g. "must contain only letters, digits and dashes (BR-KSA-03)"
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ClockError is Append's refusal to sign while the clock reads earlier than
// the last journaled document ("time change" is a prohibited function,
// SPEC §8). The refusal itself is recorded in the audit log.
type ClockError struct {
	Now      time.Time // the clock reading Append was given
	Last     time.Time // IssuedAt of the head document
	LastICV  uint64    // ICV of the head document
	AuditSeq uint64    // the audit entry that records the refusal
}

func (e *ClockError) Error() string {
	return fmt.Sprintf("clock went back: now %s is %s earlier than document ICV %d issued %s",
		e.Now.In(KSA).Format(time.RFC3339), e.Last.Sub(e.Now), e.LastICV, e.Last.In(KSA).Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrClockWentBack) true.
func (e *ClockError) Is(target error) bool { return target == ErrClockWentBack }

// ChainError says how a built document fails to continue the chain.
type ChainError struct {
	Field string // "ICV", "PIH", "IssuedAt" or "IdempotencyKey"
	Want  string
	Got   string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("document %s does not continue the chain: want %s, got %s", e.Field, e.Want, e.Got)
}

// Is makes errors.Is(err, ErrChainMismatch) true.
func (e *ChainError) Is(target error) bool { return target == ErrChainMismatch }
