package store

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/shopspring/decimal"
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
	// ICV, by all its credit notes except those replaced by a correction,
	// in ICV order.
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

// quantityRE is a quantity as the XML writes it (up to 10 decimals, and the
// sum of many lines).
var quantityRE = regexp.MustCompile(`^[0-9]{1,20}(\.[0-9]{1,10})?$`)

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
		for _, a := range []struct{ field, v string }{{".Amount", r.Amount}, {".SoldAmount", r.SoldAmount}} {
			if err := checkAmount(f+a.field, a.v); err != nil {
				return err
			}
		}
		for _, q := range []struct{ field, v string }{{".Quantity", r.Quantity}, {".SoldQuantity", r.SoldQuantity}} {
			if !quantityRE.MatchString(q.v) {
				return invalid(f+q.field, "must be a positive decimal like 1.5, got %q", clip(q.v))
			}
		}
	}
	if d.Replaces >= d.ICV && d.Replaces != 0 {
		return invalid("Replaces", "ICV %d is not an earlier document", d.Replaces)
	}
	return nil
}

// CheckReturns checks that the lines next returns of invoice irn, added to
// prev (every line returned by its earlier credit notes), stay within what
// was sold, per line, in quantity and in amount. It returns a
// *ReturnLimitError for the first line beyond.
func CheckReturns(irn string, prev, next []ReturnedLine) error {
	type sum struct{ qty, amount decimal.Decimal }
	done := map[string]sum{}
	add := func(r ReturnedLine) error {
		q, err1 := decimal.NewFromString(r.Quantity)
		a, err2 := decimal.NewFromString(r.Amount)
		if err1 != nil || err2 != nil {
			return invalid("Returned", "line %s: quantity %q or amount %q is not a decimal", r.Line, clip(r.Quantity), clip(r.Amount))
		}
		s := done[r.Line]
		done[r.Line] = sum{s.qty.Add(q), s.amount.Add(a)}
		return nil
	}
	for _, r := range prev {
		if err := add(r); err != nil {
			return err
		}
	}
	for _, r := range next {
		s := done[r.Line]
		for _, c := range []struct {
			what        string
			had         decimal.Decimal
			asked, sold string
			money       bool
		}{
			{"quantity", s.qty, r.Quantity, r.SoldQuantity, false},
			{"amount", s.amount, r.Amount, r.SoldAmount, true},
		} {
			asked, err1 := decimal.NewFromString(c.asked)
			sold, err2 := decimal.NewFromString(c.sold)
			if err1 != nil || err2 != nil {
				return invalid("Returned", "line %s: %s %q or sold %q is not a decimal", r.Line, c.what, clip(c.asked), clip(c.sold))
			}
			if c.had.Add(asked).GreaterThan(sold) {
				rem := decimal.Max(sold.Sub(c.had), decimal.Zero)
				had, remaining := c.had.String(), rem.String()
				if c.money {
					had, remaining = c.had.StringFixed(2), rem.StringFixed(2)+" SAR"
				}
				return &ReturnLimitError{OriginalIRN: irn, Line: r.Line, Name: r.Name, What: c.what,
					Sold: c.sold, Returned: had, Asked: c.asked, Remaining: remaining}
			}
		}
		if err := add(r); err != nil {
			return err
		}
	}
	return nil
}
