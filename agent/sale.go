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
//  2. a note (381, 383) must reference an invoice issued by this terminal, given by
//     its invoice number or UUID; the XML carries the original's invoice number;
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
	sale, err := invoice.DecodeSale(body)
	if err != nil {
		return nil, err
	}
	if sale.DocType == "" {
		sale.DocType = want
	} else if sale.DocType != want {
		return nil, inputError("doc_type", apitype.RuleValue, fmt.Sprintf("this route issues %s (%s); doc_type %s belongs to %s",
			want, typeName(want), sale.DocType, routeFor(sale.DocType)))
	}
	var orig *store.Document
	if sale.DocType.IsNote() && sale.Notes != nil && strings.TrimSpace(sale.Notes.RelatedDocReference) != "" {
		if orig, err = a.resolveOriginal(ctx, sale.Notes.RelatedDocReference); err != nil {
			return nil, err
		}
		sale.Notes.RelatedDocReference = orig.IRN
	}
	doc, err := invoice.Compute(sale, a.seller)
	if err != nil {
		return nil, err
	}
	if orig != nil && doc.Type == invoice.TypeCreditNote {
		if total := dec(orig.TaxInclusive); doc.Totals.TaxInclusive.GreaterThan(total) {
			return nil, inputError("lineitems", apitype.RuleLimit, fmt.Sprintf("the credit note totals %s SAR, more than the original invoice %s (%s SAR)",
				invoice.Amount(doc.Totals.TaxInclusive), orig.IRN, orig.TaxInclusive))
		}
	}
	key := sale.IdempotencyKey
	if d, err := a.st.GetByKey(ctx, key); err == nil {
		return a.replay(d, doc)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("sale: %w", err)
	}

	d, existed, err := a.commit(ctx, key, doc)
	if err != nil {
		return nil, err
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
	return &out, nil
}

// commit runs steps 4 and 5 of Sale under the stamp's read lock.
func (a *Agent) commit(ctx context.Context, key string, doc *invoice.Document) (*store.Document, bool, error) {
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

// resolveOriginal finds the invoice a note references: by UUID, by the invoice number
// the agent assigns (INV-000042 → ICV 42), or by searching the newest ReturnLookback
// documents for the POS's own invoice number.
func (a *Agent) resolveOriginal(ctx context.Context, ref string) (*store.Document, error) {
	const field = "notes_details.related_doc_reference"
	ref = strings.TrimSpace(ref)
	notFound := inputError(field, "BR-KSA-56", fmt.Sprintf("no invoice with number or UUID %q was issued by this terminal", ref))
	var found *store.Document
	switch {
	case isUUID(ref):
		d, err := a.st.Get(ctx, ref)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("sale: original invoice: %w", err)
		}
		found = d
	case defaultIRNRE.MatchString(ref):
		icv, _ := strconv.ParseUint(defaultIRNRE.FindStringSubmatch(ref)[1], 10, 64)
		d, err := a.st.GetByICV(ctx, icv)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("sale: original invoice: %w", err)
		}
		if d != nil && d.IRN == ref {
			found = d
		}
	}
	if found == nil && !isUUID(ref) {
		d, err := a.searchIRN(ctx, ref)
		if err != nil {
			return nil, err
		}
		found = d
	}
	if found == nil {
		return nil, notFound
	}
	if found.Type != store.TypeInvoice {
		return nil, inputError(field, "BR-KSA-56", fmt.Sprintf("%q is a %s, not an invoice: a note corrects an invoice", ref, typeName(invoice.DocType(found.Type))))
	}
	return found, nil
}

// searchIRN searches the newest documents for an invoice number.
func (a *Agent) searchIRN(ctx context.Context, irn string) (*store.Document, error) {
	head, err := a.st.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("sale: original invoice: %w", err)
	}
	const page = 200
	seen := 0
	for hi := head.ICV; hi > 0 && seen < a.cfg.ReturnLookback; {
		lo := uint64(1)
		if hi > page {
			lo = hi - page + 1
		}
		docs, err := a.st.List(ctx, store.Range{From: lo, To: hi})
		if err != nil {
			return nil, fmt.Errorf("sale: original invoice: %w", err)
		}
		for i := len(docs) - 1; i >= 0; i-- {
			if docs[i].IRN == irn && docs[i].Type == store.TypeInvoice {
				return docs[i], nil
			}
		}
		seen += len(docs)
		hi = lo - 1
	}
	return nil, nil
}

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

// Reprint prints a journaled document again. A document printed before is printed as a
// COPY; one whose first print failed gets its original receipt.
func (a *Agent) Reprint(ctx context.Context, uuid string) (*apitype.Document, error) {
	d, err := a.st.Get(ctx, uuid)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("reprint %s: %w", uuid, ErrNotFound)
		}
		return nil, fmt.Errorf("reprint %s: %w", uuid, err)
	}
	if a.prn == nil {
		return nil, fmt.Errorf("reprint %s: %w", uuid, ErrNoPrinter)
	}
	out := apiDocument(d)
	a.print(ctx, d, &out)
	return &out, nil
}

// Document returns a journaled document by UUID.
func (a *Agent) Document(ctx context.Context, uuid string) (*apitype.Document, error) {
	d, err := a.st.Get(ctx, uuid)
	return lookup("document "+uuid, d, err)
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

// DocumentXML returns the exact signed XML of a document.
func (a *Agent) DocumentXML(ctx context.Context, uuid string) ([]byte, error) {
	d, err := a.st.Get(ctx, uuid)
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
