package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/store"
)

// Rejected documents. ZATCA's rule (SPEC-2 §1.5): a rejected document keeps its ICV
// and hash in the chain; the fix is a new document with its own ICV. Correct issues
// that document from a corrected sale and links it to the rejected one; Resend puts
// the rejected bytes back in the queue when the cause was not their content (a
// certificate problem since fixed). A replaced document is never resent, so one sale
// is never reported twice; a resent document ZATCA already holds is answered 409,
// which the uploader records as already reported, not as a new report.

// contentCategories are ZATCA message categories about the document's own bytes.
var contentCategories = map[string]bool{
	"XSD validation": true, "KSA": true, "EN_16931": true, "INVOICE_HASHING_ERRORS": true,
	"QRCODE_VALIDATION": true, "SIGNATURE_ERRORS": true, "INVOICE_ERRORS": true,
}

// contentRejected reports whether ZATCA's errors are about the document's content:
// the same bytes would be rejected again.
func contentRejected(errs []store.Message) bool {
	for _, m := range errs {
		if strings.HasPrefix(m.Code, "BR-") || contentCategories[m.Category] {
			return true
		}
	}
	return false
}

// Correct issues a new document (new ICV, new UUID) from a corrected sale to replace
// the rejected document ref (UUID or invoice number). The sale must be of the same
// type as the rejected document and carry a new idempotency key; the journal links
// the two in the same transaction, and only once.
func (a *Agent) Correct(ctx context.Context, ref string, body []byte) (*apitype.Document, error) {
	d, err := a.deadLetter(ctx, "correct", ref)
	if err != nil {
		// A retried correction (same key as the one that replaced it) gets the stored
		// document, as any repeated idempotency key does.
		if r := a.replayedCorrection(ctx, ref, body); r != nil {
			return r, nil
		}
		return nil, err
	}
	out, err := a.sale(ctx, body, invoice.DocType(d.Type), d)
	if err != nil {
		return nil, err
	}
	if !out.Replayed {
		a.audit(ctx, "deadletter.corrected", out.ICV, map[string]any{"uuid": out.UUID, "replaces_icv": d.ICV, "replaces_uuid": d.UUID})
	}
	return out, nil
}

// replayedCorrection answers a correction whose idempotency key already issued the
// document that replaced ref; nil otherwise.
func (a *Agent) replayedCorrection(ctx context.Context, ref string, body []byte) *apitype.Document {
	sale, err := invoice.DecodeSale(body)
	if err != nil {
		return nil
	}
	d, err := a.findDocument(ctx, ref)
	if err != nil {
		return nil
	}
	l, err := a.st.Links(ctx, d.ICV)
	if err != nil || l.ReplacedBy == 0 {
		return nil
	}
	fix, err := a.st.GetByKey(ctx, sale.IdempotencyKey)
	if err != nil || fix.ICV != l.ReplacedBy {
		return nil
	}
	if sale.DocType == "" {
		sale.DocType = invoice.DocType(d.Type)
	}
	doc, err := invoice.Compute(sale, a.seller)
	if err != nil {
		return nil
	}
	out, err := a.replay(fix, doc)
	if err != nil {
		return nil
	}
	a.addLinks(ctx, out)
	return out
}

// checkCorrection checks a corrected sale against the rejected document it replaces.
func checkCorrection(s *invoice.Sale, d *store.Document) error {
	if s.DocType != "" && string(s.DocType) != string(d.Type) {
		return inputError("doc_type", apitype.RuleValue, fmt.Sprintf("the rejected document %s is a %s (%s): its correction is of the same type, not %s",
			d.IRN, typeName(invoice.DocType(d.Type)), d.Type, s.DocType))
	}
	if s.IdempotencyKey == d.IdempotencyKey {
		return inputError("idempotency_key", apitype.RuleValue, fmt.Sprintf("%q is the key of the rejected document %s: give the correction a new key", s.IdempotencyKey, d.IRN))
	}
	return nil
}

// Resend puts the rejected document ref back in the reporting queue as the same
// bytes. It is refused when ZATCA rejected its content (correct it instead) and when
// it was already replaced by a correction. reason is audited.
func (a *Agent) Resend(ctx context.Context, ref, reason string) (*apitype.Document, error) {
	d, err := a.deadLetter(ctx, "resend", ref)
	if err != nil {
		return nil, err
	}
	if contentRejected(d.Report.Errors) {
		return nil, fmt.Errorf("resend %s: %w", ref, &store.CorrectionError{ICV: d.ICV, Reason: fmt.Sprintf(
			"ZATCA rejected its content (%s): the same bytes would be rejected again; correct it with POST /v1/deadletters/%s/correct",
			strings.Join(ruleIDs(d.Report.Errors), ", "), d.UUID)})
	}
	if err := a.st.Resend(ctx, d.UUID, a.clock.Now(), reason); err != nil {
		return nil, fmt.Errorf("resend %s: %w", ref, err)
	}
	a.up.Kick()
	return a.Document(ctx, d.UUID)
}

