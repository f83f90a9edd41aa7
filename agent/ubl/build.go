package ubl

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/posagent/posagent/agent/invoice"
)

// Header carries what the signing pipeline assigns to a document.
type Header struct {
	// IRN is the invoice reference number (cbc:ID). When empty, the
	// Document's RefNumber is used.
	IRN string
	// UUID is the document's RFC 4122 UUID (BR-KSA-03).
	UUID string
	// ICV is the invoice counter value, ≥ 1 (BR-KSA-33/34).
	ICV uint64
	// PIH is the previous invoice hash (base64; BR-KSA-26/61).
	PIH string
	// Issued is the issue time; it is written as KSA local time (UTC+3)
	// without a zone: IssueDate YYYY-MM-DD and IssueTime HH:MM:SS.
	Issued time.Time
}

// ProfileID is the KSA business process (BR-KSA-EN16931-01).
const ProfileID = "reporting:1.0"

// Build writes the unsigned UBL 2.1 document for a simplified tax invoice
// (388), credit note (381) or debit note (383) per SPEC §3.1: element order
// of the UBL XSD, the samples' four-space indentation, cac/cbc/ext declared
// on the root, amounts with 2 decimals. It leaves out ext:UBLExtensions, the
// QR reference and cac:Signature, which Sign inserts.
//
// Build only formats: every amount must already be computed and rounded by
// agent/invoice. Values that cannot be written faithfully (a missing
// field, an amount with more than 2 decimals or below zero, a character
// XML cannot carry) are an ErrInvalidInput naming the field.
func Build(doc *invoice.Document, h Header) ([]byte, error) {
	b, err := build(doc, h)
	if err != nil {
		return nil, fmt.Errorf("ubl build: %w", err)
	}
	return b, nil
}

// fieldError is an ErrInvalidInput about one field.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidInput, field, fmt.Sprintf(format, args...))
}

type writer struct {
	b     []byte
	depth int
	err   error
}

const indentUnit = "    "

func (w *writer) newline() {
	w.b = append(w.b, '\n')
	for i := 0; i < w.depth; i++ {
		w.b = append(w.b, indentUnit...)
	}
}

func (w *writer) open(tag string, attrs ...string) {
	w.newline()
	w.startTag(tag, attrs)
	w.depth++
}

func (w *writer) close(tag string) {
	w.depth--
	w.newline()
	w.b = append(w.b, "</"...)
	w.b = append(w.b, tag...)
	w.b = append(w.b, '>')
}

func (w *writer) startTag(tag string, attrs []string) {
	w.b = append(w.b, '<')
	w.b = append(w.b, tag...)
	for i := 0; i+1 < len(attrs); i += 2 {
		w.b = append(w.b, ' ')
		w.b = append(w.b, attrs[i]...)
		w.b = append(w.b, `="`...)
		w.b = appendEscaped(w.b, attrs[i+1], escC14NAttr)
		w.b = append(w.b, '"')
	}
	w.b = append(w.b, '>')
}

// leaf writes <tag attrs>text</tag> on its own line.
func (w *writer) leaf(tag, text string, attrs ...string) {
	w.newline()
	w.startTag(tag, attrs)
	w.b = appendEscaped(w.b, text, escText)
	w.b = append(w.b, "</"...)
	w.b = append(w.b, tag...)
	w.b = append(w.b, '>')
}

// text writes a free-text field after checking XML can carry it.
func (w *writer) text(field, tag, text string, attrs ...string) {
	if err := checkText(text); err != nil && w.err == nil {
		w.err = fieldError(field, "%v", err)
	}
	w.leaf(tag, text, attrs...)
}

// required is text for a field that must not be empty.
func (w *writer) required(field, tag, text string, attrs ...string) {
	if strings.TrimSpace(text) == "" && w.err == nil {
		w.err = fieldError(field, "is empty")
	}
	w.text(field, tag, text, attrs...)
}

// optional writes text only when it is not empty.
func (w *writer) optional(field, tag, text string) {
	if text != "" {
		w.text(field, tag, text)
	}
}

