package invoice

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

var (
	hundred = decimal.NewFromInt(100)
	one     = decimal.NewFromInt(1)
	five    = decimal.NewFromInt(5)
	fifteen = decimal.NewFromInt(15)
)

// paymentMeans is the UNTDID 4461 subset ZATCA accepts (BR-KSA-16).
var paymentMeans = map[string]bool{"10": true, "30": true, "42": true, "48": true, "1": true}

// ErrNilInput is returned by Compute when called without a sale or seller.
var ErrNilInput = errors.New("invoice: nil sale or seller")

// Compute validates a sale against the ZATCA rules for a simplified document
// and, only when every field is valid, computes the Document: line nets,
// line VAT, per-category VAT and totals with half-up rounding (SPEC §3.2).
// Validation failures are returned all at once as a *ValidationError; no
// Document is returned then.
//
// Rounding, per line (r is the VAT rate as a fraction):
//   - tax-exclusive price p: Net = round(qty × p, 2) − Σ discounts,
//     VAT = round(Net × r, 2);
//   - tax-inclusive price g: gross = round(qty × g, 2) − Σ discounts,
//     Net = round(gross / (1 + r), 2), VAT = gross − Net; the net unit price
//     and VAT-exclusive discounts are derived so that
//     round(qty × Price / BaseQuantity, 2) − Σ Discounts = Net exactly.
//
// Total = Net + VAT. Per VAT category (and rate): Taxable = Σ Net,
// Tax = round(Taxable × rate, 2), computed on the document, not summed from
// the lines. TaxExclusive = LineExtension = Σ Net, Tax = Σ category taxes,
// TaxInclusive = TaxExclusive + Tax, Payable = TaxInclusive. Every
// BR-CO-10/13/14/15/16/17, BR-KSA-51 and BR-KSA-EN16931-11 equality holds
// by construction.
func Compute(s *Sale, seller *Seller) (*Document, error) {
	if s == nil || seller == nil {
		return nil, fmt.Errorf("invoice compute: %w", ErrNilInput)
	}
	v := validator{sale: s, seller: seller}
	lines := v.run()
	if err := v.e.err(); err != nil {
		return nil, err
	}
	return build(s, seller, lines), nil
}

// lineIn is a validated sale line, ready for the arithmetic.
type lineIn struct {
	nameAr, nameEn string
	qty            decimal.Decimal
	price          decimal.Decimal // as entered: exclusive or inclusive
	inclusive      bool
	tax            TaxCategory
	rate           decimal.Decimal // fraction, 0.15
	discounts      []Discount      // amounts as entered (same VAT basis as price)
}

type validator struct {
	sale   *Sale
	seller *Seller
	e      errs
}

func (v *validator) run() []lineIn {
	s := v.sale
	v.header()
	lines := v.lines()
	v.notes()
	v.party(lines)
	v.seller.validate(&v.e, "seller")
	if s.Party != nil && s.Party.VATNumber != "" && s.Party.VATNumber == v.seller.VATNumber {
		v.e.add("party_details.party_vat", "BR-CUSTOM-VALIDATION-01", "buyer VAT number must differ from the seller's")
	}
	return lines
}

