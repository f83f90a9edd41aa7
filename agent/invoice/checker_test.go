package invoice

import (
	"fmt"
	"regexp"

	"github.com/shopspring/decimal"
)

// This file is an independent re-implementation of what the ZATCA
// validator (SDK schematrons CEN-EN16931-UBL.xsl and
// 20210819_ZATCA_E-invoice_Validation_Rules.xsl) checks on the amounts and
// codes of a simplified document, applied to a computed Document. It uses
// its own XPath-style rounding, not the package's helpers.

var (
	dHundredth = decimal.RequireFromString("0.01")
	dHalf      = decimal.RequireFromString("0.5")
	dTiny      = decimal.RequireFromString("0.00000000001")
	dThousand  = decimal.NewFromInt(1000)
	dHundred   = decimal.NewFromInt(100)
	codeRE     = regexp.MustCompile(`^02[01][01]0[01]0$`)
)

// xround is XPath round(x * 10^p) div 10^p: floor(x*10^p + 0.5) / 10^p.
func xround(x decimal.Decimal, p int32) decimal.Decimal {
	scale := decimal.New(1, p)
	return x.Mul(scale).Add(dHalf).Floor().Div(scale)
}

// en16931_11 evaluates BR-KSA-EN16931-11 exactly as the schematron test:
// LineExtensionAmount = round((floor(qty*price*1000) div 10 + 1e-11) div 100
// + Σ charges − Σ allowances, 2), accepted at ±0.01. div is xs:decimal
// division, emulated with 18 fractional digits.
func en16931_11(l *Line) bool {
	unit := l.Price
	if l.BaseQuantity != nil {
		unit = l.Price.DivRound(*l.BaseQuantity, 18)
	}
	x := l.Quantity.Mul(unit)
	v := x.Mul(dThousand).Floor().Mul(decimal.RequireFromString("0.1")).Add(dTiny).Mul(dHundredth)
	for _, d := range l.Discounts {
		v = v.Sub(d.Amount)
	}
	r := xround(v, 2)
	return l.Net.Equal(r) || l.Net.Equal(r.Add(dHundredth)) || l.Net.Equal(r.Sub(dHundredth))
}