// amount writes a money amount with currencyID; it must be ≥ 0 and have
// at most 2 decimals (BR-KSA-F-04, BR-DEC-*).
func (w *writer) amount(field, tag string, d decimal.Decimal) {
	if w.err == nil {
		switch {
		case d.IsNegative():
			w.err = fieldError(field, "%s is negative (BR-KSA-F-04)", d)
		case !d.Equal(d.Round(2)):
			w.err = fieldError(field, "%s has more than 2 decimals", d)
		}
	}
	w.leaf(tag, invoice.Amount(d), "currencyID", invoice.CurrencySAR)
}

const rootStart = `<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="` + NSInvoice + `" xmlns:cac="` + NSCAC + `" xmlns:cbc="` + NSCBC + `" xmlns:ext="` + NSEXT + `">`

func build(doc *invoice.Document, h Header) ([]byte, error) {
	if doc == nil {
		return nil, fmt.Errorf("%w: no document", ErrInvalidInput)
	}
	if err := checkHeader(&h, doc); err != nil {
		return nil, err
	}
	switch doc.Type {
	case invoice.TypeInvoice, invoice.TypeCreditNote, invoice.TypeDebitNote:
	default:
		return nil, fieldError("Document.Type", "%q is not 388, 381 or 383 (BR-KSA-05)", doc.Type)
	}
	code := doc.TransactionCode
	if code == "" {
		code = doc.Flags.Code()
	}
	if !isSimplifiedCode(code) {
		return nil, fieldError("Document.TransactionCode", "%q is not a simplified transaction code 02PN0S0 (BR-KSA-06, BR-KSA-31)", code)
	}
	if doc.Currency != invoice.CurrencySAR {
		return nil, fieldError("Document.Currency", "%q, want SAR (BR-KSA-68, BR-KSA-EN16931-02)", doc.Currency)
	}
	if doc.Type.IsNote() {
		if strings.TrimSpace(doc.BillingReference) == "" {
			return nil, fieldError("Document.BillingReference", "a %s note needs the original invoice number (BR-KSA-56)", doc.Type)
		}
		if strings.TrimSpace(doc.NoteReason) == "" {
			return nil, fieldError("Document.NoteReason", "a %s note needs a reason (BR-KSA-17)", doc.Type)
		}
	} else if doc.BillingReference != "" || doc.NoteReason != "" {
		return nil, fieldError("Document.BillingReference", "only credit and debit notes carry a billing reference and reason")
	}
	if len(doc.Lines) == 0 {
		return nil, fieldError("Document.Lines", "a document needs at least one line (BR-16)")
	}
	if len(doc.Subtotals) == 0 {
		return nil, fieldError("Document.Subtotals", "a document needs at least one VAT breakdown (BR-CO-18)")
	}
	if t := doc.Totals.AllowanceTotal; t != nil && !t.IsZero() {
		return nil, fieldError("Document.Totals.AllowanceTotal", "document-level allowances are not supported: give discounts per line")
	}
	if !doc.Totals.Payable.Equal(doc.Totals.TaxInclusive) {
		return nil, fieldError("Document.Totals.Payable", "%s differs from TaxInclusive %s (BR-CO-16; QR tag 4)", doc.Totals.Payable, doc.Totals.TaxInclusive)
	}

	w := &writer{b: make([]byte, 0, 3072+1536*len(doc.Lines))}
	w.b = append(w.b, rootStart...)
	w.depth = 1
	issued := h.Issued.In(KSA)
	w.leaf("cbc:ProfileID", ProfileID)
	w.required("Header.IRN", "cbc:ID", h.IRN)
	w.leaf("cbc:UUID", h.UUID)
	w.leaf("cbc:IssueDate", issued.Format("2006-01-02"))
	w.leaf("cbc:IssueTime", issued.Format("15:04:05"))
	w.leaf("cbc:InvoiceTypeCode", string(doc.Type), "name", code)
	w.leaf("cbc:DocumentCurrencyCode", invoice.CurrencySAR)
	w.leaf("cbc:TaxCurrencyCode", invoice.CurrencySAR)
	if doc.Type.IsNote() {
		w.open("cac:BillingReference")
		w.open("cac:InvoiceDocumentReference")
		w.text("Document.BillingReference", "cbc:ID", doc.BillingReference)
		w.close("cac:InvoiceDocumentReference")
		w.close("cac:BillingReference")
	}
	w.open("cac:AdditionalDocumentReference")
	w.leaf("cbc:ID", "ICV")
	w.leaf("cbc:UUID", strconv.FormatUint(h.ICV, 10))
	w.close("cac:AdditionalDocumentReference")
	w.open("cac:AdditionalDocumentReference")
	w.leaf("cbc:ID", "PIH")
	w.open("cac:Attachment")
	w.leaf("cbc:EmbeddedDocumentBinaryObject", h.PIH, "mimeCode", "text/plain")
	w.close("cac:Attachment")
	w.close("cac:AdditionalDocumentReference")

	w.open("cac:AccountingSupplierParty")
	w.party("Document.Seller", &doc.Seller, true)
	w.close("cac:AccountingSupplierParty")
	w.open("cac:AccountingCustomerParty")
	if doc.Buyer != nil && !isEmptyParty(doc.Buyer) {
		w.party("Document.Buyer", doc.Buyer, false)
	}
	w.close("cac:AccountingCustomerParty")

	if doc.SupplyDate != "" || doc.SupplyEndDate != "" {
		w.open("cac:Delivery")
		w.optional("Document.SupplyDate", "cbc:ActualDeliveryDate", doc.SupplyDate)
		w.optional("Document.SupplyEndDate", "cbc:LatestDeliveryDate", doc.SupplyEndDate)
		w.close("cac:Delivery")
	}
	w.open("cac:PaymentMeans")
	w.required("Document.PaymentMeans", "cbc:PaymentMeansCode", doc.PaymentMeans)
	if doc.Type.IsNote() {
		w.text("Document.NoteReason", "cbc:InstructionNote", doc.NoteReason)
	}
	w.close("cac:PaymentMeans")

	w.open("cac:TaxTotal")
	w.amount("Document.Totals.Tax", "cbc:TaxAmount", doc.Totals.Tax)
	w.close("cac:TaxTotal")
	w.open("cac:TaxTotal")
	w.amount("Document.Totals.Tax", "cbc:TaxAmount", doc.Totals.Tax)
	for i := range doc.Subtotals {
		st := &doc.Subtotals[i]
		field := "Document.Subtotals[" + strconv.Itoa(i) + "]"
		w.open("cac:TaxSubtotal")
		w.amount(field+".Taxable", "cbc:TaxableAmount", st.Taxable)
		w.amount(field+".Tax", "cbc:TaxAmount", st.Tax)
		w.taxCategory(field+".Category", "cac:TaxCategory", &st.Category, true)
		w.close("cac:TaxSubtotal")
	}
	w.close("cac:TaxTotal")

	w.open("cac:LegalMonetaryTotal")
	t := &doc.Totals
	w.amount("Document.Totals.LineExtension", "cbc:LineExtensionAmount", t.LineExtension)
	w.amount("Document.Totals.TaxExclusive", "cbc:TaxExclusiveAmount", t.TaxExclusive)
	w.amount("Document.Totals.TaxInclusive", "cbc:TaxInclusiveAmount", t.TaxInclusive)
	if t.AllowanceTotal != nil {
		w.amount("Document.Totals.AllowanceTotal", "cbc:AllowanceTotalAmount", *t.AllowanceTotal)
	}
	w.amount("Document.Totals.Payable", "cbc:PayableAmount", t.Payable)
	w.close("cac:LegalMonetaryTotal")

	for i := range doc.Lines {
		w.line("Document.Lines["+strconv.Itoa(i)+"]", &doc.Lines[i])
	}
	w.depth = 0
	w.newline()
	w.b = append(w.b, "</Invoice>\n"...)
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

func checkHeader(h *Header, doc *invoice.Document) error {
	if h.IRN == "" {
		h.IRN = doc.RefNumber
	}
	if strings.TrimSpace(h.IRN) == "" {
		return fieldError("Header.IRN", "is empty and the document has no RefNumber")
	}
	if !isUUID(h.UUID) {
		return fieldError("Header.UUID", "%q is not a UUID (BR-KSA-03)", h.UUID)
	}
	if h.ICV == 0 {
		return fieldError("Header.ICV", "must be at least 1 (BR-KSA-33)")
	}
	if !isBase64(h.PIH) {
		return fieldError("Header.PIH", "%q is not base64 (BR-KSA-26)", h.PIH)
	}
	if h.Issued.IsZero() {
		return fieldError("Header.Issued", "is zero (BR-KSA-04)")
	}
	return nil
}

// isUUID accepts the 8-4-4-4-12 hex form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func isBase64(s string) bool {
	if s == "" || len(s)%4 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' ||
			(c == '=' && i >= len(s)-2)
		if !ok {
			return false
		}
	}
	return true
}

