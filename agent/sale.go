package agent

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/agent/ubl"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/store"
)

// Sale issues one document from a POS request body (agent/invoice's sale JSON), as
// DESIGN "One sale" says:
//
//  1. decode and validate the body and compute the totals; a bad body is an
//     *invoice.ValidationError (or *InputError) and nothing is written;
//  2. a note (381, 383) references an invoice of this terminal (by invoice number or
//     UUID) or of another terminal of the same seller (recorded as foreign); a credit
//     note of an own invoice returns no more of a line than is left (see returns.go);
//  3. a repeated idempotency key returns the stored document (Replayed), never a
//     new signature; a key reused for another document is an *IdempotencyError;
//  4. the agent must be ready (*NotReadyError otherwise);
//  5. inside the journal's write transaction: ICV and PIH from the head, issue time
//     = now (never backdated; a sale whose supply date is earlier is flagged
//     FailurePeriod and audited), agent.Issue with the current stamp; commit;
//  6. print the receipt (a print failure never undoes the sale: Printed=false, the
//     POS can reprint), kick the uploader and reply.
//
// want is the document type the route issues; an absent doc_type defaults to it.
func (a *Agent) Sale(ctx context.Context, body []byte, want invoice.DocType) (*apitype.Document, error) {
	return a.sale(ctx, body, want, nil)
}

// sale is Sale; replaces is the dead letter a correction replaces (nil for a sale).
func (a *Agent) sale(ctx context.Context, body []byte, want invoice.DocType, replaces *store.Document) (*apitype.Document, error) {
	sale, err := invoice.DecodeSale(body)
	if err != nil {
		return nil, err
	}
	if replaces != nil {
		if err := checkCorrection(sale, replaces); err != nil {
			return nil, err
		}
	}
	if sale.DocType == "" {
		sale.DocType = want
	} else if sale.DocType != want {
		return nil, inputError("doc_type", apitype.RuleValue, fmt.Sprintf("this route issues %s (%s); doc_type %s belongs to %s",
			want, typeName(want), sale.DocType, routeFor(sale.DocType)))
	}
	var target *noteTarget
	if sale.DocType.IsNote() && sale.Notes != nil && strings.TrimSpace(sale.Notes.RelatedDocReference) != "" {
		if target, err = a.resolveNote(ctx, sale.Notes); err != nil {
			return nil, err
		}
		sale.Notes.RelatedDocReference = target.ref.IRN
	}
	doc, err := invoice.Compute(sale, a.seller)
	if err != nil {
		return nil, err
	}
	key := sale.IdempotencyKey
	if d, err := a.st.GetByKey(ctx, key); err == nil {
		out, err := a.replay(d, doc)
		if err == nil {
			a.addLinks(ctx, out)
		}
		return out, err
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("sale: %w", err)
	}
	var links store.Document
	if replaces != nil {
		links.Replaces = replaces.ICV
	}
	var lineIndex map[string]int
	if links.Note, links.Returned, lineIndex, err = a.noteLinks(ctx, target, doc, links.Replaces); err != nil {
		return nil, err
	}

	d, existed, err := a.commit(ctx, key, doc, &links)
	if err != nil {
		return nil, returnLimitInput(err, lineIndex)
	}
	if existed {
		return a.replay(d, doc)
	}
	if d.FailurePeriod {
		a.audit(ctx, "sale.failure_period", d.ICV, map[string]any{"uuid": d.UUID, "supply_date": d.SupplyDate,
			"issued_at": d.IssuedAt.Format(time.RFC3339)})
	}
	a.up.Kick()
	out := apiDocument(d)
	a.print(ctx, d, &out)
	if d.Note != nil || d.Replaces != 0 {
		a.addLinks(ctx, &out)
	}
	return &out, nil
}

