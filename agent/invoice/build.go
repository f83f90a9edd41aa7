package invoice

import (
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// round2 rounds half-up to 2 decimals (amounts here are never negative, so
// decimal's half-away-from-zero is half-up).
func round2(d decimal.Decimal) decimal.Decimal { return d.Round(2) }

// build computes the Document of a validated sale.
func build(s *Sale, seller *Seller, in []lineIn) *Document {
	d := &Document{
		Type:          s.DocType,
		Flags:         TransactionFlags{Summary: s.Summary},
		RefNumber:     strings.TrimSpace(s.InvoiceRefNumber),
		Currency:      CurrencySAR,
		PaymentMeans:  s.PaymentMeans,
		SupplyDate:    s.SupplyDate,
		SupplyEndDate: s.SupplyEndDate,
		Seller:        seller.party(),
		Buyer:         buyer(s.Party),
	}
	d.TransactionCode = d.Flags.Code()
	if d.PaymentMeans == "" {
		d.PaymentMeans = "10"
	}
	if s.DocType.IsNote() && s.Notes != nil {
		d.BillingReference = strings.TrimSpace(s.Notes.RelatedDocReference)
		d.NoteReason = strings.TrimSpace(s.Notes.ReasonText)
	}

	d.Lines = make([]Line, len(in))
	for i := range in {
		d.Lines[i] = computeLine(i+1, &in[i])
	}
	d.Subtotals = subtotals(d.Lines)

	var t Totals
	for i := range d.Lines {
		t.LineExtension = t.LineExtension.Add(d.Lines[i].Net)
	}
	for _, st := range d.Subtotals {
		t.Tax = t.Tax.Add(st.Tax)
	}
	t.TaxExclusive = t.LineExtension
	t.TaxInclusive = t.TaxExclusive.Add(t.Tax)
	t.Payable = t.TaxInclusive
	d.Totals = t
	return d
}

// computeLine applies SPEC §3.2 to one line.
func computeLine(n int, l *lineIn) Line {
	out := Line{
		ID:       strconv.Itoa(n),
		Name:     joinNames(l.nameAr, l.nameEn),
		NameAr:   l.nameAr,
		NameEn:   l.nameEn,
		Quantity: l.qty,
		UnitCode: UnitPiece,
		Tax:      l.tax,
	}
	if !l.inclusive {
		var disc decimal.Decimal
		for _, d := range l.discounts {
			disc = disc.Add(d.Amount)
		}
		out.Price = l.price
		out.Discounts = append([]Discount(nil), l.discounts...)
		out.Net = round2(l.qty.Mul(l.price)).Sub(disc)
		out.VAT = round2(out.Net.Mul(l.rate))
		out.Total = out.Net.Add(out.VAT)
		return out
	}

	// VAT-inclusive shelf price: the customer pays gross; net and VAT are
	// split per line, net = round(gross / (1 + r), 2), VAT = gross − net.
	factor := one.Add(l.rate)
	g := round2(l.qty.Mul(l.price)) // gross before discounts
	netBefore := g.DivRound(factor, 2)
	// Discounts are VAT-inclusive as entered; their VAT-exclusive amounts are
	// the steps of the cumulative net reduction, so they are never negative
	// and add up exactly to netBefore − net.
	remaining, prev := g, decimal.Zero
	for _, d := range l.discounts {
		remaining = remaining.Sub(d.Amount)
		cum := netBefore.Sub(remaining.DivRound(factor, 2))
		out.Discounts = append(out.Discounts, Discount{Amount: cum.Sub(prev), Reason: d.Reason})
		prev = cum
	}
	out.Net = remaining.DivRound(factor, 2)
	out.VAT = remaining.Sub(out.Net)
	out.Total = remaining
	shelf := l.price
	out.InclusivePrice = &shelf
	out.Price, out.BaseQuantity = inclusiveNetPrice(l.qty, l.price, factor, netBefore)
	return out
}

// inclusiveNetPrice picks the net price written for a VAT-inclusive line so
// that round(qty × Price / BaseQuantity, 2) equals netBefore exactly
// (BR-KSA-EN16931-11): the net line amount itself for one unit; otherwise
// the net unit price to 10 decimals when it reproduces netBefore; otherwise
// netBefore for a base quantity of qty.
func inclusiveNetPrice(qty, gross, factor, netBefore decimal.Decimal) (decimal.Decimal, *decimal.Decimal) {
	if qty.Equal(one) {
		return netBefore, nil
	}
	p := gross.DivRound(factor, 10)
	if round2(qty.Mul(p)).Equal(netBefore) {
		return decimal.RequireFromString(p.String()), nil
	}
	base := qty
	return netBefore, &base
}

// subtotals groups line nets per VAT category and rate, in first-use order,
// and computes each category's VAT.
//
// Lines with VAT-exclusive prices contribute their nets, and the category VAT
// on them is rounded once on the document level (XMLSTD §10). Lines with
// VAT-inclusive shelf prices contribute their own VAT (gross − net), so the
// customer pays exactly the shelf total: the difference from
// round(taxable × rate) is at most 0.00575 per such line, inside BR-CO-17's
// tolerance of 0.01 per line (SPEC §3.2: "absorb differences within the
// tolerances").
func subtotals(lines []Line) []TaxSubtotal {
	var out []TaxSubtotal
	var exclusive, inclusiveVAT []decimal.Decimal
	for i := range lines {
		l := &lines[i]
		j := 0
		for j < len(out) && (out[j].Category.ID != l.Tax.ID || !out[j].Category.Percent.Equal(l.Tax.Percent)) {
			j++
		}
		if j == len(out) {
			out = append(out, TaxSubtotal{Category: l.Tax})
			exclusive = append(exclusive, decimal.Zero)
			inclusiveVAT = append(inclusiveVAT, decimal.Zero)
		}
		out[j].Taxable = out[j].Taxable.Add(l.Net)
		if l.InclusivePrice != nil {
			inclusiveVAT[j] = inclusiveVAT[j].Add(l.VAT)
		} else {
			exclusive[j] = exclusive[j].Add(l.Net)
		}
	}
	for j := range out {
		// taxable × percent / 100, rounded half-up once, on the document
		out[j].Tax = round2(exclusive[j].Mul(out[j].Category.Percent).Shift(-2)).Add(inclusiveVAT[j])
	}
	return out
}

// buyer maps party_details to the AccountingCustomerParty; nil when empty.
func buyer(p *SaleParty) *Party {
	if p == nil {
		return nil
	}
	b := Party{
		RegistrationName: joinNames(p.NameAr, p.NameEn),
		VATNumber:        p.VATNumber,
		Address: Address{
			Street:     strings.TrimSpace(p.StreetAr),
			Building:   strings.TrimSpace(p.Building),
			District:   strings.TrimSpace(p.CitySubdivisionAr),
			City:       strings.TrimSpace(p.CityAr),
			PostalZone: p.PostalZone,
		},
	}
	if p.OtherID != nil {
		id := *p.OtherID
		b.OtherID = &id
	}
	if !b.Address.IsZero() {
		b.Address.Country = CountrySA
	}
	if b.RegistrationName == "" && b.VATNumber == "" && b.OtherID == nil && b.Address.IsZero() {
		return nil
	}
	return &b
}