func (v *validator) header() {
	s := v.sale
	switch k := s.IdempotencyKey; {
	case k == "":
		v.e.add("idempotency_key", RuleRequired, "idempotency_key is required")
	case len(k) > 128 || !visibleASCII(k):
		v.e.add("idempotency_key", RuleType, "must be 1–128 visible ASCII characters")
	}
	switch s.DocType {
	case "":
		v.e.add("doc_type", "BR-04", "doc_type is required: 388 invoice, 381 credit note or 383 debit note")
	case TypeInvoice, TypeCreditNote, TypeDebitNote:
	default:
		v.e.add("doc_type", "BR-KSA-05", fmt.Sprintf("doc_type %q is not 388, 381 or 383", string(s.DocType)))
	}
	if ref := s.InvoiceRefNumber; ref != "" {
		if strings.TrimSpace(ref) == "" {
			v.e.add("invoice_ref_number", RuleText, "must not be blank when given")
		} else {
			checkText(&v.e, "invoice_ref_number", ref, 127, "BR-KSA-F-06-C1")
		}
	}
	if s.PaymentMeans != "" && !paymentMeans[s.PaymentMeans] {
		v.e.add("payment_means", "BR-KSA-16", fmt.Sprintf("payment_means %q is not one of 10 (cash), 30 (credit), 42 (bank account), 48 (bank card), 1 (not defined)", s.PaymentMeans))
	}
	start, startOK := v.date("supply_date", s.SupplyDate)
	end, endOK := v.date("supply_end_date", s.SupplyEndDate)
	if s.SupplyEndDate != "" && s.SupplyDate == "" && !s.Summary {
		v.e.add("supply_date", "BR-KSA-35", "supply_date is required when supply_end_date is given")
	}
	if startOK && endOK && end.Before(start) {
		v.e.add("supply_end_date", "BR-KSA-36", "supply_end_date must not be before supply_date")
	}
	if s.Summary {
		if s.SupplyDate == "" {
			v.e.add("supply_date", "BR-KSA-72", "a summary invoice needs supply_date")
		}
		if s.SupplyEndDate == "" {
			v.e.add("supply_end_date", "BR-KSA-72", "a summary invoice needs supply_end_date")
		}
		if s.Party == nil || joinNames(s.Party.NameAr, s.Party.NameEn) == "" {
			v.e.add("party_details.party_name_ar", "BR-KSA-71", "a summary invoice needs the buyer name")
		}
	}
}

func (v *validator) date(field, s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	d, ok := parseDate(s)
	if !ok {
		v.e.add(field, "BR-KSA-F-01", fmt.Sprintf("%q is not a calendar date YYYY-MM-DD (years 2000–2099)", s))
	}
	return d, ok
}

func (v *validator) notes() {
	s := v.sale
	switch {
	case s.DocType == TypeInvoice && s.Notes != nil:
		v.e.add("notes_details", RuleNotes, "notes_details is only for credit (381) and debit (383) notes")
	case s.DocType.IsNote():
		n := s.Notes
		if n == nil {
			n = &SaleNotes{}
		}
		requireText(&v.e, "notes_details.related_doc_reference", n.RelatedDocReference, "BR-KSA-56",
			"a credit or debit note must reference the original invoice number", 5000, "BR-KSA-F-06-C22")
		requireText(&v.e, "notes_details.reason_text", n.ReasonText, "BR-KSA-17",
			"a credit or debit note must give the reason it is issued", 1000, "BR-KSA-F-06-C13")
	}
}

