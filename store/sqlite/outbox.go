package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/posagent/posagent/store"
)

// MaxPending caps Pending's limit.
const MaxPending = 1000

// Pending implements store.Outbox.
func (db *DB) Pending(ctx context.Context, now time.Time, limit int) ([]*store.Document, error) {
	const op = "outbox pending"
	if err := db.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if limit < 1 || limit > MaxPending {
		return nil, fmt.Errorf("%s: %w", op, &store.ValidationError{Field: "limit", Reason: fmt.Sprintf("must be 1 to %d, got %d", MaxPending, limit)})
	}
	if err := store.ValidateTime("now", now); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	// The due ICVs are chosen and sorted on report_status alone, so a large backlog
	// never sorts document payloads; only the chosen rows are joined.
	docs, err := db.queryDocuments(ctx, `SELECT `+docColumns+` FROM
		(SELECT icv FROM report_status WHERE final = 0 AND next_attempt_at <= ? ORDER BY icv LIMIT ?) due
		JOIN documents d ON d.icv = due.icv JOIN report_status r ON r.icv = d.icv ORDER BY d.icv`, nanos(now), limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return docs, nil
}

func messagesJSON(ms []store.Message) string {
	if len(ms) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ms) // plain strings: cannot fail
	return string(b)
}

// RecordAttempt implements store.Outbox.
func (db *DB) RecordAttempt(ctx context.Context, uuid string, a store.Attempt) error {
	op := "outbox record attempt " + strconv.Quote(uuid)
	if err := db.check(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := a.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	at := a.At.Round(0).In(store.KSA)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, classify(err))
	}
	defer tx.Rollback()
	var icv uint64
	var status string
	var final int
	err = tx.QueryRowContext(ctx, `SELECT r.icv, r.status, r.final FROM documents d JOIN report_status r ON r.icv = d.icv
		WHERE d.uuid = ?`, uuid).Scan(&icv, &status, &final)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if final == 1 {
		return fmt.Errorf("%s: ICV %d is %s: %w", op, icv, status, store.ErrReportFinal)
	}
	warnings, errs := messagesJSON(a.Warnings), messagesJSON(a.Errors)
	next := nullNanos(a.NextAttemptAt)
	if _, err := tx.ExecContext(ctx, `INSERT INTO report_attempts (icv, at, http_status, outcome, next_attempt_at,
		warnings, errors, transport_error, response) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		icv, nanos(at), a.HTTPStatus, string(a.Outcome), next, warnings, errs, a.TransportError, nonNil(a.ResponseJSON)); err != nil {
		return db.writeFailed(op, "insert attempt", err)
	}
	fin, finalAt := 0, sql.NullInt64{}
	if a.Outcome.Final() {
		fin, finalAt = 1, nullNanos(at)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE report_status SET status = ?, final = ?, attempts = attempts + 1,
		next_attempt_at = ?, last_attempt_at = ?, final_at = ?, http_status = ?, warnings = ?, errors = ? WHERE icv = ?`,
		string(a.Outcome), fin, next, nanos(at), finalAt, a.HTTPStatus, warnings, errs, icv); err != nil {
		return db.writeFailed(op, "update status", err)
	}
	if a.Outcome.Final() {
		codes := make([]string, 0, len(a.Errors))
		for _, m := range a.Errors {
			codes = append(codes, m.Code)
		}
		details, _ := json.Marshal(map[string]any{"uuid": uuid, "outcome": a.Outcome, "http_status": a.HTTPStatus,
			"warnings": len(a.Warnings), "error_codes": codes})
		e := store.Entry{At: at, Actor: store.ActorFrom(ctx), Action: store.ActionReportFinal, Details: details, DocumentICV: icv}
		if err := insertAudit(ctx, tx, &e, true); err != nil {
			return db.writeFailed(op, "audit", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return db.writeFailed(op, "commit", err)
	}
	db.log.Debug("report attempt recorded", "icv", icv, "uuid", uuid, "outcome", a.Outcome, "http_status", a.HTTPStatus)
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Attempts implements store.Outbox.
func (db *DB) Attempts(ctx context.Context, uuid string) ([]store.Attempt, error) {
	op := "outbox attempts " + strconv.Quote(uuid)
	if err := db.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer tx.Rollback()
	var icv uint64
	err = tx.QueryRowContext(ctx, `SELECT icv FROM documents WHERE uuid = ?`, uuid).Scan(&icv)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT at, http_status, outcome, next_attempt_at, warnings, errors,
		transport_error, response FROM report_attempts WHERE icv = ? ORDER BY id`, icv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	out := []store.Attempt{}
	for rows.Next() {
		var a store.Attempt
		var at int64
		var next sql.NullInt64
		var outcome, warnings, errs string
		if err := rows.Scan(&at, &a.HTTPStatus, &outcome, &next, &warnings, &errs, &a.TransportError, &a.ResponseJSON); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		a.At, a.NextAttemptAt, a.Outcome = fromNanos(at), fromNull(next), store.Outcome(outcome)
		if err := json.Unmarshal([]byte(warnings), &a.Warnings); err != nil {
			return nil, fmt.Errorf("%s: warnings: %w", op, err)
		}
		if err := json.Unmarshal([]byte(errs), &a.Errors); err != nil {
			return nil, fmt.Errorf("%s: errors: %w", op, err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// Stats implements store.Outbox. It counts with one scan of the status
// table.
func (db *DB) Stats(ctx context.Context, now time.Time) (store.OutboxStats, error) {
	const op = "outbox stats"
	var s store.OutboxStats
	if err := db.check(); err != nil {
		return s, fmt.Errorf("%s: %w", op, err)
	}
	if err := store.ValidateTime("now", now); err != nil {
		return s, fmt.Errorf("%s: %w", op, err)
	}
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return s, fmt.Errorf("%s: %w", op, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT status, count(*) FROM report_status GROUP BY status`)
	if err != nil {
		return s, fmt.Errorf("%s: %w", op, err)
	}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			rows.Close()
			return s, fmt.Errorf("%s: %w", op, err)
		}
		switch store.Outcome(status) {
		case store.OutcomePending:
			s.NeverAttempted = n
		case store.OutcomeRetry:
			s.Retrying = n
		case store.OutcomePaused:
			s.Paused = n
		case store.OutcomeReported:
			s.Reported = n
		case store.OutcomeReportedWithWarnings:
			s.ReportedWithWarnings = n
		case store.OutcomeAlreadyReported:
			s.AlreadyReported = n
		case store.OutcomeRejected:
			s.Rejected = n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("%s: %w", op, err)
	}
	s.Unreported = s.NeverAttempted + s.Retrying + s.Paused
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM report_status WHERE final = 0 AND next_attempt_at <= ?`, nanos(now)).Scan(&s.Due); err != nil {
		return s, fmt.Errorf("%s: %w", op, err)
	}
	var oldest sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT d.issued_at FROM report_status r JOIN documents d ON d.icv = r.icv
		WHERE r.final = 0 ORDER BY r.icv LIMIT 1`).Scan(&oldest); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("%s: %w", op, err)
	}
	if oldest.Valid {
		s.OldestUnreported = fromNanos(oldest.Int64)
		s.OldestUnreportedAge = max(now.Sub(s.OldestUnreported), 0)
	}
	return s, nil
}

