package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/posagent/posagent/store"
)

// Verify implements store.Verifier. It reads one consistent snapshot; the
// journal keeps working meanwhile. Memory stays constant: rows are
// streamed and the audit pass looks document hashes up by ICV.
func (db *DB) Verify(ctx context.Context, rehash store.RehashFunc) (*store.Report, error) {
	const op = "journal verify"
	if err := db.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer tx.Rollback()

	rep := &store.Report{Head: store.GenesisHead(), Rehashed: rehash != nil}
	var docProblems, auditProblems, stateProblems []store.Problem
	if docProblems, err = verifyDocuments(ctx, tx, rehash, rep); err != nil {
		return nil, fmt.Errorf("%s: documents: %w", op, err)
	}
	var lastSeq uint64
	var lastHash string
	if auditProblems, lastSeq, lastHash, err = verifyAudit(ctx, tx, rep); err != nil {
		return nil, fmt.Errorf("%s: audit: %w", op, err)
	}
	var docICV, auditSeq uint64
	var docHash, auditHash string
	if err := tx.QueryRowContext(ctx, `SELECT doc_icv, doc_hash, audit_seq, audit_hash FROM chain_state WHERE id = 1`).
		Scan(&docICV, &docHash, &auditSeq, &auditHash); err != nil {
		stateProblems = append(stateProblems, store.Problem{Table: "chain_state", RowID: 1, Field: "row", What: fmt.Sprintf("unreadable: %v", err)})
	} else {
		if docICV != rep.Head.ICV || docHash != rep.Head.Hash {
			stateProblems = append(stateProblems, store.Problem{Table: "chain_state", RowID: 1, Field: "doc_icv",
				What: fmt.Sprintf("recorded document head is ICV %d %s, the last document row is ICV %d %s (rows removed or added behind the journal's back)",
					docICV, docHash, rep.Head.ICV, rep.Head.Hash)})
		}
		if auditSeq != lastSeq || auditHash != lastHash {
			stateProblems = append(stateProblems, store.Problem{Table: "chain_state", RowID: 1, Field: "audit_seq",
				What: fmt.Sprintf("recorded audit head is seq %d %s, the last audit row is seq %d %s (entries removed or added behind the journal's back)",
					auditSeq, auditHash, lastSeq, lastHash)})
		}
	}
	sort.SliceStable(docProblems, func(i, j int) bool { return docProblems[i].RowID < docProblems[j].RowID })
	for _, ps := range [][]store.Problem{docProblems, auditProblems, stateProblems} {
		for _, p := range ps {
			rep.Add(p)
		}
	}
	return rep, nil
}