func (v *validator) party(lines []lineIn) {
	p := v.sale.Party
	const path = "party_details"
	needsBuyer := false
	for _, l := range lines {
		if l.tax.ExemptionCode == "VATEX-SA-EDU" || l.tax.ExemptionCode == "VATEX-SA-HEA" {
			needsBuyer = true
		}
	}
	if p == nil {
		if needsBuyer {
			v.e.add(join(path, "party_name_ar"), "BR-KSA-25", "private education or healthcare to a citizen (VATEX-SA-EDU/HEA) needs the buyer name")
			v.e.add(join(path, "party_add_id"), "BR-KSA-49", "private education or healthcare to a citizen (VATEX-SA-EDU/HEA) needs the buyer national ID (nat)")
		}
		return
	}
	names(&v.e, join(path, "party_name_ar"), join(path, "party_name_en"), p.NameAr, p.NameEn, "BR-KSA-F-06-C32")
	if p.VATNumber != "" && !isVATNumber(p.VATNumber) {
		v.e.add(join(path, "party_vat"), "BR-KSA-44", "buyer VAT number must be 15 digits, the first and the last being 3")
	}
	if id := p.OtherID; id != nil {
		field := join(join(path, "party_add_id"), strings.ToLower(id.Scheme))
		switch {
		case !isAlnum(id.Value):
			v.e.add(field, "BR-KSA-14", "buyer identification must be letters and digits only")
		case len(id.Value) > 127:
			v.e.add(field, RuleLimit, "buyer identification is longer than 127 characters")
		}
	}
	checkLen := func(key, v2, rule string, max int) {
		if v2 == "" {
			return
		}
		if strings.TrimSpace(v2) == "" {
			v.e.add(join(path, key), RuleText, "must not be blank when given")
			return
		}
		checkText(&v.e, join(path, key), v2, max, rule)
	}
	checkLen("street_ar", p.StreetAr, "BR-KSA-F-06-C24", 1000)
	checkLen("city_ar", p.CityAr, "BR-KSA-F-06-C26", 127)
	checkLen("city_subdivision_ar", p.CitySubdivisionAr, "BR-KSA-F-06-C29", 127)
	checkLen("building", p.Building, RuleLimit, 127)
	if p.PostalZone != "" && !isDigits(p.PostalZone, 5) {
		v.e.add(join(path, "postal_zone"), "BR-KSA-67", "buyer postal code must be 5 digits")
	}
	if needsBuyer {
		if joinNames(p.NameAr, p.NameEn) == "" {
			v.e.add(join(path, "party_name_ar"), "BR-KSA-25", "private education or healthcare to a citizen (VATEX-SA-EDU/HEA) needs the buyer name")
		}
		if p.OtherID == nil || p.OtherID.Scheme != "NAT" {
			v.e.add(join(path, "party_add_id"), "BR-KSA-49", "private education or healthcare to a citizen (VATEX-SA-EDU/HEA) needs the buyer national ID (nat)")
		}
	}
}

func (v *validator) lines() []lineIn {
	s := v.sale
	if len(s.Lines) == 0 {
		v.e.add("lineitems", "BR-16", "a document needs at least one line item")
		return nil
	}
	if len(s.Lines) > MaxLines {
		v.e.add("lineitems", RuleLimit, fmt.Sprintf("more than %d line items in one document", MaxLines))
		return nil
	}
	out := make([]lineIn, 0, len(s.Lines))
	// One VAT breakdown per category for Z, E and O (BR-Z-08, BR-E-08,
	// BR-O-08 compare each breakdown with all lines of the category).
	firstCode := map[string]string{}
	firstOOS := ""
	for i := range s.Lines {
		l, ok := v.line(i, &s.Lines[i])
		if !ok {
			continue
		}
		p := index("lineitems", i)
		switch c := l.tax.ID; c {
		case "Z", "E":
			if first, seen := firstCode[c]; seen && first != l.tax.ExemptionCode {
				v.e.add(join(p, "tax_reason_code"), "BR-"+c+"-08",
					fmt.Sprintf("all %s lines of one document must share one exemption code (%s): ZATCA expects one VAT breakdown per category", c, first))
				continue
			}
			firstCode[c] = l.tax.ExemptionCode
		case "O":
			if firstOOS != "" && squash(firstOOS) != squash(l.tax.ExemptionReason) {
				v.e.add(join(p, "tax_reason_text"), "BR-O-08",
					"all out-of-scope (O) lines of one document must share one reason text: ZATCA expects one VAT breakdown per category")
				continue
			}
			firstOOS = l.tax.ExemptionReason
		}
		out = append(out, l)
	}
	return out
}

