package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/posagent/posagent/store"
)

var _ store.Corrections = (*DB)(nil)

// insertLinks writes the links of doc (just inserted in tx) and enforces,
// inside Append's transaction, what they promise: a note's own original is
// an invoice of this journal; the lines returned against it, summed over
// every credit note, stay within what was sold; a replaced document is a
// dead letter not replaced before.
func insertLinks(ctx context.Context, tx *sql.Tx, doc *store.Document) error {
	if n := doc.Note; n != nil {
		var orig sql.NullInt64
		if !n.Foreign {
			var typ string
			err := tx.QueryRowContext(ctx, `SELECT type FROM documents WHERE icv = ?`, n.ICV).Scan(&typ)
			if errors.Is(err, sql.ErrNoRows) || err == nil && typ != string(store.TypeInvoice) {
				return &store.ValidationError{Field: "Note.ICV", Reason: fmt.Sprintf("ICV %d is not an invoice of this journal", n.ICV)}
			}
			if err != nil {
				return err
			}
			orig = sql.NullInt64{Int64: int64(n.ICV), Valid: true}
		}
		foreign := 0
		if n.Foreign {
			foreign = 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO note_refs (icv, original_irn, original_icv, is_foreign, foreign_egs,
			foreign_issue_date) VALUES (?, ?, ?, ?, ?, ?)`, doc.ICV, n.IRN, orig, foreign, n.EGS, n.IssueDate); err != nil {
			return err
		}
	}
	if doc.Replaces != 0 {
		var status string
		var by sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT r.status, (SELECT icv FROM replacements WHERE replaces_icv = r.icv)
			FROM report_status r WHERE r.icv = ?`, doc.Replaces).Scan(&status, &by)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return &store.CorrectionError{ICV: doc.Replaces, Reason: "no such document"}
		case err != nil:
			return err
		case by.Valid:
			return &store.CorrectionError{ICV: doc.Replaces, Reason: fmt.Sprintf("was already replaced by ICV %d", by.Int64)}
		case status != string(store.OutcomeRejected):
			return &store.CorrectionError{ICV: doc.Replaces, Reason: "is " + status + ", not rejected by ZATCA: only a rejected document is replaced"}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO replacements (icv, replaces_icv) VALUES (?, ?)`, doc.ICV, doc.Replaces); err != nil {
			return err
		}
	}
	if len(doc.Returned) > 0 {
		if err := checkReturnLimits(ctx, tx, doc); err != nil {
			return err
		}
		for _, r := range doc.Returned {
			if _, err := tx.ExecContext(ctx, `INSERT INTO returned_lines (icv, original_icv, line, name, quantity, amount,
				sold_quantity, sold_amount) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, doc.ICV, doc.Note.ICV, r.Line, r.Name,
				r.Quantity, r.Amount, r.SoldQuantity, r.SoldAmount); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkReturnLimits refuses a credit note whose lines, added to those of
// the invoice's earlier credit notes, return more than was sold.
func checkReturnLimits(ctx context.Context, tx *sql.Tx, doc *store.Document) error {
	prev, err := returnedLines(ctx, tx, doc.Note.ICV)
	if err != nil {
		return err
	}
	return store.CheckReturns(doc.Note.IRN, prev, doc.Returned)
}

func returnedLines(ctx context.Context, q queryer, originalICV uint64) ([]store.ReturnedLine, error) {
	rows, err := q.QueryContext(ctx, `SELECT icv, line, name, quantity, amount, sold_quantity, sold_amount
		FROM returned_lines WHERE original_icv = ? AND icv NOT IN (SELECT replaces_icv FROM replacements) ORDER BY icv, line`, originalICV)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ReturnedLine
	for rows.Next() {
		var r store.ReturnedLine
		if err := rows.Scan(&r.NoteICV, &r.Line, &r.Name, &r.Quantity, &r.Amount, &r.SoldQuantity, &r.SoldAmount); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Returned implements store.Corrections.
func (db *DB) Returned(ctx context.Context, originalICV uint64) ([]store.ReturnedLine, error) {
	op := "journal returned lines of ICV " + strconv.FormatUint(originalICV, 10)
	if err := db.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if originalICV > math.MaxInt64 {
		return nil, nil
	}
	out, err := returnedLines(ctx, db.r, originalICV)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// Links implements store.Corrections.
func (db *DB) Links(ctx context.Context, icv uint64) (*store.Links, error) {
	op := "journal links of ICV " + strconv.FormatUint(icv, 10)
	if err := db.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if icv > math.MaxInt64 {
		return nil, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var (
		l               store.Links
		typ             string
		replaces, byICV sql.NullInt64
		irn, egs, date  sql.NullString
		orig            sql.NullInt64
		foreign         sql.NullInt64
	)
	err := db.r.QueryRowContext(ctx, `SELECT d.type,
		(SELECT replaces_icv FROM replacements WHERE icv = d.icv),
		(SELECT icv FROM replacements WHERE replaces_icv = d.icv),
		(SELECT count(*) FROM resends WHERE icv = d.icv),
		n.original_irn, n.original_icv, n.is_foreign, n.foreign_egs, n.foreign_issue_date
		FROM documents d LEFT JOIN note_refs n ON n.icv = d.icv WHERE d.icv = ?`, icv).Scan(&typ, &replaces, &byICV, &l.Resends,
		&irn, &orig, &foreign, &egs, &date)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	l.Replaces, l.ReplacedBy = uint64(replaces.Int64), uint64(byICV.Int64)
	if irn.Valid {
		l.Note = &store.NoteRef{IRN: irn.String, ICV: uint64(orig.Int64), Foreign: foreign.Int64 == 1, EGS: egs.String, IssueDate: date.String}
	}
	if typ == string(store.TypeCreditNote) {
		rows, err := db.r.QueryContext(ctx, `SELECT icv, line, name, quantity, amount, sold_quantity, sold_amount
			FROM returned_lines WHERE icv = ? ORDER BY line`, icv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		defer rows.Close()
		for rows.Next() {
			var r store.ReturnedLine
			if err := rows.Scan(&r.NoteICV, &r.Line, &r.Name, &r.Quantity, &r.Amount, &r.SoldQuantity, &r.SoldAmount); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			l.Returned = append(l.Returned, r)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	return &l, nil
}

// Resend implements store.Corrections.
func (db *DB) Resend(ctx context.Context, uuid string, at time.Time, reason string) error {
	op := "journal resend " + strconv.Quote(uuid)
	if err := db.check(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := store.ValidateTime("at", at); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if len(reason) > 1000 {
		return fmt.Errorf("%s: %w", op, &store.ValidationError{Field: "reason", Reason: "is more than 1000 bytes"})
	}
	at = at.Round(0).In(store.KSA)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, classify(err))
	}
	defer tx.Rollback()
	var (
		icv     uint64
		status  string
		finalAt sql.NullInt64
		by      sql.NullInt64
		hash    string
	)
	err = tx.QueryRowContext(ctx, `SELECT d.icv, d.hash, r.status, r.final_at, (SELECT icv FROM replacements WHERE replaces_icv = d.icv)
		FROM documents d JOIN report_status r ON r.icv = d.icv WHERE d.uuid = ?`, uuid).Scan(&icv, &hash, &status, &finalAt, &by)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch {
	case status != string(store.OutcomeRejected):
		return fmt.Errorf("%s: %w", op, &store.CorrectionError{ICV: icv, Reason: "is " + status + ", not rejected by ZATCA: only a dead letter is resent"})
	case by.Valid:
		return fmt.Errorf("%s: %w", op, &store.CorrectionError{ICV: icv, Reason: fmt.Sprintf("was replaced by ICV %d: resending it would report the sale twice", by.Int64)})
	}
	if finalAt.Valid && at.UnixNano() < finalAt.Int64 {
		at = fromNanos(finalAt.Int64)
	}
	actor := store.ActorFrom(ctx)
	if _, err := tx.ExecContext(ctx, `INSERT INTO resends (icv, at, actor, reason) VALUES (?, ?, ?, ?)`, icv, nanos(at), actor, reason); err != nil {
		return db.writeFailed(op, "insert resend", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE report_status SET status = 'pending', final = 0, next_attempt_at = ?, final_at = NULL
		WHERE icv = ?`, nanos(at), icv); err != nil {
		return db.writeFailed(op, "requeue", err)
	}
	details, _ := json.Marshal(map[string]any{"uuid": uuid, "hash": hash, "reason": reason})
	e := store.Entry{At: at, Actor: actor, Action: store.ActionResent, Details: details, DocumentICV: icv}
	if err := insertAudit(ctx, tx, &e, true); err != nil {
		return db.writeFailed(op, "audit", err)
	}
	if err := tx.Commit(); err != nil {
		return db.writeFailed(op, "commit", err)
	}
	db.log.Info("rejected document requeued", "icv", icv, "uuid", uuid, "actor", actor)
	return nil
}

// linkFailed wraps a failure of insertLinks: the typed refusals as they
// are, storage errors as writes.
func (db *DB) linkFailed(op string, err error) error {
	var ve *store.ValidationError
	var rl *store.ReturnLimitError
	var ce *store.CorrectionError
	if errors.As(err, &ve) || errors.As(err, &rl) || errors.As(err, &ce) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return db.writeFailed(op, "links", err)
}