// isSimplifiedCode checks the KSA-2 code of a simplified document: "02",
// then the P, N, E, S, B flags with E and B zero (BR-KSA-06, BR-KSA-31).
func isSimplifiedCode(c string) bool {
	if len(c) != 7 || c[:2] != "02" || c[4] != '0' || c[6] != '0' {
		return false
	}
	for i := 2; i < 7; i++ {
		if c[i] != '0' && c[i] != '1' {
			return false
		}
	}
	return true
}

func isEmptyParty(p *invoice.Party) bool {
	return p.RegistrationName == "" && p.VATNumber == "" && p.OtherID == nil && p.Address.IsZero()
}

func (w *writer) party(field string, p *invoice.Party, seller bool) {
	w.open("cac:Party")
	if id := p.OtherID; id != nil {
		w.open("cac:PartyIdentification")
		if id.Scheme == "" && w.err == nil {
			w.err = fieldError(field+".OtherID.Scheme", "is empty (BR-KSA-08, BR-KSA-14)")
		}
		w.required(field+".OtherID.Value", "cbc:ID", id.Value, "schemeID", id.Scheme)
		w.close("cac:PartyIdentification")
	}
	if a := &p.Address; !a.IsZero() {
		w.open("cac:PostalAddress")
		w.optional(field+".Address.Street", "cbc:StreetName", a.Street)
		w.optional(field+".Address.AdditionalStreet", "cbc:AdditionalStreetName", a.AdditionalStreet)
		w.optional(field+".Address.Building", "cbc:BuildingNumber", a.Building)
		w.optional(field+".Address.Plot", "cbc:PlotIdentification", a.Plot)
		w.optional(field+".Address.District", "cbc:CitySubdivisionName", a.District)
		w.optional(field+".Address.City", "cbc:CityName", a.City)
		w.optional(field+".Address.PostalZone", "cbc:PostalZone", a.PostalZone)
		if a.Country != "" {
			w.open("cac:Country")
			w.text(field+".Address.Country", "cbc:IdentificationCode", a.Country)
			w.close("cac:Country")
		}
		w.close("cac:PostalAddress")
	} else if seller && w.err == nil {
		w.err = fieldError(field+".Address", "is empty (BR-KSA-09)")
	}
	if p.VATNumber != "" || seller {
		w.open("cac:PartyTaxScheme")
		w.required(field+".VATNumber", "cbc:CompanyID", p.VATNumber)
		w.open("cac:TaxScheme")
		w.leaf("cbc:ID", "VAT")
		w.close("cac:TaxScheme")
		w.close("cac:PartyTaxScheme")
	}
	if p.RegistrationName != "" || seller {
		w.open("cac:PartyLegalEntity")
		w.required(field+".RegistrationName", "cbc:RegistrationName", p.RegistrationName)
		w.close("cac:PartyLegalEntity")
	}
	w.close("cac:Party")
}

