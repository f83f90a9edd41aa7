package printer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// Receipt is a printable receipt, independent of any tax regime. Text fields
// may hold Arabic, Latin, digits or a mix; the encoder shapes and orders them.
// The zero value of every optional field prints nothing.
type Receipt struct {
	// Header lines are centred at the top, e.g. the seller's name in Arabic
	// and English, the VAT number and the branch.
	Header []Line
	// Title lines are centred and bold below the header, e.g. the document
	// type in both languages.
	Title []Line
	// Meta holds label/value rows: document number, date and time, the
	// original document and the reason for a note.
	Meta []Field
	// Columns and ColumnsAlt label the item table (first and second
	// language). Both are optional.
	Columns, ColumnsAlt Columns
	// Items are the receipt lines; at least one is required.
	Items []Item
	// Totals are label/amount rows below the items.
	Totals []Amount
	// Currency, when set, follows every total, e.g. "SAR".
	Currency string
	// Notices are free text paragraphs printed below the totals, e.g. a
	// reporting delay notice. Long paragraphs wrap.
	Notices []string
	// QR is the payload of the QR code printed below the totals (byte mode,
	// error correction M). Empty prints no QR code.
	QR string
	// Copy marks a reprint: a conspicuous banner at the top and the bottom.
	Copy bool
	// CopyLabel is the banner text of a copy; empty means "COPY".
	CopyLabel string
	// Footer lines are centred at the end.
	Footer []Line
	// OpenDrawer pulses the cash drawer after the receipt is cut.
	OpenDrawer bool
}

// Line is one line of free text.
type Line struct {
	Text  string
	Bold  bool
	Large bool // double width and height
}

// Field is one label/value row. LabelAlt is the label in the second
// language (usually Arabic).
type Field struct {
	Label, LabelAlt string
	Value           string
}

// Columns are the labels of the item table's columns.
type Columns struct {
	Item, Quantity, UnitPrice, VAT, Total string
}

// IsZero reports whether no column has a label.
func (c Columns) IsZero() bool { return c == Columns{} }

// Item is one receipt line. Name or NameAlt (or both) must be set. Amounts
// are printed with two decimals unless they carry more.
type Item struct {
	Name, NameAlt string
	Quantity      decimal.Decimal
	UnitPrice     decimal.Decimal
	// VATRate is a percentage, e.g. 15.
	VATRate decimal.Decimal
	// Total is the line total as it should appear on the receipt.
	Total decimal.Decimal
}

// Amount is one label/amount row of the totals block.
type Amount struct {
	Label, LabelAlt string
	Value           decimal.Decimal
	Bold            bool
}

// Limits enforced by Validate. They bound the memory and paper a single
// receipt can use.
const (
	MaxTextRunes = 256  // per text field
	MaxLines     = 64   // per Header, Title, Meta, Totals, Notices, Footer
	MaxItems     = 1000 // items per receipt
	MaxQRBytes   = 2331 // QR version 40, error correction M, byte mode
)

// FieldError names one rule a Receipt field breaks.
type FieldError struct {
	Field   string // e.g. "items[3].name"
	Problem string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Problem }

// ValidationError lists every problem Validate found. It matches
// ErrInvalidReceipt with errors.Is.
type ValidationError struct {
	Faults []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid receipt: ")
	for i, f := range e.Faults {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalidReceipt) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidReceipt }

// Validate checks r and returns a *ValidationError naming every bad field, or
// nil. Text must be valid UTF-8 without control characters (they would be
// sent to the printer as commands), within the length limits.
func (r *Receipt) Validate() error {
	if r == nil {
		return &ValidationError{Faults: []FieldError{{Field: "receipt", Problem: "is nil"}}}
	}
	var v validator
	v.lines("header", r.Header)
	v.lines("title", r.Title)
	v.count("meta", len(r.Meta), MaxLines)
	for i, f := range r.Meta {
		p := fmt.Sprintf("meta[%d]", i)
		v.text(p+".label", f.Label)
		v.text(p+".label_alt", f.LabelAlt)
		v.text(p+".value", f.Value)
		if f.Label == "" && f.LabelAlt == "" && f.Value == "" {
			v.add(p, "is empty")
		}
	}
	v.columns("columns", r.Columns)
	v.columns("columns_alt", r.ColumnsAlt)
	if len(r.Items) == 0 {
		v.add("items", "at least one item is required")
	}
	v.count("items", len(r.Items), MaxItems)
	for i, it := range r.Items {
		p := fmt.Sprintf("items[%d]", i)
		v.text(p+".name", it.Name)
		v.text(p+".name_alt", it.NameAlt)
		if strings.TrimSpace(it.Name) == "" && strings.TrimSpace(it.NameAlt) == "" {
			v.add(p+".name", "name or name_alt is required")
		}
	}
	v.count("totals", len(r.Totals), MaxLines)
	for i, a := range r.Totals {
		p := fmt.Sprintf("totals[%d]", i)
		v.text(p+".label", a.Label)
		v.text(p+".label_alt", a.LabelAlt)
		if a.Label == "" && a.LabelAlt == "" {
			v.add(p+".label", "label or label_alt is required")
		}
	}
	v.text("currency", r.Currency)
	v.count("notices", len(r.Notices), MaxLines)
	for i, n := range r.Notices {
		v.text(fmt.Sprintf("notices[%d]", i), n)
	}
	if len(r.QR) > MaxQRBytes {
		v.add("qr", fmt.Sprintf("payload is %d bytes, a QR code holds at most %d", len(r.QR), MaxQRBytes))
	}
	v.text("copy_label", r.CopyLabel)
	v.lines("footer", r.Footer)
	if len(v.faults) > 0 {
		return &ValidationError{Faults: v.faults}
	}
	return nil
}

type validator struct{ faults []FieldError }

func (v *validator) add(field, problem string) {
	v.faults = append(v.faults, FieldError{Field: field, Problem: problem})
}

func (v *validator) count(field string, n, max int) {
	if n > max {
		v.add(field, fmt.Sprintf("has %d entries, at most %d allowed", n, max))
	}
}

func (v *validator) lines(field string, ls []Line) {
	v.count(field, len(ls), MaxLines)
	for i, l := range ls {
		v.text(fmt.Sprintf("%s[%d].text", field, i), l.Text)
	}
}

func (v *validator) columns(field string, c Columns) {
	v.text(field+".item", c.Item)
	v.text(field+".quantity", c.Quantity)
	v.text(field+".unit_price", c.UnitPrice)
	v.text(field+".vat", c.VAT)
	v.text(field+".total", c.Total)
}

func (v *validator) text(field, s string) {
	if !utf8.ValidString(s) {
		v.add(field, "is not valid UTF-8")
		return
	}
	if n := utf8.RuneCountInString(s); n > MaxTextRunes {
		v.add(field, fmt.Sprintf("is %d characters long, at most %d allowed", n, MaxTextRunes))
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			v.add(field, fmt.Sprintf("contains control character %U", r))
			return
		}
	}
}