// line validates one line; ok is false when it has errors.
func (v *validator) line(i int, sl *SaleLine) (lineIn, bool) {
	p := index("lineitems", i)
	before := len(v.e.list)
	var l lineIn
	f := func(k string) string { return join(p, k) }

	if strings.TrimSpace(sl.NameAr) == "" {
		v.e.add(f("name_ar"), "BR-25", "item name (name_ar) is required")
	} else {
		names(&v.e, f("name_ar"), f("name_en"), sl.NameAr, sl.NameEn, "BR-KSA-F-06-C19")
	}
	l.nameAr, l.nameEn = strings.TrimSpace(sl.NameAr), strings.TrimSpace(sl.NameEn)

	// A Sale built in code rather than decoded gets the decoder's bounds too.
	for _, n := range []struct {
		key string
		d   *decimal.Decimal
	}{{"quantity", sl.Quantity}, {"tax_exclusive_price", sl.TaxExclusivePrice}, {"tax_inclusive_price", sl.TaxInclusivePrice}, {"tax_percentage", sl.TaxPercentage}} {
		if n.d != nil && !bounded(*n.d) {
			v.e.add(f(n.key), RuleType, "has too many digits")
			return l, false
		}
	}
	for j, d := range sl.Discounts {
		if d.Amount != nil && !bounded(*d.Amount) {
			v.e.add(join(index(f("discounts"), j), "amount"), RuleType, "has too many digits")
			return l, false
		}
	}

	switch q := sl.Quantity; {
	case q == nil:
		v.e.add(f("quantity"), "BR-22", "quantity is required")
	case q.IsNegative():
		v.e.add(f("quantity"), "BR-KSA-F-04", "quantity must not be negative")
	case q.IsZero():
		v.e.add(f("quantity"), "BR-22", "quantity must be greater than zero")
	default:
		l.qty = *q
	}

	switch ex, in := sl.TaxExclusivePrice, sl.TaxInclusivePrice; {
	case ex != nil && in != nil:
		v.e.add(f("tax_inclusive_price"), RulePrice, "give either tax_exclusive_price or tax_inclusive_price, not both")
	case ex == nil && in == nil:
		v.e.add(f("tax_exclusive_price"), "BR-26", "a price is required: tax_exclusive_price or tax_inclusive_price")
	case ex != nil && ex.IsNegative():
		v.e.add(f("tax_exclusive_price"), "BR-KSA-F-04", "price must not be negative")
	case in != nil && in.IsNegative():
		v.e.add(f("tax_inclusive_price"), "BR-KSA-F-04", "price must not be negative")
	case ex != nil:
		l.price = *ex
	default:
		l.price, l.inclusive = *in, true
	}

	v.taxCategory(p, sl, &l)

	var sum decimal.Decimal
	sumOK := true
	for j, d := range sl.Discounts {
		dp := index(f("discounts"), j)
		switch a := d.Amount; {
		case a == nil:
			v.e.add(join(dp, "amount"), "BR-41", "discount amount is required")
			sumOK = false
		case a.IsNegative():
			v.e.add(join(dp, "amount"), "BR-KSA-F-04", "discount amount must not be negative")
			sumOK = false
		case !a.Equal(a.Round(2)):
			v.e.add(join(dp, "amount"), "BR-DEC-24", "discount amount has more than 2 decimals")
			sumOK = false
		default:
			sum = sum.Add(*a)
		}
		requireText(&v.e, join(dp, "reason"), d.Reason, "BR-42", "discount reason is required", 1000, "BR-KSA-F-06-C36")
		if d.Amount != nil {
			l.discounts = append(l.discounts, Discount{Amount: d.Amount.Round(2), Reason: strings.TrimSpace(d.Reason)})
		}
	}
	if len(v.e.list) == before && sumOK && sum.GreaterThan(l.qty.Mul(l.price).Round(2)) {
		v.e.add(f("discounts"), "BR-KSA-F-04", "discounts exceed the line amount: the line net would be negative")
	}
	return l, len(v.e.list) == before
}

