package invoice

import (
	"github.com/shopspring/decimal"
)

// Limits of a sale body. The socket API caps the body at the same size.
const (
	MaxSaleSize = 1 << 20 // bytes of sale JSON
	MaxLines    = 1000    // line items per document
)

// Sale is a POS sale as decoded from JSON, before validation. Field names in
// JSON follow the Flick e-invoice API. Amounts are exact decimals; a nil
// pointer means the field was absent (or JSON null).
type Sale struct {
	IdempotencyKey   string     // idempotency_key: 1–128 visible ASCII characters
	DocType          DocType    // doc_type: "388", "381" or "383" (string or number)
	InvoiceRefNumber string     // invoice_ref_number: optional, the POS's own number (cbc:ID)
	PaymentMeans     string     // payment_means: "10", "30", "42", "48" or "1"; "" means 10
	SupplyDate       string     // supply_date: YYYY-MM-DD, optional (failure-period sales)
	SupplyEndDate    string     // supply_end_date: YYYY-MM-DD, summary invoices
	Summary          bool       // summary: a summary invoice (KSA-2 flag S)
	Party            *SaleParty // party_details: the buyer, optional
	Notes            *SaleNotes // notes_details: required for 381/383, forbidden for 388
	Lines            []SaleLine // lineitems
}

// SaleParty is party_details: the buyer of a simplified document.
type SaleParty struct {
	NameAr            string   // party_name_ar
	NameEn            string   // party_name_en
	VATNumber         string   // party_vat
	OtherID           *PartyID // party_add_id {scheme: value}; scheme upper-cased (NAT, CRN, …)
	CityAr            string   // city_ar
	CitySubdivisionAr string   // city_subdivision_ar
	StreetAr          string   // street_ar
	Building          string   // building
	PostalZone        string   // postal_zone
}

// SaleNotes is notes_details of a credit or debit note.
type SaleNotes struct {
	RelatedDocReference string // related_doc_reference: the original invoice number(s)
	ReasonText          string // reason_text: why the note is issued (KSA-10)
	RelatedDocIssueDate string // related_doc_issue_date: YYYY-MM-DD of the original, optional
	RelatedDocEGS       string // related_doc_egs: the EGS (terminal) that issued the original, optional
}

// SaleLine is one of lineitems.
type SaleLine struct {
	NameAr            string           // name_ar (required)
	NameEn            string           // name_en
	Quantity          *decimal.Decimal // quantity
	TaxExclusivePrice *decimal.Decimal // tax_exclusive_price: unit price without VAT
	TaxInclusivePrice *decimal.Decimal // tax_inclusive_price: shelf price with VAT
	TaxPercentage     *decimal.Decimal // tax_percentage: a fraction, 0.15 for 15 %
	TaxCategory       string           // tax_category: S, Z, E or O
	TaxReasonCode     string           // tax_reason_code: VATEX-SA-* for Z, E, O
	TaxReasonText     string           // tax_reason_text: filled from the code list when omitted
	Discounts         []SaleDiscount   // discounts
}

// SaleDiscount is a line discount: the amount (on the same VAT basis as the
// line's price: VAT-exclusive for tax_exclusive_price, VAT-inclusive for
// tax_inclusive_price) and its reason.
type SaleDiscount struct {
	Amount *decimal.Decimal // amount
	Reason string           // reason
}

// partyIDSchemes are the accepted keys of party_add_id (BR-KSA-14).
var partyIDSchemes = []string{"nat", "crn", "mom", "mls", "700", "sag", "gcc", "iqa", "tin", "pas", "oth"}