// taxCategory writes TaxCategory or ClassifiedTaxCategory. The exemption
// reason goes into the document's subtotals only, as in the samples.
func (w *writer) taxCategory(field, tag string, c *invoice.TaxCategory, exemption bool) {
	w.open(tag)
	switch c.ID {
	case "S", "Z", "E", "O":
	default:
		if w.err == nil {
			w.err = fieldError(field+".ID", "%q is not S, Z, E or O (BR-KSA-18)", c.ID)
		}
	}
	w.leaf("cbc:ID", c.ID)
	if w.err == nil && (c.Percent.IsNegative() || !c.Percent.Equal(c.Percent.Round(2))) {
		w.err = fieldError(field+".Percent", "%s is not a rate with at most 2 decimals (BR-KSA-DEC-02)", c.Percent)
	}
	w.leaf("cbc:Percent", invoice.Percent(c.Percent))
	if exemption && c.ID != "S" {
		if (c.ExemptionCode == "" || c.ExemptionReason == "") && w.err == nil {
			w.err = fieldError(field, "category %s needs an exemption reason code and text (BR-KSA-CL-04, BR-KSA-69/23/24)", c.ID)
		}
		w.text(field+".ExemptionCode", "cbc:TaxExemptionReasonCode", c.ExemptionCode)
		w.text(field+".ExemptionReason", "cbc:TaxExemptionReason", c.ExemptionReason)
	}
	w.open("cac:TaxScheme")
	w.leaf("cbc:ID", "VAT")
	w.close("cac:TaxScheme")
	w.close(tag)
}

