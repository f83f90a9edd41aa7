package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// Audit is the append-only, hash-chained audit log. Each entry carries the
// document chain's head hash at the time it was written ("log entries
// time-stamped and chained with the previous invoice hash", SPEC §8) and
// its own hash over the previous entry's hash and its canonical bytes
// (AuditHash), so a changed, inserted or deleted entry breaks the chain.
type Audit interface {
	// Record appends e in its own transaction and returns it as stored
	// (Seq, ChainHash, PrevHash, Hash filled in). An empty Actor is taken
	// from the context (WithActor). Actions starting "journal." are
	// reserved for the journal's own entries.
	Record(ctx context.Context, e Entry) (Entry, error)

	// Entries returns the entries f selects, in Seq order.
	Entries(ctx context.Context, f AuditFilter) ([]Entry, error)
}

// Entry is one audit log row.
type Entry struct {
	Seq    uint64    // 1, 2, 3…; set by the store
	At     time.Time // when it happened
	Actor  string    // who: "cashier:17", "system", "operator"
	Action string    // what: lower-case dotted name, e.g. "session.login"
	// Details is a JSON object (stored compact); empty means {}.
	Details json.RawMessage
	// DocumentICV is the document the entry is about; 0 when none.
	DocumentICV uint64
	// ChainHash is the document chain's head hash when the entry was
	// written (GenesisPIH before the first document); set by the store.
	ChainHash string
	PrevHash  string // Hash of entry Seq-1 (AuditGenesis for Seq 1); set by the store
	Hash      string // AuditHash(PrevHash, entry), lower-case hex; set by the store
}

// AuditFilter selects audit entries; zero fields select everything.
type AuditFilter struct {
	FromSeq, ToSeq uint64    // both included; ToSeq 0 = no upper bound
	Since, Until   time.Time // At in [Since, Until); zero = unbounded
	Action         string    // exact action, or a prefix ending in "." ("journal.")
	Actor          string
	DocumentICV    uint64
	Limit          int // 0 = no limit
}

// Actions the journal writes itself. Record refuses the "journal." prefix.
const (
	ActionIssued        = "journal.issued"        // a document was appended
	ActionPrinted       = "journal.printed"       // first print
	ActionReprinted     = "journal.reprinted"     // a copy was printed
	ActionClockRefused  = "journal.clock_refused" // Append refused: clock went back
	ActionClockEvent    = "journal.clock_event"   // RecordClockEvent
	ActionReportFinal   = "journal.report_final"  // a final reporting outcome
	ReservedActionSpace = "journal."
)

// AuditGenesis is the PrevHash of the first audit entry: 32 zero bytes in
// hex.
const AuditGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

const auditDomain = "posagent.audit.v1"

var actionRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$`)

// MaxDetailsBytes caps an entry's Details.
const MaxDetailsBytes = 64 << 10

// Prepare checks a new entry from Record's caller and compacts its
// Details. It refuses store-set fields and reserved actions unless
// internal is true.
func (e *Entry) Prepare(internal bool) error {
	if e.Seq != 0 || e.ChainHash != "" || e.PrevHash != "" || e.Hash != "" {
		return invalid("Entry", "Seq, ChainHash, PrevHash and Hash are set by the store")
	}
	if err := ValidateTime("Entry.At", e.At); err != nil {
		return err
	}
	if err := checkText("Entry.Actor", e.Actor, 128, true); err != nil {
		return err
	}
	if len(e.Action) > 64 || !actionRE.MatchString(e.Action) {
		return invalid("Entry.Action", "must be a lower-case dotted name of at most 64 characters, got %q", clip(e.Action))
	}
	if !internal && strings.HasPrefix(e.Action, ReservedActionSpace) {
		return invalid("Entry.Action", "%q: the %q actions are written by the journal only", e.Action, ReservedActionSpace)
	}
	if len(bytes.TrimSpace(e.Details)) == 0 {
		e.Details = json.RawMessage("{}")
	}
	if len(e.Details) > MaxDetailsBytes {
		return invalid("Entry.Details", "is %d bytes, more than %d", len(e.Details), MaxDetailsBytes)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, e.Details); err != nil {
		return invalid("Entry.Details", "is not JSON: %v", err)
	}
	if buf.Bytes()[0] != '{' {
		return invalid("Entry.Details", "must be a JSON object")
	}
	e.Details = json.RawMessage(buf.Bytes())
	return nil
}

// AuditHash returns the entry's hash: lower-case hex of
// SHA-256(prev || canonical(e)), where prev is the 32 bytes of prevHash
// (hex) and canonical(e) is, in order, the domain string
// "posagent.audit.v1", Actor, Action, Details and ChainHash, each as a
// 4-byte big-endian length and its bytes, with Seq, At (Unix nanoseconds)
// and DocumentICV as 8-byte big-endian integers after the domain string.
// An external tool can re-check an exported log with this definition.
func AuditHash(prevHash string, e *Entry) (string, error) {
	prev, err := hex.DecodeString(prevHash)
	if err != nil || len(prev) != sha256.Size {
		return "", invalid("Entry.PrevHash", "must be 64 hex characters, got %q", clip(prevHash))
	}
	h := sha256.New()
	h.Write(prev)
	var n [8]byte
	field := func(s []byte) {
		binary.BigEndian.PutUint32(n[:4], uint32(len(s)))
		h.Write(n[:4])
		h.Write(s)
	}
	u64 := func(v uint64) {
		binary.BigEndian.PutUint64(n[:], v)
		h.Write(n[:])
	}
	field([]byte(auditDomain))
	u64(e.Seq)
	u64(uint64(e.At.UnixNano()))
	u64(e.DocumentICV)
	field([]byte(e.Actor))
	field([]byte(e.Action))
	field(e.Details)
	field([]byte(e.ChainHash))
	return hex.EncodeToString(h.Sum(nil)), nil
}