// zatcaCheck returns every rule the ZATCA validator would raise on d (as
// "RULE: detail"); empty means the document passes.
func zatcaCheck(d *Document) []string {
	var out []string
	bad := func(rule, format string, args ...any) {
		out = append(out, rule+": "+fmt.Sprintf(format, args...))
	}
	money := func(where string, x decimal.Decimal) {
		if !x.Equal(x.Truncate(2)) {
			bad("BR-DEC", "%s %s has more than 2 decimals", where, x)
		}
		if x.IsNegative() {
			bad("BR-KSA-F-04", "%s %s is negative", where, x)
		}
	}

	switch d.Type {
	case TypeInvoice, TypeCreditNote, TypeDebitNote:
	default:
		bad("BR-KSA-05", "type %q", d.Type)
	}
	if !codeRE.MatchString(d.TransactionCode) || d.TransactionCode != d.Flags.Code() {
		bad("BR-KSA-06/31", "transaction code %q", d.TransactionCode)
	}
	if d.Currency != "SAR" {
		bad("BR-KSA-EN16931-02", "currency %q", d.Currency)
	}
	if !map[string]bool{"10": true, "30": true, "42": true, "48": true, "1": true}[d.PaymentMeans] {
		bad("BR-KSA-16", "payment means %q", d.PaymentMeans)
	}
	if d.Type.IsNote() {
		if d.NoteReason == "" {
			bad("BR-KSA-17", "note without reason")
		}
		if d.BillingReference == "" {
			bad("BR-KSA-56", "note without billing reference")
		}
	}
	if d.Flags.Summary {
		if d.SupplyDate == "" || d.SupplyEndDate == "" {
			bad("BR-KSA-72", "summary without supply dates")
		}
		if d.Buyer == nil || d.Buyer.RegistrationName == "" {
			bad("BR-KSA-71", "summary without buyer name")
		}
	}
	if d.SupplyEndDate != "" && d.SupplyDate != "" && d.SupplyEndDate < d.SupplyDate {
		bad("BR-KSA-36", "end %s before start %s", d.SupplyEndDate, d.SupplyDate)
	}
	vatRE := regexp.MustCompile(`^3[0-9]{13}3$`)
	if !vatRE.MatchString(d.Seller.VATNumber) {
		bad("BR-KSA-40", "seller VAT %q", d.Seller.VATNumber)
	}
	if d.Seller.OtherID == nil || !regexp.MustCompile(`^[a-zA-Z0-9]+$`).MatchString(d.Seller.OtherID.Value) {
		bad("BR-KSA-08", "seller other ID")
	}
	if !regexp.MustCompile(`^[0-9]{4}$`).MatchString(d.Seller.Address.Building) {
		bad("BR-KSA-37", "building %q", d.Seller.Address.Building)
	}
	if !regexp.MustCompile(`^[0-9]{5}$`).MatchString(d.Seller.Address.PostalZone) {
		bad("BR-KSA-66", "postal %q", d.Seller.Address.PostalZone)
	}
	if d.Buyer != nil && d.Buyer.VATNumber != "" {
		if !vatRE.MatchString(d.Buyer.VATNumber) {
			bad("BR-KSA-44", "buyer VAT %q", d.Buyer.VATNumber)
		}
		if d.Buyer.VATNumber == d.Seller.VATNumber {
			bad("BR-CUSTOM-VALIDATION-01", "buyer VAT equals seller VAT")
		}
	}

	if len(d.Lines) == 0 {
		bad("BR-16", "no lines")
	}
	tolerance := dHundredth.Mul(decimal.NewFromInt(int64(len(d.Lines))))
	netByCat := map[string]decimal.Decimal{}
	var sumNet, sumLineVAT decimal.Decimal
	eduHea := false
	for i := range d.Lines {
		l := &d.Lines[i]
		w := "line " + l.ID
		money(w+" net", l.Net)
		money(w+" VAT", l.VAT)
		money(w+" rounding amount", l.Total)
		for _, disc := range l.Discounts {
			money(w+" allowance", disc.Amount)
			if disc.Reason == "" {
				bad("BR-42", "%s allowance without reason", w)
			}
		}
		if !l.Quantity.IsPositive() {
			bad("BR-22", "%s quantity %s", w, l.Quantity)
		}
		if l.Price.IsNegative() {
			bad("BR-KSA-F-04", "%s price %s", w, l.Price)
		}
		if l.BaseQuantity != nil && !l.BaseQuantity.IsPositive() {
			bad("BR-KSA-EN16931-12", "%s base quantity %s", w, l.BaseQuantity)
		}
		if l.Name == "" {
			bad("BR-25", "%s without name", w)
		}
		// BR-KSA-51: format-number(RoundingAmount,'#.00') =
		// format-number(round((TaxAmount + LineExtensionAmount) * 100) div 100, '#.00')
		if !l.Total.Equal(xround(l.VAT.Add(l.Net), 2)) {
			bad("BR-KSA-51", "%s rounding amount %s != net %s + VAT %s", w, l.Total, l.Net, l.VAT)
		}
		if !en16931_11(l) {
			bad("BR-KSA-EN16931-11", "%s net %s vs qty %s × price %s / base %v − allowances", w, l.Net, l.Quantity, l.Price, l.BaseQuantity)
		}
		checkCategory(bad, w, l.Tax)
		if l.Tax.ExemptionCode == "VATEX-SA-EDU" || l.Tax.ExemptionCode == "VATEX-SA-HEA" {
			eduHea = true
		}
		sumNet = sumNet.Add(l.Net)
		sumLineVAT = sumLineVAT.Add(l.VAT)
		netByCat[l.Tax.ID] = netByCat[l.Tax.ID].Add(l.Net)
	}
	if eduHea {
		if d.Buyer == nil || d.Buyer.RegistrationName == "" {
			bad("BR-KSA-25", "EDU/HEA without buyer name")
		}
		if d.Buyer == nil || d.Buyer.OtherID == nil || d.Buyer.OtherID.Scheme != "NAT" {
			bad("BR-KSA-49", "EDU/HEA without NAT buyer ID")
		}
	}

	if len(d.Subtotals) == 0 {
		bad("BR-CO-18", "no VAT breakdown")
	}
	var sumTax decimal.Decimal
	taxableByCat := map[string]decimal.Decimal{}
	inclusiveCat := map[string]bool{} // categories with VAT-inclusive lines
	for _, l := range d.Lines {
		if l.InclusivePrice != nil {
			inclusiveCat[l.Tax.ID+"/"+l.Tax.Percent.String()] = true
		}
	}
	for _, st := range d.Subtotals {
		w := "subtotal " + st.Category.ID + "/" + st.Category.Percent.String()
		money(w+" taxable", st.Taxable)
		money(w+" tax", st.Tax)
		checkCategory(bad, w, st.Category)
		shouldBe := xround(st.Taxable.Mul(st.Category.Percent).Div(dHundred), 2)
		if st.Category.ID == "S" {
			if st.Tax.Sub(shouldBe).Abs().GreaterThan(tolerance) {
				bad("BR-CO-17", "%s tax %s, taxable × rate = %s", w, st.Tax, shouldBe)
			}
			// What Compute promises, stricter than ZATCA: exact for VAT-exclusive
			// categories; with shelf prices the customer pays the shelf total and
			// ZATCA's tolerance above is the rule.
			if !inclusiveCat[st.Category.ID+"/"+st.Category.Percent.String()] && !st.Tax.Equal(shouldBe) {
				bad("BR-CO-17/exact", "%s tax %s, taxable × rate = %s", w, st.Tax, shouldBe)
			}
		} else {
			if !st.Tax.IsZero() {
				bad("BR-"+st.Category.ID+"-09", "%s tax %s", w, st.Tax)
			}
			// BR-Z-08/E-08/O-08 compare each breakdown with all lines of the category.
			if !st.Taxable.Equal(netByCat[st.Category.ID]) {
				bad("BR-"+st.Category.ID+"-08", "%s taxable %s, lines %s", w, st.Taxable, netByCat[st.Category.ID])
			}
		}
		sumTax = sumTax.Add(st.Tax)
		taxableByCat[st.Category.ID] = taxableByCat[st.Category.ID].Add(st.Taxable)
	}
	for cat, net := range netByCat {
		if !taxableByCat[cat].Equal(net) {
			bad("BR-"+cat+"-08", "Σ taxable %s, Σ line nets %s", taxableByCat[cat], net)
		}
	}

	t := d.Totals
	money("line extension", t.LineExtension)
	money("tax exclusive", t.TaxExclusive)
	money("tax", t.Tax)
	money("tax inclusive", t.TaxInclusive)
	money("payable", t.Payable)
	var allowance decimal.Decimal
	if t.AllowanceTotal != nil {
		allowance = *t.AllowanceTotal
		money("allowance total", allowance)
	}
	if !t.LineExtension.Equal(xround(sumNet, 2)) {
		bad("BR-CO-10", "line extension %s, Σ line nets %s", t.LineExtension, sumNet)
	}
	if !t.TaxExclusive.Equal(xround(t.LineExtension.Sub(allowance), 2)) {
		bad("BR-CO-13", "tax exclusive %s", t.TaxExclusive)
	}
	if !t.Tax.Equal(xround(sumTax, 2)) {
		bad("BR-CO-14", "tax %s, Σ subtotals %s", t.Tax, sumTax)
	}
	if !t.TaxInclusive.Equal(xround(t.TaxExclusive.Add(sumTax), 2)) {
		bad("BR-CO-15", "tax inclusive %s, exclusive %s + tax %s", t.TaxInclusive, t.TaxExclusive, sumTax)
	}
	if !t.Payable.Equal(xround(t.TaxInclusive, 2)) {
		bad("BR-CO-16", "payable %s, tax inclusive %s", t.Payable, t.TaxInclusive)
	}
	// The line VATs (rounded per line, or gross − net for VAT-inclusive
	// prices) stay within the BR-CO-17 tolerance of the document VAT.
	if sumLineVAT.Sub(t.Tax).Abs().GreaterThan(tolerance) {
		bad("BR-CO-17/lines", "Σ line VAT %s vs document VAT %s beyond %s", sumLineVAT, t.Tax, tolerance)
	}
	return out
}

