package store

import (
	"context"
	"fmt"
	"strings"
)

// RehashFunc recomputes a document's invoice hash from its signed XML
// (SPEC §4); the agent passes agent/ubl.InvoiceHashBase64.
type RehashFunc func(xml []byte) (string, error)

// Verifier checks a whole journal.
type Verifier interface {
	// Verify re-reads every document and audit entry and checks: ICV
	// contiguous from 1; each PIH equal to the previous document's hash
	// (the genesis value first); each stored hash equal to rehash(XML)
	// (skipped when rehash is nil); each row as written (the stored row
	// checksum); unique UUIDs and idempotency keys; the audit chain (Seq
	// contiguous, PrevHash links, Hash recomputed, ChainHash equal to the
	// document head of its time, one journal.issued entry per document
	// recording that document's hash and row checksum);
	// and the recorded chain heads against the last rows. It returns an
	// error only when it cannot read; what it finds is in the Report.
	Verify(ctx context.Context, rehash RehashFunc) (*Report, error)
}

// Report is Verify's finding.
type Report struct {
	Documents    uint64 // document rows read
	AuditEntries uint64 // audit rows read
	Head         Head   // from the last document row
	Rehashed     bool   // whether XML hashes were recomputed
	// Problems lists what is broken, in order: documents by ICV, then the
	// audit log by Seq, then the recorded heads; at most MaxProblems.
	Problems  []Problem
	Truncated bool // more problems than MaxProblems were found
}

// MaxProblems caps Report.Problems.
const MaxProblems = 100

// OK reports whether nothing is broken.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// First returns the first broken row, or nil.
func (r *Report) First() *Problem {
	if len(r.Problems) == 0 {
		return nil
	}
	return &r.Problems[0]
}

// Err returns nil when r is OK, otherwise an *IntegrityError for the first
// problem.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	return &IntegrityError{Problem: r.Problems[0], Count: len(r.Problems)}
}

// Add appends a problem, respecting MaxProblems.
func (r *Report) Add(p Problem) {
	if len(r.Problems) >= MaxProblems {
		r.Truncated = true
		return
	}
	r.Problems = append(r.Problems, p)
}

// Problem is one broken row.
type Problem struct {
	Table string // "documents", "audit" or "chain_state"
	RowID int64  // the row's rowid: the ICV for documents, the Seq for audit
	Field string // the column or rule that fails, e.g. "hash", "prev_hash", "icv"
	What  string // what is wrong, with the values
}

func (p Problem) String() string {
	var key string
	switch p.Table {
	case "documents":
		key = "ICV"
	case "audit":
		key = "seq"
	default:
		key = "row"
	}
	return fmt.Sprintf("%s %s %d: %s: %s", p.Table, key, p.RowID, p.Field, p.What)
}

// IntegrityError reports a journal that fails verification.
type IntegrityError struct {
	Problem Problem // the first broken row
	Count   int     // problems found (capped at MaxProblems)
}

func (e *IntegrityError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "journal integrity: %s", e.Problem)
	if e.Count > 1 {
		fmt.Fprintf(&b, " (and %d more)", e.Count-1)
	}
	return b.String()
}

// Store is everything a journal implementation provides.
type Store interface {
	Journal
	Outbox
	Audit
	Verifier
	Close(ctx context.Context) error
}