// DecodeSale parses a POS sale strictly: the body is at most MaxSaleSize
// bytes of UTF-8 JSON holding one object; unknown fields, duplicate keys,
// wrong types and trailing data are refused, each failure naming its JSON
// path. Amounts and quantities are JSON strings or numbers parsed exactly.
// Business rules are checked by Compute. Failures are a *ValidationError.
func DecodeSale(data []byte) (*Sale, error) {
	root, err := parseJSON(data, MaxSaleSize)
	if err != nil {
		return nil, err
	}
	var w walker
	s := &Sale{}
	if !w.object(root, "", "idempotency_key", "doc_type", "invoice_ref_number", "payment_means",
		"supply_date", "supply_end_date", "summary", "party_details", "notes_details", "lineitems") {
		return nil, w.e.err()
	}
	s.IdempotencyKey, _ = w.text(root, "", "idempotency_key")
	dt, _ := w.code(root, "", "doc_type")
	s.DocType = DocType(dt)
	s.InvoiceRefNumber, _ = w.text(root, "", "invoice_ref_number")
	s.PaymentMeans, _ = w.code(root, "", "payment_means")
	s.SupplyDate, _ = w.text(root, "", "supply_date")
	s.SupplyEndDate, _ = w.text(root, "", "supply_end_date")
	s.Summary = w.boolean(root, "", "summary")

	if n := root.get("party_details"); present(n) {
		s.Party = w.party(n, "party_details")
	}
	if n := root.get("notes_details"); present(n) {
		const path = "notes_details"
		if w.object(n, path, "related_doc_reference", "reason_text", "related_doc_issue_date", "related_doc_egs") {
			notes := &SaleNotes{}
			notes.RelatedDocReference, _ = w.text(n, path, "related_doc_reference")
			notes.ReasonText, _ = w.text(n, path, "reason_text")
			notes.RelatedDocIssueDate, _ = w.text(n, path, "related_doc_issue_date")
			notes.RelatedDocEGS, _ = w.text(n, path, "related_doc_egs")
			s.Notes = notes
		}
	}
	if n := root.get("lineitems"); present(n) {
		const path = "lineitems"
		switch {
		case n.kind != jArray:
			w.e.add(path, RuleType, "must be an array, not "+n.kind.String())
		case len(n.elems) > MaxLines:
			w.e.add(path, RuleLimit, "more than 1000 line items in one document")
		default:
			s.Lines = make([]SaleLine, 0, len(n.elems))
			for i, ln := range n.elems {
				s.Lines = append(s.Lines, w.line(ln, index(path, i)))
			}
		}
	}
	if err := w.e.err(); err != nil {
		return nil, err
	}
	return s, nil
}

func (w *walker) party(n *jnode, path string) *SaleParty {
	if !w.object(n, path, "party_name_ar", "party_name_en", "party_vat", "party_add_id",
		"city_ar", "city_subdivision_ar", "street_ar", "building", "postal_zone") {
		return nil
	}
	p := &SaleParty{}
	p.NameAr, _ = w.text(n, path, "party_name_ar")
	p.NameEn, _ = w.text(n, path, "party_name_en")
	p.VATNumber, _ = w.text(n, path, "party_vat")
	p.CityAr, _ = w.text(n, path, "city_ar")
	p.CitySubdivisionAr, _ = w.text(n, path, "city_subdivision_ar")
	p.StreetAr, _ = w.text(n, path, "street_ar")
	p.Building, _ = w.code(n, path, "building")
	p.PostalZone, _ = w.code(n, path, "postal_zone")
	if id := n.get("party_add_id"); present(id) {
		idPath := join(path, "party_add_id")
		if w.object(id, idPath, partyIDSchemes...) {
			switch len(id.keys) {
			case 0:
				w.e.add(idPath, "BR-KSA-14", "buyer identification needs one scheme key (nat, crn, mom, mls, 700, sag, gcc, iqa, tin, pas or oth)")
			case 1:
				if v, ok := w.code(id, idPath, id.keys[0]); ok {
					p.OtherID = &PartyID{Scheme: upperASCII(id.keys[0]), Value: v}
				}
			default:
				w.e.add(idPath, "BR-KSA-14", "buyer identification must exist only once: give exactly one scheme")
			}
		}
	}
	return p
}

func (w *walker) line(n *jnode, path string) SaleLine {
	var l SaleLine
	if !w.object(n, path, "name_ar", "name_en", "quantity", "tax_exclusive_price", "tax_inclusive_price",
		"tax_percentage", "tax_category", "tax_reason_code", "tax_reason_text", "discounts") {
		return l
	}
	l.NameAr, _ = w.text(n, path, "name_ar")
	l.NameEn, _ = w.text(n, path, "name_en")
	l.Quantity = w.number(n, path, "quantity")
	l.TaxExclusivePrice = w.number(n, path, "tax_exclusive_price")
	l.TaxInclusivePrice = w.number(n, path, "tax_inclusive_price")
	l.TaxPercentage = w.number(n, path, "tax_percentage")
	l.TaxCategory, _ = w.text(n, path, "tax_category")
	l.TaxReasonCode, _ = w.text(n, path, "tax_reason_code")
	l.TaxReasonText, _ = w.text(n, path, "tax_reason_text")
	if d := n.get("discounts"); present(d) {
		dPath := join(path, "discounts")
		if d.kind != jArray {
			w.e.add(dPath, RuleType, "must be an array, not "+d.kind.String())
		} else {
			for i, dn := range d.elems {
				p := index(dPath, i)
				if !w.object(dn, p, "amount", "reason") {
					continue
				}
				var disc SaleDiscount
				disc.Amount = w.number(dn, p, "amount")
				disc.Reason, _ = w.text(dn, p, "reason")
				l.Discounts = append(l.Discounts, disc)
			}
		}
	}
	return l
}

func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
