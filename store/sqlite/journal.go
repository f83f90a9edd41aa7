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

// docColumns reads a document with its report and print state; from is
// documents d joined to report_status r.
const docColumns = `d.icv, d.issued_at, d.hash, d.pih, d.uuid, d.idempotency_key, d.type, d.type_name,
	d.irn, d.seller_vat, d.tax_exclusive, d.vat_total, d.tax_inclusive, d.billing_reference,
	d.supply_date, d.failure_period, d.journaled_at, d.xml_len, d.xml_sha256, d.payload_codec, d.payload,
	r.status, r.attempts, r.last_attempt_at, r.next_attempt_at, r.final_at, r.http_status, r.warnings, r.errors,
	(SELECT min(p.at) FROM prints p WHERE p.icv = d.icv),
	(SELECT max(p.at) FROM prints p WHERE p.icv = d.icv),
	(SELECT count(*) FROM prints p WHERE p.icv = d.icv AND p.copy = 1)`

const selectDocument = `SELECT ` + docColumns + ` FROM documents d JOIN report_status r ON r.icv = d.icv`

type scanner interface{ Scan(dest ...any) error }

// scanDocument reads one row of docColumns and checks the XML against its
// stored SHA-256.
func scanDocument(s scanner) (*store.Document, error) {
	var (
		d                                  store.Document
		issued, journaled, xmlLen, codec   int64
		failure                            int
		xmlSum, status, warnings, errorsJS string
		payload                            []byte
		lastAt, nextAt, finalAt            sql.NullInt64
		firstPrint, lastPrint              sql.NullInt64
		copies                             int
	)
	err := s.Scan(&d.ICV, &issued, &d.Hash, &d.PIH, &d.UUID, &d.IdempotencyKey, &d.Type, &d.TypeName,
		&d.IRN, &d.SellerVAT, &d.TaxExclusive, &d.VATTotal, &d.TaxInclusive, &d.BillingReference,
		&d.SupplyDate, &failure, &journaled, &xmlLen, &xmlSum, &codec, &payload,
		&status, &d.Report.Attempts, &lastAt, &nextAt, &finalAt, &d.Report.HTTPStatus, &warnings, &errorsJS,
		&firstPrint, &lastPrint, &copies)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	d.IssuedAt, d.JournaledAt = fromNanos(issued), fromNanos(journaled)
	d.FailurePeriod = failure == 1
	d.XML, d.QR, err = decodePayload(codec, payload, xmlLen)
	if err != nil {
		return nil, fmt.Errorf("document ICV %d: %w: %v", d.ICV, store.ErrCorrupt, err)
	}
	if sha256Hex(d.XML) != xmlSum {
		return nil, fmt.Errorf("document ICV %d: %w: XML does not match its stored SHA-256", d.ICV, store.ErrCorrupt)
	}
	d.Report.Status = store.Outcome(status)
	d.Report.LastAttemptAt, d.Report.NextAttemptAt, d.Report.FinalAt = fromNull(lastAt), fromNull(nextAt), fromNull(finalAt)
	if err := json.Unmarshal([]byte(warnings), &d.Report.Warnings); err != nil {
		return nil, fmt.Errorf("document ICV %d: report warnings: %w", d.ICV, err)
	}
	if err := json.Unmarshal([]byte(errorsJS), &d.Report.Errors); err != nil {
		return nil, fmt.Errorf("document ICV %d: report errors: %w", d.ICV, err)
	}
	d.Printed = store.PrintState{FirstPrintedAt: fromNull(firstPrint), LastPrintedAt: fromNull(lastPrint), Copies: copies}
	return &d, nil
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func headOf(ctx context.Context, q queryer) (store.Head, error) {
	var h store.Head
	var issued int64
	err := q.QueryRowContext(ctx, `SELECT icv, hash, issued_at FROM documents ORDER BY icv DESC LIMIT 1`).Scan(&h.ICV, &h.Hash, &issued)
	if errors.Is(err, sql.ErrNoRows) {
		return store.GenesisHead(), nil
	}
	if err != nil {
		return store.Head{}, err
	}
	h.IssuedAt = fromNanos(issued)
	return h, nil
}

// Head implements store.Journal.
func (db *DB) Head(ctx context.Context) (store.Head, error) {
	if err := db.check(); err != nil {
		return store.Head{}, fmt.Errorf("journal head: %w", err)
	}
	h, err := headOf(ctx, db.r)
	if err != nil {
		return store.Head{}, fmt.Errorf("journal head: %w", err)
	}
	return h, nil
}

// Append implements store.Journal.
func (db *DB) Append(ctx context.Context, key string, now time.Time, build store.BuildFunc) (*store.Document, bool, error) {
	const op = "journal append"
	if err := db.check(); err != nil {
		return nil, false, fmt.Errorf("%s: %w", op, err)
	}
	if err := store.ValidateKey(key); err != nil {
		return nil, false, fmt.Errorf("%s: %w", op, err)
	}
	if err := store.ValidateTime("now", now); err != nil {
		return nil, false, fmt.Errorf("%s: %w", op, err)
	}
	if build == nil {
		return nil, false, fmt.Errorf("%s: %w", op, &store.ValidationError{Field: "build", Reason: "is nil"})
	}
	now = now.Round(0).In(store.KSA)

	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, fmt.Errorf("%s: begin: %w", op, classify(err))
	}
	defer tx.Rollback()

	if d, err := scanDocument(tx.QueryRowContext(ctx, selectDocument+` WHERE d.idempotency_key = ?`, key)); err == nil {
		return d, true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, false, fmt.Errorf("%s: key lookup: %w", op, err)
	}

	head, err := headOf(ctx, tx)
	if err != nil {
		return nil, false, fmt.Errorf("%s: head: %w", op, err)
	}
	if now.Before(head.IssuedAt) {
		return nil, false, db.refuseClock(ctx, tx, key, now, head)
	}

	d, err := build(ctx, head)
	if err != nil {
		return nil, false, fmt.Errorf("%s: build ICV %d: %w", op, head.ICV+1, err)
	}
	if d == nil {
		return nil, false, fmt.Errorf("%s: %w", op, &store.ValidationError{Field: "build", Reason: "returned no document and no error"})
	}
	doc := *d
	doc.Printed, doc.Report = store.PrintState{}, store.ReportState{}
	if err := checkContinues(&doc, key, now, head); err != nil {
		return nil, false, fmt.Errorf("%s: %w", op, err)
	}
	if err := doc.Validate(); err != nil {
		return nil, false, fmt.Errorf("%s: %w", op, err)
	}
	if err := doc.ValidateLinks(); err != nil {
		return nil, false, fmt.Errorf("%s: %w", op, err)
	}
	var other uint64
	switch err := tx.QueryRowContext(ctx, `SELECT icv FROM documents WHERE uuid = ?`, doc.UUID).Scan(&other); {
	case err == nil:
		return nil, false, fmt.Errorf("%s: %w", op, &store.ValidationError{Field: "UUID", Reason: fmt.Sprintf("%s is already journaled as ICV %d", doc.UUID, other)})
	case !errors.Is(err, sql.ErrNoRows):
		return nil, false, fmt.Errorf("%s: UUID lookup: %w", op, err)
	}
	doc.IssuedAt = doc.IssuedAt.In(store.KSA)
	doc.JournaledAt = now

	payload, err := encodePayload(doc.XML, doc.QR)
	if err != nil {
		return nil, false, fmt.Errorf("%s: compress: %w", op, err)
	}
	xmlSum := sha256Hex(doc.XML)
	sum := rowSum(&doc, xmlSum)
	failure := 0
	if doc.FailurePeriod {
		failure = 1
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO documents (icv, issued_at, hash, pih, uuid, idempotency_key, type,
		type_name, irn, seller_vat, tax_exclusive, vat_total, tax_inclusive, billing_reference, supply_date,
		failure_period, journaled_at, xml_len, xml_sha256, row_sum, payload_codec, payload)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		doc.ICV, nanos(doc.IssuedAt), doc.Hash, doc.PIH, doc.UUID, doc.IdempotencyKey, string(doc.Type),
		doc.TypeName, doc.IRN, doc.SellerVAT, doc.TaxExclusive, doc.VATTotal, doc.TaxInclusive,
		doc.BillingReference, doc.SupplyDate, failure, nanos(now), len(doc.XML), xmlSum, sum,
		codecDeflateV1, payload)
	if err != nil {
		return nil, false, db.writeFailed(op, "insert document", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO report_status (icv, status, final, attempts, next_attempt_at,
		http_status, warnings, errors) VALUES (?, 'pending', 0, 0, ?, 0, '[]', '[]')`, doc.ICV, nanos(now)); err != nil {
		return nil, false, db.writeFailed(op, "insert outbox row", err)
	}
	if err := insertLinks(ctx, tx, &doc); err != nil {
		return nil, false, db.linkFailed(op, err)
	}
	details, _ := json.Marshal(map[string]any{
		"uuid": doc.UUID, "irn": doc.IRN, "type": doc.Type, "hash": doc.Hash, "idempotency_key": key,
		"issued_at": doc.IssuedAt.Format(time.RFC3339), "row_sum": sum,
	})
	e := store.Entry{At: now, Actor: store.ActorFrom(ctx), Action: store.ActionIssued, Details: details, DocumentICV: doc.ICV}
	if err := insertAudit(ctx, tx, &e, true); err != nil {
		return nil, false, db.writeFailed(op, "audit", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, false, db.writeFailed(op, "commit", err)
	}
	doc.Report = store.ReportState{Status: store.OutcomePending, NextAttemptAt: now}
	db.log.Debug("document journaled", "icv", doc.ICV, "uuid", doc.UUID, "hash", doc.Hash)
	return &doc, false, nil
}

// checkContinues checks that a built document continues the chain at head
// and carries the time the clock guard checked.
func checkContinues(d *store.Document, key string, now time.Time, head store.Head) error {
	if d.IdempotencyKey == "" {
		d.IdempotencyKey = key
	} else if d.IdempotencyKey != key {
		return &store.ChainError{Field: "IdempotencyKey", Want: strconv.Quote(key), Got: strconv.Quote(d.IdempotencyKey)}
	}
	if d.ICV != head.ICV+1 {
		return &store.ChainError{Field: "ICV", Want: strconv.FormatUint(head.ICV+1, 10), Got: strconv.FormatUint(d.ICV, 10)}
	}
	if d.PIH != head.Hash {
		return &store.ChainError{Field: "PIH", Want: head.Hash, Got: d.PIH}
	}
	if d.IssuedAt.Before(now.Truncate(time.Second)) || d.IssuedAt.After(now) {
		return &store.ChainError{Field: "IssuedAt", Want: "the clock-checked time " + now.Format(time.RFC3339Nano) + " (to the second)",
			Got: d.IssuedAt.In(store.KSA).Format(time.RFC3339Nano)}
	}
	if d.IssuedAt.Before(head.IssuedAt) {
		return &store.ChainError{Field: "IssuedAt", Want: "not before ICV " + strconv.FormatUint(head.ICV, 10) + " issued " + head.IssuedAt.Format(time.RFC3339),
			Got: d.IssuedAt.In(store.KSA).Format(time.RFC3339)}
	}
	return nil
}

// refuseClock records a clock-guard refusal in the audit log, commits it,
// and returns the *store.ClockError.
func (db *DB) refuseClock(ctx context.Context, tx *sql.Tx, key string, now time.Time, head store.Head) error {
	const op = "journal append"
	details, _ := json.Marshal(map[string]any{
		"now": now.Format(time.RFC3339Nano), "last_issued_at": head.IssuedAt.Format(time.RFC3339),
		"last_icv": head.ICV, "behind_ms": head.IssuedAt.Sub(now).Milliseconds(), "idempotency_key": key,
	})
	e := store.Entry{At: now, Actor: store.ActorFrom(ctx), Action: store.ActionClockRefused, Details: details, DocumentICV: head.ICV}
	cerr := &store.ClockError{Now: now, Last: head.IssuedAt, LastICV: head.ICV}
	if err := insertAudit(ctx, tx, &e, true); err != nil {
		return errors.Join(fmt.Errorf("%s: %w", op, cerr), db.writeFailed(op, "audit clock refusal", err))
	}
	if err := tx.Commit(); err != nil {
		return errors.Join(fmt.Errorf("%s: %w", op, cerr), db.writeFailed(op, "commit clock refusal", err))
	}
	cerr.AuditSeq = e.Seq
	db.log.Warn("clock went back: signing refused", "now", now, "last_issued_at", head.IssuedAt, "last_icv", head.ICV, "audit_seq", e.Seq)
	return fmt.Errorf("%s: %w", op, cerr)
}

// writeFailed wraps a failed write, classifying a full disk.
func (db *DB) writeFailed(op, step string, err error) error {
	err = classify(err)
	if errors.Is(err, store.ErrStorageFull) {
		db.log.Error("journal storage full", "op", op, "step", step, "error", err)
	}
	return fmt.Errorf("%s: %s: %w", op, step, err)
}

// Get implements store.Journal.
func (db *DB) Get(ctx context.Context, uuid string) (*store.Document, error) {
	return db.getOne(ctx, "journal get "+strconv.Quote(uuid), ` WHERE d.uuid = ?`, uuid)
}

// GetByICV implements store.Journal.
func (db *DB) GetByICV(ctx context.Context, icv uint64) (*store.Document, error) {
	return db.getOne(ctx, "journal get ICV "+strconv.FormatUint(icv, 10), ` WHERE d.icv = ?`, icv)
}

// GetByKey implements store.Journal.
func (db *DB) GetByKey(ctx context.Context, key string) (*store.Document, error) {
	return db.getOne(ctx, "journal get key "+strconv.Quote(key), ` WHERE d.idempotency_key = ?`, key)
}

func (db *DB) getOne(ctx context.Context, op, where string, arg any) (*store.Document, error) {
	if err := db.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if icv, ok := arg.(uint64); ok && icv > math.MaxInt64 {
		return nil, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	d, err := scanDocument(db.r.QueryRowContext(ctx, selectDocument+where, arg))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return d, nil
}

// List implements store.Journal.
func (db *DB) List(ctx context.Context, r store.Range) ([]*store.Document, error) {
	const op = "journal list"
	if err := db.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	to := uint64(math.MaxInt64)
	if r.To != 0 && r.To < to {
		to = r.To
	}
	from := min(r.From, uint64(math.MaxInt64))
	docs, err := db.queryDocuments(ctx, selectDocument+` WHERE d.icv BETWEEN ? AND ? ORDER BY d.icv`, from, to)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return docs, nil
}

// queryDocuments runs a query whose columns are docColumns and scans every row.
func (db *DB) queryDocuments(ctx context.Context, query string, args ...any) ([]*store.Document, error) {
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var docs []*store.Document
	for rows.Next() {
		d, err := scanDocument(rows)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, rows.Err()
}

// MarkPrinted implements store.Journal.
func (db *DB) MarkPrinted(ctx context.Context, uuid string, at time.Time, copy bool) error {
	op := "journal mark printed " + strconv.Quote(uuid)
	if err := db.check(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := store.ValidateTime("at", at); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	at = at.Round(0).In(store.KSA)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, classify(err))
	}
	defer tx.Rollback()
	var icv uint64
	var journaled int64
	err = tx.QueryRowContext(ctx, `SELECT icv, journaled_at FROM documents WHERE uuid = ?`, uuid).Scan(&icv, &journaled)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if at.Before(fromNanos(journaled)) {
		return fmt.Errorf("%s: %w", op, &store.ValidationError{Field: "at", Reason: fmt.Sprintf("%s is before the document was journaled (%s)",
			at.Format(time.RFC3339Nano), fromNanos(journaled).Format(time.RFC3339Nano))})
	}
	if !copy {
		var first int64
		err := tx.QueryRowContext(ctx, `SELECT at FROM prints WHERE icv = ? AND copy = 0`, icv).Scan(&first)
		if err == nil {
			return fmt.Errorf("%s: %w", op, &store.ValidationError{Field: "copy", Reason: fmt.Sprintf("document ICV %d was already printed at %s; a reprint is a copy",
				icv, fromNanos(first).Format(time.RFC3339))})
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	cp, action := 0, store.ActionPrinted
	if copy {
		cp, action = 1, store.ActionReprinted
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO prints (icv, at, copy) VALUES (?, ?, ?)`, icv, nanos(at), cp); err != nil {
		return db.writeFailed(op, "insert", err)
	}
	details, _ := json.Marshal(map[string]any{"uuid": uuid, "copy": copy})
	e := store.Entry{At: at, Actor: store.ActorFrom(ctx), Action: action, Details: details, DocumentICV: icv}
	if err := insertAudit(ctx, tx, &e, true); err != nil {
		return db.writeFailed(op, "audit", err)
	}
	if err := tx.Commit(); err != nil {
		return db.writeFailed(op, "commit", err)
	}
	return nil
}

// RecordClockEvent implements store.Journal.
func (db *DB) RecordClockEvent(ctx context.Context, ev store.ClockEvent) error {
	const op = "journal record clock event"
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	m := map[string]any{"kind": ev.Kind, "at": ev.At.In(store.KSA).Format(time.RFC3339Nano), "source": ev.Source}
	if !ev.Previous.IsZero() {
		m["previous"] = ev.Previous.In(store.KSA).Format(time.RFC3339Nano)
		m["delta_ms"] = ev.At.Sub(ev.Previous).Milliseconds()
	}
	if ev.Detail != "" {
		m["detail"] = ev.Detail
	}
	details, _ := json.Marshal(m)
	if _, err := db.record(ctx, op, store.Entry{At: ev.At, Actor: store.ActorFrom(ctx), Action: store.ActionClockEvent, Details: details}, true); err != nil {
		return err
	}
	db.log.Warn("clock event recorded", "kind", ev.Kind, "at", ev.At, "previous", ev.Previous, "source", ev.Source)
	return nil
}