// deadLetter finds a rejected document that was not replaced.
func (a *Agent) deadLetter(ctx context.Context, op, ref string) (*store.Document, error) {
	d, err := a.findDocument(ctx, ref)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%s %s: %w", op, ref, ErrNotFound)
		}
		return nil, fmt.Errorf("%s %s: %w", op, ref, err)
	}
	if d.Report.Status != store.OutcomeRejected {
		return nil, fmt.Errorf("%s %s: %w", op, ref, &store.CorrectionError{ICV: d.ICV, Reason: fmt.Sprintf("is %s, not rejected by ZATCA: only a dead letter is corrected or resent", d.Report.Status)})
	}
	l, err := a.st.Links(ctx, d.ICV)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, ref, err)
	}
	if l.ReplacedBy != 0 {
		return nil, fmt.Errorf("%s %s: %w", op, ref, &store.CorrectionError{ICV: d.ICV, Reason: fmt.Sprintf("was already replaced by ICV %d", l.ReplacedBy)})
	}
	return d, nil
}

func ruleIDs(ms []store.Message) []string {
	var ids []string
	for _, m := range ms {
		if m.Code != "" {
			ids = append(ids, m.Code)
		}
	}
	return ids
}

// deadLetterExtra is what the dead-letter list adds to a rejected document.
func (a *Agent) deadLetterExtra(ctx context.Context, dl store.DeadLetter) (apitype.DeadLetterExtra, error) {
	x := apitype.DeadLetterExtra{ContentRejected: contentRejected(dl.Errors), Actions: []string{}}
	l, err := a.st.Links(ctx, dl.ICV)
	if err != nil {
		return x, err
	}
	x.Resends = l.Resends
	if l.ReplacedBy != 0 {
		x.ReplacedBy = a.docRef(ctx, l.ReplacedBy)
		return x, nil
	}
	x.Actions = append(x.Actions, apitype.ActionCorrect)
	if !x.ContentRejected {
		x.Actions = append(x.Actions, apitype.ActionResend)
	}
	return x, nil
}

func (a *Agent) docRef(ctx context.Context, icv uint64) *apitype.DocRef {
	r := &apitype.DocRef{ICV: icv}
	if d, err := a.st.GetByICV(ctx, icv); err == nil {
		r.UUID, r.IRN = d.UUID, d.IRN
	}
	return r
}

// addLinks fills out.Links from the journal (nothing when the document has none).
func (a *Agent) addLinks(ctx context.Context, out *apitype.Document) {
	l, err := a.st.Links(ctx, out.ICV)
	if err != nil {
		a.log.Warn("document links", "icv", out.ICV, "err", err)
		return
	}
	if l.Note == nil && l.Replaces == 0 && l.ReplacedBy == 0 && l.Resends == 0 {
		return
	}
	dl := &apitype.DocumentLinks{Resends: l.Resends}
	if n := l.Note; n != nil {
		dl.Corrects = &apitype.NoteReference{IRN: n.IRN, Foreign: n.Foreign, ICV: n.ICV, EGS: n.EGS, IssueDate: n.IssueDate}
		if !n.Foreign {
			dl.Corrects.UUID = a.docRef(ctx, n.ICV).UUID
		}
	}
	for _, r := range l.Returned {
		dl.Returned = append(dl.Returned, apitype.ReturnedLine{Line: r.Line, Name: r.Name, Quantity: r.Quantity, Amount: r.Amount,
			SoldQuantity: r.SoldQuantity, SoldAmount: r.SoldAmount})
	}
	if l.Replaces != 0 {
		dl.Replaces = a.docRef(ctx, l.Replaces)
	}
	if l.ReplacedBy != 0 {
		dl.ReplacedBy = a.docRef(ctx, l.ReplacedBy)
	}
	out.Links = dl
}

// linkNotices are the receipt lines of a document that replaces a rejected one
// (d.Replaces: set by Append for a new document, by Reprint from the journal's links).
func (a *Agent) linkNotices(ctx context.Context, d *store.Document) []string {
	if d.Replaces == 0 {
		return nil
	}
	irn := a.docRef(ctx, d.Replaces).IRN
	return []string{"يحل محل المستند المرفوض " + irn, "Replaces rejected document " + irn}
}

// openDeadLetters counts the rejected documents not yet replaced by a correction
// (rejected is the queue's count, the upper bound; on a read error it is returned).
func (a *Agent) openDeadLetters(ctx context.Context, rejected int) int {
	if rejected == 0 {
		return 0
	}
	dls, err := a.st.DeadLetters(ctx)
	if err != nil {
		return rejected
	}
	open := 0
	for _, d := range dls {
		if l, err := a.st.Links(ctx, d.ICV); err != nil || l.ReplacedBy == 0 {
			open++
		}
	}
	return open
}