// Line allowance reason code (UNTDID 5189 "Discount").
const discountReasonCode = "95"

func (w *writer) line(field string, l *invoice.Line) {
	w.open("cac:InvoiceLine")
	w.required(field+".ID", "cbc:ID", l.ID)
	if w.err == nil && !l.Quantity.IsPositive() {
		w.err = fieldError(field+".Quantity", "%s is not positive (BR-KSA-F-04)", l.Quantity)
	}
	if l.UnitCode != "" {
		w.leaf("cbc:InvoicedQuantity", l.Quantity.String(), "unitCode", l.UnitCode)
	} else {
		w.leaf("cbc:InvoicedQuantity", l.Quantity.String())
	}
	w.amount(field+".Net", "cbc:LineExtensionAmount", l.Net)
	for i := range l.Discounts {
		d := &l.Discounts[i]
		df := field + ".Discounts[" + strconv.Itoa(i) + "]"
		reason := d.Reason
		if reason == "" {
			reason = "Discount"
		}
		w.open("cac:AllowanceCharge")
		w.leaf("cbc:ChargeIndicator", "false")
		w.leaf("cbc:AllowanceChargeReasonCode", discountReasonCode)
		w.text(df+".Reason", "cbc:AllowanceChargeReason", reason)
		w.amount(df+".Amount", "cbc:Amount", d.Amount)
		w.close("cac:AllowanceCharge")
	}
	w.open("cac:TaxTotal")
	w.amount(field+".VAT", "cbc:TaxAmount", l.VAT)
	w.amount(field+".Total", "cbc:RoundingAmount", l.Total)
	w.close("cac:TaxTotal")
	w.open("cac:Item")
	w.required(field+".Name", "cbc:Name", l.Name)
	w.taxCategory(field+".Tax", "cac:ClassifiedTaxCategory", &l.Tax, false)
	w.close("cac:Item")
	w.open("cac:Price")
	if w.err == nil && l.Price.IsNegative() {
		w.err = fieldError(field+".Price", "%s is negative (BR-KSA-F-04)", l.Price)
	}
	w.leaf("cbc:PriceAmount", priceString(l.Price), "currencyID", invoice.CurrencySAR)
	if bq := l.BaseQuantity; bq != nil {
		if w.err == nil && !bq.IsPositive() {
			w.err = fieldError(field+".BaseQuantity", "%s is not positive (BR-KSA-EN16931-12)", bq)
		}
		if l.UnitCode != "" {
			w.leaf("cbc:BaseQuantity", bq.String(), "unitCode", l.UnitCode)
		} else {
			w.leaf("cbc:BaseQuantity", bq.String())
		}
	}
	w.close("cac:Price")
	w.close("cac:InvoiceLine")
}

// priceString writes a unit price exactly, with at least 2 decimals.
func priceString(d decimal.Decimal) string {
	s := d.String()
	if dot := strings.IndexByte(s, '.'); dot < 0 || len(s)-dot-1 < 2 {
		return d.StringFixed(2)
	}
	return s
}
