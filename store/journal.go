package store

import (
	"context"
	"time"
)

// BuildFunc builds, signs and returns the next document for head: ICV must
// be head.ICV+1 and PIH head.Hash. It runs inside the journal's write
// transaction, so it must be quick (it holds the only writer) and must not
// call the journal's write methods (they would wait for the transaction
// it runs in). An error from it aborts the Append and uses up nothing.
type BuildFunc func(ctx context.Context, head Head) (*Document, error)

// Journal is the single chain of issued documents.
type Journal interface {
	// Append journals the document built for idempotencyKey. In one write
	// transaction it:
	//   - returns the stored document and existed=true, without calling
	//     build, when the key was journaled before;
	//   - refuses with a *ClockError (ErrClockWentBack), before calling
	//     build, when now is earlier than the head's IssuedAt, and commits
	//     an audit entry recording the refusal;
	//   - calls build(ctx, head) and checks the result: a *ChainError
	//     (ErrChainMismatch) unless ICV = head.ICV+1, PIH = head.Hash and
	//     IssuedAt lies in [now truncated to the second, now]; a
	//     *ValidationError (ErrInvalid) for a bad field or a UUID already
	//     used;
	//   - commits the document, the new head, its outbox row and its audit
	//     entry together, durably (fsync) before returning.
	// When the storage is full it fails with ErrStorageFull and changes
	// nothing. Who appends is taken from the context (WithActor).
	//
	// now is the caller's clock reading, taken just before the call by a
	// caller that serialises its appends (the agent holds its chain mutex
	// across reading the clock and Append): a reading that waited behind
	// another Append can be older than that Append's document; within the
	// same second (IssueTime's resolution) it is accepted, across a second
	// boundary it is refused as the clock going back.
	Append(ctx context.Context, idempotencyKey string, now time.Time, build BuildFunc) (doc *Document, existed bool, err error)

	// Head returns the end of the chain (GenesisHead when empty).
	Head(ctx context.Context) (Head, error)

	// Get, GetByICV and GetByKey return one document or ErrNotFound.
	Get(ctx context.Context, uuid string) (*Document, error)
	GetByICV(ctx context.Context, icv uint64) (*Document, error)
	GetByKey(ctx context.Context, idempotencyKey string) (*Document, error)

	// List returns the documents of r in ICV order.
	List(ctx context.Context, r Range) ([]*Document, error)

	// MarkPrinted records that the document was printed at at; copy marks
	// a reprint (printed as a copy). The first print must not be a copy
	// and there is only one first print. The document row is not touched.
	MarkPrinted(ctx context.Context, uuid string, at time.Time, copy bool) error

	// RecordClockEvent writes a clock jump observed outside Append (a
	// board clock check, an NTP step) to the audit log.
	RecordClockEvent(ctx context.Context, ev ClockEvent) error
}

// Range selects documents by ICV, both ends included. To 0 means up to the
// head; From 0 means from ICV 1.
type Range struct {
	From, To uint64
}

// Contains reports whether icv lies in r.
func (r Range) Contains(icv uint64) bool {
	return icv >= r.From && (r.To == 0 || icv <= r.To)
}

// Validate rejects an inverted range.
func (r Range) Validate() error {
	if r.To != 0 && r.To < r.From {
		return invalid("Range", "To %d is before From %d", r.To, r.From)
	}
	return nil
}

// ClockEventKind names what happened to the clock.
type ClockEventKind string

// Clock event kinds.
const (
	ClockJumpedBack    ClockEventKind = "jumped_back"
	ClockJumpedForward ClockEventKind = "jumped_forward"
	ClockSet           ClockEventKind = "set" // set by an operator or a time sync
	ClockUnsynced      ClockEventKind = "unsynced"
)

// ClockEvent is a clock change observed outside Append.
type ClockEvent struct {
	Kind     ClockEventKind
	At       time.Time // the clock reading after the change
	Previous time.Time // the reading expected without the change (may be zero)
	Source   string    // who noticed, e.g. "board", "ntp"
	Detail   string    // free text
}

// Validate checks the event's fields.
func (e ClockEvent) Validate() error {
	switch e.Kind {
	case ClockJumpedBack, ClockJumpedForward, ClockSet, ClockUnsynced:
	default:
		return invalid("ClockEvent.Kind", "must be jumped_back, jumped_forward, set or unsynced, got %q", clip(string(e.Kind)))
	}
	if err := ValidateTime("ClockEvent.At", e.At); err != nil {
		return err
	}
	if !e.Previous.IsZero() {
		if err := ValidateTime("ClockEvent.Previous", e.Previous); err != nil {
			return err
		}
	}
	if err := checkText("ClockEvent.Source", e.Source, 64, true); err != nil {
		return err
	}
	return checkText("ClockEvent.Detail", e.Detail, 1024, false)
}

type actorKey struct{}

// DefaultActor is the actor of journal entries whose context names none.
const DefaultActor = "system"

// WithActor returns a context naming who acts (e.g. "cashier:17"); the
// journal writes it into the audit entries of Append, MarkPrinted and the
// other mutations made with that context.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor named by WithActor, or DefaultActor.
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return DefaultActor
}