// commit runs steps 4 and 5 of Sale under the stamp's read lock; links carries the
// Note, Returned and Replaces the journal records with the document.
func (a *Agent) commit(ctx context.Context, key string, doc *invoice.Document, links *store.Document) (*store.Document, bool, error) {
	a.stampMu.RLock()
	defer a.stampMu.RUnlock()
	a.chainMu.Lock()
	defer a.chainMu.Unlock()
	now := a.clock.Now()
	if rs := a.readiness(now, a.up.UploadState()); len(rs) > 0 {
		return nil, false, &NotReadyError{Reasons: rs}
	}
	st := a.stamp
	issued := now.Truncate(time.Second)
	failure := !doc.Flags.Summary && doc.SupplyDate != "" && doc.SupplyDate < issued.In(ksa).Format(time.DateOnly)
	d, existed, err := a.st.Append(ctx, key, now, func(ctx context.Context, head store.Head) (*store.Document, error) {
		uuid, err := NewUUID()
		if err != nil {
			return nil, err
		}
		icv := head.ICV + 1
		irn := doc.RefNumber
		if irn == "" {
			irn = DefaultIRN(doc.Type, icv)
		}
		signed, err := Issue(doc, ubl.Header{IRN: irn, UUID: uuid, ICV: icv, PIH: head.Hash, Issued: issued}, Stamp{Key: st.key, Cert: st.cert})
		if err != nil {
			return nil, err
		}
		return &store.Document{
			ICV: icv, UUID: uuid, IdempotencyKey: key, Type: store.DocType(doc.Type), TypeName: doc.TransactionCode,
			IRN: irn, IssuedAt: issued, Hash: signed.Hash, PIH: head.Hash, XML: signed.XML, QR: signed.QR,
			SellerVAT: a.seller.VATNumber, TaxExclusive: invoice.Amount(doc.Totals.TaxExclusive),
			VATTotal: invoice.Amount(doc.Totals.Tax), TaxInclusive: invoice.Amount(doc.Totals.TaxInclusive),
			BillingReference: doc.BillingReference, SupplyDate: doc.SupplyDate, FailurePeriod: failure,
			Note: links.Note, Returned: links.Returned, Replaces: links.Replaces,
		}, nil
	})
	if err != nil {
		var ce *store.ClockError
		if errors.As(err, &ce) {
			a.stateMu.Lock()
			a.clockBack = ce
			a.stateMu.Unlock()
		}
		return nil, false, fmt.Errorf("sale: %w", err)
	}
	return d, existed, nil
}

// replay answers a repeated idempotency key with the stored document, after checking
// that the request describes the same document.
func (a *Agent) replay(d *store.Document, doc *invoice.Document) (*apitype.Document, error) {
	got := fmt.Sprintf("a %s of %s SAR", doc.Type, invoice.Amount(doc.Totals.TaxInclusive))
	stored := fmt.Sprintf("a %s of %s SAR", d.Type, d.TaxInclusive)
	if got != stored {
		return nil, &IdempotencyError{Key: d.IdempotencyKey, Stored: stored + " (ICV " + strconv.FormatUint(d.ICV, 10) + ")", Got: got}
	}
	out := apiDocument(d)
	out.Replayed = true
	return &out, nil
}

var defaultIRNRE = regexp.MustCompile(`^INV-([0-9]{6,19})$`)

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func typeName(t invoice.DocType) string {
	switch t {
	case invoice.TypeInvoice:
		return "simplified tax invoice"
	case invoice.TypeCreditNote:
		return "credit note"
	case invoice.TypeDebitNote:
		return "debit note"
	}
	return "unknown document type"
}

func routeFor(t invoice.DocType) string {
	switch t {
	case invoice.TypeInvoice:
		return "POST /v1/sales"
	case invoice.TypeCreditNote:
		return "POST /v1/returns"
	case invoice.TypeDebitNote:
		return "POST /v1/debits"
	}
	return "no route"
}

// print prints d (an original unless it was printed before) and records the print.
// Failures are reported in out, never returned: the document is committed.
func (a *Agent) print(ctx context.Context, d *store.Document, out *apitype.Document) {
	out.Printed, out.Copy = false, false
	if a.prn == nil {
		out.PrintError = ErrNoPrinter.Error()
		return
	}
	copyMark := d.Printed.Printed()
	var notices []string
	if d.FailurePeriod {
		notices = append(notices, "صدرت بعد فترة تعطل، تاريخ التوريد "+d.SupplyDate,
			"Issued after a system failure; supply date "+d.SupplyDate)
	}
	notices = append(notices, a.linkNotices(ctx, d)...)
	notices = append(notices, a.up.UploadState().Notices...)
	r, err := Receipt(d, ReceiptOptions{Copy: copyMark, Notices: notices, Footer: a.cfg.ReceiptFooter})
	if err != nil {
		out.PrintError = err.Error()
		a.log.Error("receipt mapping failed", "icv", d.ICV, "err", err)
		return
	}
	// The sale is committed: finish printing even if the POS hangs up.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.PrintTimeout)
	defer cancel()
	if err := a.prn.Print(pctx, r); err != nil {
		out.PrintError = err.Error()
		a.setPrinterStatus(printer.Status{}, err)
		a.log.Warn("receipt not printed", "icv", d.ICV, "uuid", d.UUID, "copy", copyMark, "err", err)
		return
	}
	a.setPrinterStatus(printer.Status{Online: true}, nil)
	at := a.clock.Now()
	if err := a.st.MarkPrinted(context.WithoutCancel(ctx), d.UUID, at, copyMark); err != nil {
		a.log.Error("mark printed", "icv", d.ICV, "err", err)
	}
	out.Printed, out.Copy = true, copyMark
	if !copyMark {
		t := at.In(ksa)
		out.FirstPrintedAt = &t
	} else {
		out.Copies++
	}
}

