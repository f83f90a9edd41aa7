package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/posagent/posagent/store"
)

// insertAudit appends e inside tx: it checks e (internal allows the
// journal's reserved actions), links it to the audit head and the document
// head read from chain_state, computes its hash and inserts it. It fills
// in e.Seq, e.ChainHash, e.PrevHash and e.Hash.
func insertAudit(ctx context.Context, tx *sql.Tx, e *store.Entry, internal bool) error {
	if err := e.Prepare(internal); err != nil {
		return err
	}
	e.At = e.At.Round(0).In(store.KSA)
	var seq uint64
	var docHash, prev string
	if err := tx.QueryRowContext(ctx, `SELECT doc_hash, audit_seq, audit_hash FROM chain_state WHERE id = 1`).Scan(&docHash, &seq, &prev); err != nil {
		return fmt.Errorf("read chain state: %w", err)
	}
	e.Seq, e.ChainHash, e.PrevHash = seq+1, docHash, prev
	h, err := store.AuditHash(prev, e)
	if err != nil {
		return err
	}
	e.Hash = h
	var icv sql.NullInt64
	if e.DocumentICV != 0 {
		icv = sql.NullInt64{Int64: int64(e.DocumentICV), Valid: true}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit (seq, at, actor, action, details, document_icv, chain_hash, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, nanos(e.At), e.Actor, e.Action, string(e.Details), icv, e.ChainHash, e.PrevHash, e.Hash)
	return err
}

// Record implements store.Audit.
func (db *DB) Record(ctx context.Context, e store.Entry) (store.Entry, error) {
	return db.record(ctx, "audit record", e, false)
}

func (db *DB) record(ctx context.Context, op string, e store.Entry, internal bool) (store.Entry, error) {
	if err := db.check(); err != nil {
		return store.Entry{}, fmt.Errorf("%s: %w", op, err)
	}
	if e.Actor == "" {
		e.Actor = store.ActorFrom(ctx)
	}
	if err := e.Prepare(internal); err != nil {
		return store.Entry{}, fmt.Errorf("%s: %w", op, err)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return store.Entry{}, fmt.Errorf("%s: begin: %w", op, classify(err))
	}
	defer tx.Rollback()
	if e.DocumentICV != 0 {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM documents WHERE icv = ?`, min(e.DocumentICV, math.MaxInt64)).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.Entry{}, fmt.Errorf("%s: %w", op, &store.ValidationError{Field: "Entry.DocumentICV", Reason: fmt.Sprintf("no document has ICV %d", e.DocumentICV)})
		}
		if err != nil {
			return store.Entry{}, fmt.Errorf("%s: %w", op, err)
		}
	}
	if err := insertAudit(ctx, tx, &e, internal); err != nil {
		return store.Entry{}, db.writeFailed(op, "insert", err)
	}
	if err := tx.Commit(); err != nil {
		return store.Entry{}, db.writeFailed(op, "commit", err)
	}
	return e, nil
}

// Entries implements store.Audit.
func (db *DB) Entries(ctx context.Context, f store.AuditFilter) ([]store.Entry, error) {
	const op = "audit entries"
	if err := db.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	for _, x := range []struct {
		field string
		t     time.Time
	}{{"AuditFilter.Since", f.Since}, {"AuditFilter.Until", f.Until}} {
		if !x.t.IsZero() {
			if err := store.ValidateTime(x.field, x.t); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
		}
	}
	if f.Limit < 0 {
		return nil, fmt.Errorf("%s: %w", op, &store.ValidationError{Field: "AuditFilter.Limit", Reason: "is negative"})
	}
	var where []string
	var args []any
	add := func(cond string, arg any) { where = append(where, cond); args = append(args, arg) }
	if f.FromSeq != 0 {
		add("seq >= ?", min(f.FromSeq, math.MaxInt64))
	}
	if f.ToSeq != 0 {
		add("seq <= ?", min(f.ToSeq, math.MaxInt64))
	}
	if !f.Since.IsZero() {
		add("at >= ?", nanos(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", nanos(f.Until))
	}
	if strings.HasSuffix(f.Action, ".") {
		add("substr(action, 1, ?) = ?", len(f.Action))
		args = append(args, f.Action)
	} else if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.DocumentICV != 0 {
		add("document_icv = ?", min(f.DocumentICV, math.MaxInt64))
	}
	q := `SELECT seq, at, actor, action, details, document_icv, chain_hash, prev_hash, hash FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	var out []store.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

func scanEntry(s scanner) (store.Entry, error) {
	var e store.Entry
	var at int64
	var details string
	var icv sql.NullInt64
	if err := s.Scan(&e.Seq, &at, &e.Actor, &e.Action, &details, &icv, &e.ChainHash, &e.PrevHash, &e.Hash); err != nil {
		return store.Entry{}, err
	}
	e.At = fromNanos(at)
	e.Details = []byte(details)
	if icv.Valid {
		e.DocumentICV = uint64(icv.Int64)
	}
	return e, nil
}