func (v *validator) taxCategory(p string, sl *SaleLine, l *lineIn) {
	f := func(k string) string { return join(p, k) }
	cat := sl.TaxCategory
	switch cat {
	case "":
		v.e.add(f("tax_category"), "BR-CO-04", "tax_category is required: S, Z, E or O")
		return
	case "S", "Z", "E", "O":
	default:
		v.e.add(f("tax_category"), "BR-KSA-18", fmt.Sprintf("tax_category %q is not S, Z, E or O", cat))
		return
	}
	l.tax.ID = cat

	// The rate: a fraction in JSON, a percentage with at most 2 decimals in
	// UBL (BR-KSA-DEC-02).
	var pct decimal.Decimal
	if r := sl.TaxPercentage; r != nil {
		pct = r.Shift(2)
		if r.IsNegative() || pct.GreaterThan(hundred) || !pct.Equal(pct.Round(2)) {
			v.e.add(f("tax_percentage"), "BR-KSA-DEC-02", "tax_percentage is a fraction from 0 to 1 with at most 4 decimals (0.15 for 15 %)")
			return
		}
	} else if cat == "S" {
		v.e.add(f("tax_percentage"), "BR-KSA-84", "tax_percentage is required for a standard-rated line: 0.15 or 0.05")
		return
	}
	switch cat {
	case "S":
		if !pct.Equal(fifteen) && !pct.Equal(five) {
			v.e.add(f("tax_percentage"), "BR-KSA-84", "standard rate must be 5% or 15%")
			return
		}
	case "Z", "E", "O":
		if !pct.IsZero() {
			rule := map[string]string{"Z": "BR-Z-05", "E": "BR-E-05", "O": "BR-KSA-11"}[cat]
			v.e.add(f("tax_percentage"), rule, fmt.Sprintf("the rate of a %s line must be 0", cat))
			return
		}
	}
	l.tax.Percent = pct.Round(2)
	l.rate = pct.Shift(-2)

	code, text := strings.TrimSpace(sl.TaxReasonCode), strings.TrimSpace(sl.TaxReasonText)
	if cat == "S" {
		if sl.TaxReasonCode != "" {
			v.e.add(f("tax_reason_code"), "BR-S-10", "a standard-rated line has no exemption reason code")
		}
		if sl.TaxReasonText != "" {
			v.e.add(f("tax_reason_text"), "BR-S-10", "a standard-rated line has no exemption reason text")
		}
		return
	}
	if code == "" {
		rule := map[string]string{"Z": "BR-KSA-69", "E": "BR-KSA-23", "O": "BR-KSA-24"}[cat]
		v.e.add(f("tax_reason_code"), rule, fmt.Sprintf("a %s line needs an exemption reason code (VATEX-SA-…)", cat))
		return
	}
	ex, known := exemptions[code]
	if !known || ex.category != cat {
		v.e.add(f("tax_reason_code"), "BR-KSA-CL-04", fmt.Sprintf("%q is not a VAT exemption reason code of category %s (XMLSTD §11.2.4)", code, cat))
		return
	}
	switch {
	case text == "" && ex.text == "":
		v.e.add(f("tax_reason_text"), "BR-KSA-83", "an out-of-scope (VATEX-SA-OOS) line needs a reason text")
		return
	case text == "":
		text = ex.text
	case ex.text != "" && !reasonMatches(ex.text, text):
		v.e.add(f("tax_reason_text"), "BR-KSA-83", fmt.Sprintf("reason text for %s must be %q (optionally with an Arabic part after \" | \")", code, ex.text))
		return
	}
	before := len(v.e.list)
	checkText(&v.e, f("tax_reason_text"), text, 1000, "BR-KSA-F-06-C16")
	if len(v.e.list) != before {
		return
	}
	l.tax.ExemptionCode, l.tax.ExemptionReason = code, text
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// names checks an Arabic/English name pair written as one UBL name
// ("ar | en", at most 1000 characters, lengthRule): each part XML-safe and
// not blank when given; an over-long result is blamed on the English part
// when there is one.
func names(e *errs, arField, enField, ar, en, lengthRule string) {
	before := len(e.list)
	optionalText(e, arField, ar, 1<<30)
	optionalText(e, enField, en, 1<<30)
	if len(e.list) != before {
		return
	}
	if n := utf8.RuneCountInString(joinNames(ar, en)); n > 1000 {
		field := arField
		if strings.TrimSpace(en) != "" {
			field = enField
		}
		e.add(field, lengthRule, fmt.Sprintf("name (Arabic | English) is %d characters long; the limit is 1000", n))
	}
}

// bounded reports whether d stays within what DecodeSale accepts, so that
// no arithmetic can blow up on a hostile value.
func bounded(d decimal.Decimal) bool {
	return d.Exponent() >= -maxFracDigit && d.Exponent() <= maxIntDigits && d.NumDigits() <= maxIntDigits+maxFracDigit
}