// Reprint prints a journaled document (by UUID or invoice number) again. A document
// printed before is printed as a COPY; one whose first print failed gets its original
// receipt.
func (a *Agent) Reprint(ctx context.Context, uuid string) (*apitype.Document, error) {
	d, err := a.findDocument(ctx, uuid)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("reprint %s: %w", uuid, ErrNotFound)
		}
		return nil, fmt.Errorf("reprint %s: %w", uuid, err)
	}
	if a.prn == nil {
		return nil, fmt.Errorf("reprint %s: %w", uuid, ErrNoPrinter)
	}
	if l, err := a.st.Links(ctx, d.ICV); err == nil {
		d.Replaces = l.Replaces // for the receipt's notice
	}
	out := apiDocument(d)
	a.print(ctx, d, &out)
	a.addLinks(ctx, &out)
	return &out, nil
}

// Document returns a journaled document by UUID or invoice number, with its links.
func (a *Agent) Document(ctx context.Context, uuid string) (*apitype.Document, error) {
	d, err := a.findDocument(ctx, uuid)
	out, err := lookup("document "+uuid, d, err)
	if err == nil {
		a.addLinks(ctx, out)
	}
	return out, err
}

// DocumentByICV returns a journaled document by its ICV.
func (a *Agent) DocumentByICV(ctx context.Context, icv uint64) (*apitype.Document, error) {
	d, err := a.st.GetByICV(ctx, icv)
	return lookup("document ICV "+strconv.FormatUint(icv, 10), d, err)
}

// DocumentByKey returns the document issued for a POS idempotency key.
func (a *Agent) DocumentByKey(ctx context.Context, key string) (*apitype.Document, error) {
	d, err := a.st.GetByKey(ctx, key)
	return lookup("document key "+strconv.Quote(key), d, err)
}

// DocumentXML returns the exact signed XML of a document (by UUID or invoice number).
func (a *Agent) DocumentXML(ctx context.Context, uuid string) ([]byte, error) {
	d, err := a.findDocument(ctx, uuid)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("document %s: %w", uuid, ErrNotFound)
		}
		return nil, fmt.Errorf("document %s: %w", uuid, err)
	}
	return d.XML, nil
}

func lookup(what string, d *store.Document, err error) (*apitype.Document, error) {
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out := apiDocument(d)
	return &out, nil
}

// apiDocument is the wire form of a journaled document.
func apiDocument(d *store.Document) apitype.Document {
	out := apitype.Document{
		UUID: d.UUID, ICV: d.ICV, IRN: d.IRN, Type: string(d.Type), TypeName: d.TypeName,
		IdempotencyKey: d.IdempotencyKey, Hash: d.Hash, PIH: d.PIH, QR: d.QR, IssuedAt: d.IssuedAt.In(ksa),
		Totals:           apitype.Totals{TaxExclusive: d.TaxExclusive, VAT: d.VATTotal, TaxInclusive: d.TaxInclusive},
		BillingReference: d.BillingReference, SupplyDate: d.SupplyDate, FailurePeriod: d.FailurePeriod,
		Printed: d.Printed.Printed(), Copies: d.Printed.Copies,
		Report: apitype.Report{Status: string(d.Report.Status), Attempts: d.Report.Attempts, HTTPStatus: d.Report.HTTPStatus,
			Warnings: messages(d.Report.Warnings), Errors: messages(d.Report.Errors)},
	}
	if out.Report.Status == "" {
		out.Report.Status = string(store.OutcomePending)
	}
	if t := d.Printed.FirstPrintedAt; !t.IsZero() {
		t = t.In(ksa)
		out.FirstPrintedAt = &t
	}
	if t := d.Report.LastAttemptAt; !t.IsZero() {
		t = t.In(ksa)
		out.Report.LastAttemptAt = &t
	}
	if t := d.Report.NextAttemptAt; !t.IsZero() && !d.Report.Final() {
		t = t.In(ksa)
		out.Report.NextAttemptAt = &t
	}
	return out
}
