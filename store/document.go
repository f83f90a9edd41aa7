package store

import (
	"encoding/base64"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// KSA is Saudi Arabia's time zone (UTC+3, no daylight saving time). Every
// time the journal returns is in KSA; export file names use it (DESIGN
// decision 6).
var KSA = time.FixedZone("UTC+03", 3*60*60)

// GenesisPIH is the PIH of the first document of a chain:
// base64(hex(SHA-256("0"))), 88 characters (SPEC §0.1 item 3, §4).
const GenesisPIH = "NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ=="

// Head is the end of the chain: the last journaled document, or the genesis
// head (ICV 0, Hash GenesisPIH, zero IssuedAt) when there is none. The next
// document has ICV = Head.ICV+1 and PIH = Head.Hash.
type Head struct {
	ICV      uint64
	Hash     string
	IssuedAt time.Time
}

// GenesisHead is the head of an empty journal.
func GenesisHead() Head { return Head{ICV: 0, Hash: GenesisPIH} }

// DocType is the UBL InvoiceTypeCode (BR-KSA-05) of a journaled document.
type DocType string

// The document types a cash register issues.
const (
	TypeInvoice    DocType = "388" // simplified tax invoice
	TypeCreditNote DocType = "381" // credit note
	TypeDebitNote  DocType = "383" // debit note
)

// Valid reports whether t is one of the three POS document types.
func (t DocType) Valid() bool {
	return t == TypeInvoice || t == TypeCreditNote || t == TypeDebitNote
}

// Document is what the journal keeps per issued document. The fields up to
// FailurePeriod are immutable once appended; JournaledAt is set by the
// journal; Printed and Report are read from the journal's separate state
// tables (printing and reporting never touch the document row).
type Document struct {
	ICV            uint64 // KSA-16, contiguous from 1
	UUID           string // cbc:UUID (BR-KSA-03)
	IdempotencyKey string // the POS's key; Append sets it when empty
	Type           DocType
	TypeName       string    // KSA-2 transaction code, InvoiceTypeCode/@name, e.g. "0200000"
	IRN            string    // cbc:ID, the invoice reference number
	IssuedAt       time.Time // IssueDate+IssueTime as signed
	Hash           string    // invoice hash, base64 of the raw SHA-256 (44 characters)
	PIH            string    // previous invoice hash (GenesisPIH for ICV 1)
	XML            []byte    // the exact signed bytes
	QR             string    // the QR payload (base64 TLV), as in the XML
	SellerVAT      string    // 15 digits, 3…3 (BR-KSA-40)
	// Totals as the literal XML text (decimal strings, e.g. "231.15"): what
	// QR tags 4 and 5 carry and what the receipt prints.
	TaxExclusive     string
	VATTotal         string
	TaxInclusive     string
	BillingReference string // the original invoice(s) of a note; empty otherwise
	SupplyDate       string // KSA-5 as YYYY-MM-DD; empty when absent
	// FailurePeriod marks a document issued while reporting was impossible
	// (ZATCA unreachable beyond the 24-hour window).
	FailurePeriod bool

	// Links Append records with the document (see Corrections); Get and
	// List do not fill them (Corrections.Links reads them).
	Note     *NoteRef       // a note's original invoice
	Returned []ReturnedLine // a credit note's lines returned against an own invoice
	Replaces uint64         // ICV of the rejected document this one replaces

	JournaledAt time.Time // the Append's now, set by the journal
	Printed     PrintState
	Report      ReportState
}

// PrintState is the printing history of a document.
type PrintState struct {
	FirstPrintedAt time.Time // zero until printed
	LastPrintedAt  time.Time
	Copies         int // reprints, each marked as a copy on paper
}

// Printed reports whether the document was printed at least once.
func (p PrintState) Printed() bool { return !p.FirstPrintedAt.IsZero() }

// Limits on document fields.
const (
	MaxXMLBytes  = 4 << 20
	MaxQRLength  = 1000 // BR-CL-KSA-14
	MaxIRNLength = 127
	MaxKeyLength = 128
)

var (
	uuidRE     = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	typeNameRE = regexp.MustCompile(`^0[12][01]{5}$`)
	vatRE      = regexp.MustCompile(`^3[0-9]{13}3$`)
	amountRE   = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,6})?$`)
)

// ValidateTime checks a timestamp given to the journal: set, and between
// 1970 and 2261 (the journal stores Unix nanoseconds).
func ValidateTime(field string, t time.Time) error {
	if t.IsZero() {
		return invalid(field, "is zero")
	}
	if y := t.UTC().Year(); y < 1970 || y > 2261 {
		return invalid(field, "year %d is outside 1970-2261", y)
	}
	return nil
}

// ValidateKey checks an idempotency key: 1 to MaxKeyLength printable ASCII
// characters.
func ValidateKey(key string) error {
	if key == "" {
		return invalid("IdempotencyKey", "is empty")
	}
	if len(key) > MaxKeyLength {
		return invalid("IdempotencyKey", "is %d bytes, more than %d", len(key), MaxKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return invalid("IdempotencyKey", "byte %d (0x%02x) is not printable ASCII", i, key[i])
		}
	}
	return nil
}

// IsInvoiceHash reports whether s is an invoice hash: base64 (standard,
// padded) of 32 bytes, 44 characters.
func IsInvoiceHash(s string) bool {
	if len(s) != 44 {
		return false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 32
}

// Validate checks every immutable field of d. It does not check chain
// continuity (ICV, PIH against the head), which only the journal can.
func (d *Document) Validate() error {
	if d.ICV == 0 {
		return invalid("ICV", "must be 1 or more (BR-KSA-33)")
	}
	if !uuidRE.MatchString(d.UUID) {
		return invalid("UUID", "must be 1 to 64 letters, digits and dashes (BR-KSA-03), got %q", clip(d.UUID))
	}
	if err := ValidateKey(d.IdempotencyKey); err != nil {
		return err
	}
	if !d.Type.Valid() {
		return invalid("Type", "must be 388, 381 or 383 (BR-KSA-05), got %q", clip(string(d.Type)))
	}
	if !typeNameRE.MatchString(d.TypeName) {
		return invalid("TypeName", "must be 7 digits 0/1 starting 01 or 02 (BR-KSA-06), got %q", clip(d.TypeName))
	}
	if err := checkText("IRN", d.IRN, MaxIRNLength, true); err != nil {
		return err
	}
	if err := ValidateTime("IssuedAt", d.IssuedAt); err != nil {
		return err
	}
	if !IsInvoiceHash(d.Hash) {
		return invalid("Hash", "must be base64 of a 32-byte SHA-256 (44 characters), got %q", clip(d.Hash))
	}
	if d.PIH != GenesisPIH && !IsInvoiceHash(d.PIH) {
		return invalid("PIH", "must be an invoice hash or the genesis value (BR-KSA-26), got %q", clip(d.PIH))
	}
	if d.ICV == 1 && d.PIH != GenesisPIH {
		return invalid("PIH", "of ICV 1 must be the genesis value")
	}
	if len(d.XML) == 0 {
		return invalid("XML", "is empty")
	}
	if len(d.XML) > MaxXMLBytes {
		return invalid("XML", "is %d bytes, more than %d", len(d.XML), MaxXMLBytes)
	}
	if d.QR == "" {
		return invalid("QR", "is empty (BR-KSA-27)")
	}
	if len(d.QR) > MaxQRLength {
		return invalid("QR", "is %d characters, more than %d (BR-CL-KSA-14)", len(d.QR), MaxQRLength)
	}
	if _, err := base64.StdEncoding.Strict().DecodeString(d.QR); err != nil {
		return invalid("QR", "is not base64 (BR-KSA-27): %v", err)
	}
	if !vatRE.MatchString(d.SellerVAT) {
		return invalid("SellerVAT", "must be 15 digits starting and ending with 3 (BR-KSA-40), got %q", clip(d.SellerVAT))
	}
	for _, a := range []struct{ field, v string }{
		{"TaxExclusive", d.TaxExclusive}, {"VATTotal", d.VATTotal}, {"TaxInclusive", d.TaxInclusive},
	} {
		if err := checkAmount(a.field, a.v); err != nil {
			return err
		}
	}
	if err := checkText("BillingReference", d.BillingReference, 5000, false); err != nil { // BR-KSA-F-06-C22
		return err
	}
	if d.SupplyDate != "" {
		if _, err := time.Parse(time.DateOnly, d.SupplyDate); err != nil {
			return invalid("SupplyDate", "must be YYYY-MM-DD, got %q", clip(d.SupplyDate))
		}
	}
	return nil
}

// checkAmount accepts a non-negative plain decimal (BR-KSA-F-04), as the
// XML writes it: digits, an optional point and decimals, no sign or
// exponent.
func checkAmount(field, v string) error {
	if !amountRE.MatchString(v) {
		return invalid(field, "must be a non-negative decimal like 231.15 (BR-KSA-F-04), got %q", clip(v))
	}
	if _, err := decimal.NewFromString(v); err != nil {
		return invalid(field, "is not a decimal: %v", err)
	}
	return nil
}

func checkText(field, v string, maxLen int, required bool) error {
	if v == "" {
		if required {
			return invalid(field, "is empty")
		}
		return nil
	}
	if len(v) > maxLen {
		return invalid(field, "is %d bytes, more than %d", len(v), maxLen)
	}
	if !utf8.ValidString(v) {
		return invalid(field, "is not valid UTF-8")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return invalid(field, "contains control character %U", r)
		}
	}
	return nil
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
