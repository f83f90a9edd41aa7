// Package sqlite is posagent's journal on SQLite (github.com/mattn/go-sqlite3):
// it implements store.Journal, store.Outbox, store.Audit, store.Corrections
// and store.Verifier in one file.
//
// Durability: WAL with synchronous=FULL, so a commit is on disk (fsync)
// before Append returns; one write connection serialises writers (every
// write is a BEGIN IMMEDIATE transaction); a pool of read-only connections
// serves reads beside it. Schema changes are embedded, versioned
// migrations, each applied in its own transaction.
//
// Append-only: triggers refuse UPDATE and DELETE on documents and audit
// rows and refuse an INSERT that breaks ICV contiguity, PIH linkage or the
// audit chain, so even SQL run by hand against the file cannot rewrite
// history without dropping them first; Verify then finds what changed.
//
// It imports store and the SQLite driver only; it knows nothing of UBL.
package sqlite