func verifyDocuments(ctx context.Context, tx *sql.Tx, rehash store.RehashFunc, rep *store.Report) ([]store.Problem, error) {
	var ps []store.Problem
	rows, err := tx.QueryContext(ctx, `SELECT icv, issued_at, hash, pih, uuid, idempotency_key, type, type_name, irn,
		seller_vat, tax_exclusive, vat_total, tax_inclusive, billing_reference, supply_date, failure_period,
		journaled_at, xml_len, xml_sha256, row_sum, payload_codec, payload FROM documents ORDER BY icv`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	prev := store.GenesisHead()
	for rows.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var (
			d                                store.Document
			issued, journaled, xmlLen, codec int64
			failure                          int
			xmlSum, sum                      string
			payload                          []byte
		)
		if err := rows.Scan(&d.ICV, &issued, &d.Hash, &d.PIH, &d.UUID, &d.IdempotencyKey, &d.Type, &d.TypeName, &d.IRN,
			&d.SellerVAT, &d.TaxExclusive, &d.VATTotal, &d.TaxInclusive, &d.BillingReference, &d.SupplyDate, &failure,
			&journaled, &xmlLen, &xmlSum, &sum, &codec, &payload); err != nil {
			return nil, err
		}
		rep.Documents++
		d.IssuedAt, d.JournaledAt, d.FailurePeriod = fromNanos(issued), fromNanos(journaled), failure == 1
		bad := func(field, format string, args ...any) {
			ps = append(ps, store.Problem{Table: "documents", RowID: int64(d.ICV), Field: field, What: fmt.Sprintf(format, args...)})
		}
		var decodeErr error
		d.XML, d.QR, decodeErr = decodePayload(codec, payload, xmlLen)
		switch {
		case d.ICV != prev.ICV+1 && d.ICV == prev.ICV+2:
			bad("icv", "ICV %d is missing: the chain jumps from %d to %d", prev.ICV+1, prev.ICV, d.ICV)
		case d.ICV != prev.ICV+1:
			bad("icv", "ICVs %d to %d are missing: the chain jumps from %d to %d", prev.ICV+1, d.ICV-1, prev.ICV, d.ICV)
		case d.PIH != prev.Hash:
			bad("pih", "PIH %s is not the hash of ICV %d (%s)", d.PIH, prev.ICV, prev.Hash)
		case decodeErr != nil:
			bad("payload", "stored XML cannot be read: %v", decodeErr)
		case sha256Hex(d.XML) != xmlSum:
			bad("xml_sha256", "the stored XML does not match its SHA-256 (XML or checksum changed)")
		case rowSum(&d, xmlSum) != sum:
			bad("row_sum", "the row does not match its checksum: a column was changed after it was written")
		case d.IssuedAt.Before(prev.IssuedAt):
			bad("issued_at", "issued %s, before ICV %d (%s)", d.IssuedAt, prev.ICV, prev.IssuedAt)
		default:
			if err := d.Validate(); err != nil {
				var ve *store.ValidationError
				if errors.As(err, &ve) {
					bad(ve.Field, "%s", ve.Reason)
				} else {
					bad("row", "%v", err)
				}
				break
			}
			if rehash == nil {
				break
			}
			h, err := rehash(d.XML)
			if err != nil {
				bad("xml", "the stored XML cannot be hashed: %v", err)
			} else if h != d.Hash {
				bad("hash", "stored hash %s, but the stored XML hashes to %s", d.Hash, h)
			}
		}
		prev = store.Head{ICV: d.ICV, Hash: d.Hash, IssuedAt: d.IssuedAt}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rep.Head = prev
	for _, col := range []string{"uuid", "idempotency_key"} {
		dup, err := tx.QueryContext(ctx, `SELECT d.icv, e.icv, d.`+col+` FROM documents d JOIN documents e
			ON e.`+col+` = d.`+col+` AND e.icv < d.icv ORDER BY d.icv`)
		if err != nil {
			return nil, err
		}
		for dup.Next() {
			var icv, first int64
			var v string
			if err := dup.Scan(&icv, &first, &v); err != nil {
				dup.Close()
				return nil, err
			}
			ps = append(ps, store.Problem{Table: "documents", RowID: icv, Field: col, What: fmt.Sprintf("%q is also used by ICV %d", v, first)})
		}
		dup.Close()
		if err := dup.Err(); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

func verifyAudit(ctx context.Context, tx *sql.Tx, rep *store.Report) (ps []store.Problem, lastSeq uint64, lastHash string, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, at, actor, action, details, document_icv, chain_hash, prev_hash, hash FROM audit ORDER BY seq`)
	if err != nil {
		return nil, 0, "", err
	}
	defer rows.Close()
	docHash, err := tx.PrepareContext(ctx, `SELECT hash, row_sum FROM documents WHERE icv = ?`)
	if err != nil {
		return nil, 0, "", err
	}
	defer docHash.Close()

	lastHash = store.AuditGenesis
	head := store.GenesisHead() // the document head as the audit log tells it
	for rows.Next() {
		if err := ctx.Err(); err != nil {
			return nil, 0, "", err
		}
		e, err := scanEntry(rows)
		if err != nil {
			return nil, 0, "", err
		}
		rep.AuditEntries++
		bad := func(field, format string, args ...any) {
			ps = append(ps, store.Problem{Table: "audit", RowID: int64(e.Seq), Field: field, What: fmt.Sprintf(format, args...)})
		}
		recomputed, herr := store.AuditHash(e.PrevHash, &e)
		var issuedHash, rowSum string
		var recorded struct {
			RowSum string `json:"row_sum"`
		}
		issued := e.Action == store.ActionIssued
		if issued {
			switch err := docHash.QueryRowContext(ctx, min(e.DocumentICV, math.MaxInt64)).Scan(&issuedHash, &rowSum); {
			case errors.Is(err, sql.ErrNoRows):
				issuedHash = ""
			case err != nil:
				return nil, 0, "", err
			}
			json.Unmarshal(e.Details, &recorded) // a mangled entry fails its hash check first
		}
		switch {
		case e.Seq == lastSeq+2:
			bad("seq", "entry %d is missing: the log jumps from %d to %d", lastSeq+1, lastSeq, e.Seq)
		case e.Seq != lastSeq+1:
			bad("seq", "entries %d to %d are missing: the log jumps from %d to %d", lastSeq+1, e.Seq-1, lastSeq, e.Seq)
		case e.PrevHash != lastHash:
			bad("prev_hash", "prev_hash %s is not the hash of entry %d (%s)", e.PrevHash, lastSeq, lastHash)
		case herr != nil:
			bad("prev_hash", "%v", herr)
		case recomputed != e.Hash:
			bad("hash", "stored hash %s, but the entry hashes to %s: a column was changed after it was written", e.Hash, recomputed)
		case issued && e.DocumentICV != head.ICV+1:
			bad("document_icv", "journal.issued for ICV %d follows the one for ICV %d: document ICV %d has no issue entry", e.DocumentICV, head.ICV, head.ICV+1)
		case issued && issuedHash == "":
			bad("document_icv", "journal.issued for ICV %d, which is not in the journal", e.DocumentICV)
		case issued && e.ChainHash != issuedHash:
			bad("chain_hash", "chain_hash %s is not the hash of document ICV %d (%s)", e.ChainHash, e.DocumentICV, issuedHash)
		case issued && recorded.RowSum != rowSum:
			bad("details", "records row checksum %s for document ICV %d, whose row now has %s", recorded.RowSum, e.DocumentICV, rowSum)
		case !issued && e.ChainHash != head.Hash:
			bad("chain_hash", "chain_hash %s is not the document head of its time (ICV %d, %s)", e.ChainHash, head.ICV, head.Hash)
		}
		if issued && issuedHash != "" {
			head = store.Head{ICV: e.DocumentICV, Hash: issuedHash}
		}
		lastSeq, lastHash = e.Seq, e.Hash
	}
	if err := rows.Err(); err != nil {
		return nil, 0, "", err
	}
	if head.ICV != rep.Head.ICV {
		ps = append(ps, store.Problem{Table: "audit", RowID: int64(lastSeq), Field: "document_icv",
			What: fmt.Sprintf("the log records documents up to ICV %d, the journal has %d", head.ICV, rep.Head.ICV)})
	}
	return ps, lastSeq, lastHash, nil
}
