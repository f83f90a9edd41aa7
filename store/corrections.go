package store

import (
	"context"
	"fmt"
	"time"
)

// Corrections is how the journal records what corrects what: the invoice a
// note refers to (this terminal's or another terminal's of the same
// seller), the lines a credit note returns against one of this terminal's
// invoices, and the document that replaces one ZATCA rejected. Links are
// written by Journal.Append, in the same transaction as the document, from
// Document.Note, Document.Returned and Document.Replaces; they are
// append-only like the documents.
type Corrections interface {
	// Links returns what the document with this ICV refers to and what
	// refers to it (ErrNotFound for an unknown ICV).
	Links(ctx context.Context, icv uint64) (*Links, error)

	// Returned returns every line returned against the invoice with this
	// ICV, by all its credit notes, in ICV order.
	Returned(ctx context.Context, originalICV uint64) ([]ReturnedLine, error)

	// Resend puts a rejected document back in the reporting queue, to be
	// sent again as the same bytes, and audits it with reason. It fails
	// with a *CorrectionError when the document is not rejected or was
	// replaced by a correction, and ErrNotFound for an unknown UUID.
	Resend(ctx context.Context, uuid string, at time.Time, reason string) error
}

// NoteRef is the invoice a credit or debit note corrects.
type NoteRef struct {
	IRN       string // the original's invoice number, as the note's BillingReference
	ICV       uint64 // the original's ICV in this journal; 0 when Foreign
	Foreign   bool   // issued by another terminal (EGS) of the same seller
	EGS       string // the EGS that issued a foreign original, when given
	IssueDate string // YYYY-MM-DD of a foreign original, when given
}

// ReturnedLine is what one credit-note line returns of one line of an
// invoice of this journal. Sold* are the original line's quantity and
// tax-inclusive amount; Append refuses, with a *ReturnLimitError, a note
// that would take the sum over all credit notes of the invoice beyond them.
type ReturnedLine struct {
	NoteICV      uint64 // the credit note (set by the journal when read)
	Line         string // the original line's ID (cbc:ID)
	Name         string // the item, for messages
	Quantity     string // returned by this note
	Amount       string // tax-inclusive amount returned by this note
	SoldQuantity string
	SoldAmount   string
}

// Links is what a document refers to and what refers to it.
type Links struct {
	Note       *NoteRef       // for a note: the invoice it corrects
	Returned   []ReturnedLine // for a credit note of an own invoice: its lines
	Replaces   uint64         // ICV of the rejected document this one replaces; 0 if none
	ReplacedBy uint64         // ICV of the document that replaced this rejected one; 0 if none
	Resends    int            // times this document was put back in the queue after a rejection
}

// ReturnLimitError refuses a credit note that returns more of an invoice
// line than was sold, summed over all the invoice's credit notes.
type ReturnLimitError struct {
	OriginalIRN string
	Line        string // the original line's ID
	Name        string
	What        string // "quantity" or "amount"
	Sold        string
	Returned    string // by earlier credit notes
	Asked       string // by this note
	Remaining   string // what can still be returned
}

func (e *ReturnLimitError) Error() string {
	return fmt.Sprintf("line %s (%s) of invoice %s: returning %s %s more than was sold: sold %s, already returned %s, %s remains",
		e.Line, e.Name, e.OriginalIRN, e.What, e.Asked, e.Sold, e.Returned, e.Remaining)
}

// Is makes errors.Is(err, ErrInvalid) true: nothing was written.
func (e *ReturnLimitError) Is(target error) bool { return target == ErrInvalid }

// CorrectionError refuses a correction or resend of a document that is not
// (or no longer) a dead letter.
type CorrectionError struct {
	ICV    uint64
	Reason string
}

func (e *CorrectionError) Error() string {
	return fmt.Sprintf("document ICV %d: %s", e.ICV, e.Reason)
}

// ErrNotDeadLetter is what a *CorrectionError is.
var ErrNotDeadLetter = fmt.Errorf("store: not a dead letter")

// Is makes errors.Is(err, ErrNotDeadLetter) true.
func (e *CorrectionError) Is(target error) bool { return target == ErrNotDeadLetter }

// Actions of the corrections in the audit log.
const ActionResent = "journal.resent"

// ValidateLinks checks the link fields (Note, Returned, Replaces) of d.
func (d *Document) ValidateLinks() error {
	if n := d.Note; n != nil {
		if d.Type == TypeInvoice {
			return invalid("Note", "an invoice refers to no original")
		}
		if err := checkText("Note.IRN", n.IRN, MaxIRNLength, true); err != nil {
			return err
		}
		if n.Foreign != (n.ICV == 0) {
			return invalid("Note.ICV", "must be 0 exactly when the original is foreign")
		}
		if err := checkText("Note.EGS", n.EGS, 127, false); err != nil {
			return err
		}
		if n.IssueDate != "" {
			if _, err := time.Parse(time.DateOnly, n.IssueDate); err != nil {
				return invalid("Note.IssueDate", "must be YYYY-MM-DD, got %q", clip(n.IssueDate))
			}
		}
	}
	if len(d.Returned) > 0 && (d.Type != TypeCreditNote || d.Note == nil || d.Note.Foreign) {
		return invalid("Returned", "only a credit note of an invoice of this journal returns lines")
	}
	for i, r := range d.Returned {
		f := fmt.Sprintf("Returned[%d]", i)
		if err := checkText(f+".Line", r.Line, 64, true); err != nil {
			return err
		}
		if err := checkText(f+".Name", r.Name, 1000, false); err != nil {
			return err
		}
		for _, a := range []struct{ field, v string }{{".Quantity", r.Quantity}, {".Amount", r.Amount},
			{".SoldQuantity", r.SoldQuantity}, {".SoldAmount", r.SoldAmount}} {
			if err := checkAmount(f+a.field, a.v); err != nil {
				return err
			}
		}
	}
	if d.Replaces >= d.ICV && d.Replaces != 0 {
		return invalid("Replaces", "ICV %d is not an earlier document", d.Replaces)
	}
	return nil
}