// DeadLetters implements store.Outbox.
func (db *DB) DeadLetters(ctx context.Context) ([]store.DeadLetter, error) {
	const op = "outbox dead letters"
	if err := db.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT d.icv, d.uuid, d.irn, d.issued_at, r.final_at, r.http_status, r.errors, r.warnings
		FROM report_status r JOIN documents d ON d.icv = r.icv WHERE r.status = 'rejected' ORDER BY r.icv`)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	out := []store.DeadLetter{}
	for rows.Next() {
		var dl store.DeadLetter
		var issued int64
		var finalAt sql.NullInt64
		var errs, warnings string
		if err := rows.Scan(&dl.ICV, &dl.UUID, &dl.IRN, &issued, &finalAt, &dl.HTTPStatus, &errs, &warnings); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		dl.IssuedAt, dl.RejectedAt = fromNanos(issued), fromNull(finalAt)
		if err := json.Unmarshal([]byte(errs), &dl.Errors); err != nil {
			return nil, fmt.Errorf("%s: ICV %d errors: %w", op, dl.ICV, err)
		}
		if err := json.Unmarshal([]byte(warnings), &dl.Warnings); err != nil {
			return nil, fmt.Errorf("%s: ICV %d warnings: %w", op, dl.ICV, err)
		}
		out = append(out, dl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}