func checkCategory(bad func(string, string, ...any), w string, c TaxCategory) {
	p := c.Percent
	if p.IsNegative() || p.GreaterThan(dHundred) || !p.Equal(p.Truncate(2)) {
		bad("BR-KSA-DEC-02", "%s percent %s", w, p)
	}
	switch c.ID {
	case "S":
		if !p.Equal(decimal.NewFromInt(15)) && !p.Equal(decimal.NewFromInt(5)) {
			bad("BR-KSA-84", "%s percent %s", w, p)
		}
		if c.ExemptionCode != "" || c.ExemptionReason != "" {
			bad("BR-S-10", "%s has an exemption", w)
		}
	case "Z", "E", "O":
		if !p.IsZero() {
			bad("BR-"+c.ID+"-05", "%s percent %s", w, p)
		}
		ex, ok := map[string]string{
			"VATEX-SA-29": "E", "VATEX-SA-29-7": "E", "VATEX-SA-30": "E",
			"VATEX-SA-32": "Z", "VATEX-SA-33": "Z", "VATEX-SA-34-1": "Z", "VATEX-SA-34-2": "Z",
			"VATEX-SA-34-3": "Z", "VATEX-SA-34-4": "Z", "VATEX-SA-34-5": "Z", "VATEX-SA-35": "Z",
			"VATEX-SA-36": "Z", "VATEX-SA-EDU": "Z", "VATEX-SA-HEA": "Z", "VATEX-SA-MLTRY": "Z",
			"VATEX-SA-OOS": "O",
		}[c.ExemptionCode]
		if !ok || ex != c.ID {
			bad("BR-KSA-CL-04", "%s code %q", w, c.ExemptionCode)
		}
		if c.ExemptionReason == "" {
			bad("BR-KSA-83", "%s without reason text", w)
		}
	default:
		bad("BR-KSA-18", "%s category %q", w, c.ID)
	}
}
