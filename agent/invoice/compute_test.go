package invoice

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/ and testdata/sales/invalid/*.err")

const (
	salesDir   = "../../testdata/sales"
	sellerPath = "../../testdata/seller.json"
)

func testSeller(t testing.TB) *Seller {
	t.Helper()
	data, err := os.ReadFile(sellerPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := DecodeSeller(data)
	if err != nil {
		t.Fatalf("DecodeSeller(%s): %v", sellerPath, err)
	}
	return s
}

// computeJSON decodes and computes a sale body.
func computeJSON(t testing.TB, body string) (*Document, error) {
	t.Helper()
	s, err := DecodeSale([]byte(body))
	if err != nil {
		return nil, err
	}
	return Compute(s, testSeller(t))
}

func mustCompute(t testing.TB, body string) *Document {
	t.Helper()
	d, err := computeJSON(t, body)
	if err != nil {
		t.Fatalf("compute: %v\nbody: %s", err, body)
	}
	if v := zatcaCheck(d); len(v) > 0 {
		t.Fatalf("ZATCA checks fail:\n  %s", strings.Join(v, "\n  "))
	}
	return d
}

// oneLine builds a sale body with the given line objects (JSON snippets).
func saleBody(lines ...string) string {
	return `{"idempotency_key":"t-1","doc_type":"388","lineitems":[` + strings.Join(lines, ",") + `]}`
}

func exLine(qty, price, rate string) string {
	return fmt.Sprintf(`{"name_ar":"صنف","quantity":%q,"tax_exclusive_price":%q,"tax_percentage":%q,"tax_category":"S"}`, qty, price, rate)
}

func inLine(qty, price, rate string) string {
	return fmt.Sprintf(`{"name_ar":"صنف","quantity":%q,"tax_inclusive_price":%q,"tax_percentage":%q,"tax_category":"S"}`, qty, price, rate)
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func eq(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(dec(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// TestRoundingLines pins the per-line arithmetic, half-up at the 0.005
// boundaries (banker's rounding or float64 would give the other answer).
func TestRoundingLines(t *testing.T) {
	tests := []struct {
		name            string
		line            string
		net, vat, total string
	}{
		{"net 0.005 rounds up", exLine("1", "0.005", "0.15"), "0.01", "0.00", "0.01"},
		{"net 0.0049 rounds down", exLine("1", "0.0049", "0.15"), "0.00", "0.00", "0.00"},
		{"net 1.005 (3 × 0.335) rounds up", exLine("3", "0.335", "0.15"), "1.01", "0.15", "1.16"},
		{"net 2.675 rounds up (float64 gives 2.67)", exLine("1", "2.675", "0.15"), "2.68", "0.40", "3.08"},
		{"net 0.125 rounds up (banker's gives 0.12)", exLine("1", "0.125", "0.15"), "0.13", "0.02", "0.15"},
		{"VAT 0.015 rounds up", exLine("1", "0.10", "0.15"), "0.10", "0.02", "0.12"},
		{"VAT 0.105 rounds up", exLine("1", "0.70", "0.15"), "0.70", "0.11", "0.81"},
		{"VAT 0.1049999 rounds down", exLine("1", "0.699999", "0.15"), "0.70", "0.11", "0.81"},
		{"VAT 5% 0.055 rounds up", exLine("1", "1.10", "0.05"), "1.10", "0.06", "1.16"},
		{"VAT 5% 0.025 rounds up", exLine("1", "0.50", "0.05"), "0.50", "0.03", "0.53"},
		{"fractional quantity", exLine("1.235", "12.99", "0.15"), "16.04", "2.41", "18.45"},
		{"fractional price", exLine("40", "12.375", "0.15"), "495.00", "74.25", "569.25"},
		{"exact tiny decimals (float64 gives 0.020000000000000004)", exLine("0.1", "0.2", "0.15"), "0.02", "0.00", "0.02"},
		{"inclusive 11.50 is 10.00 + 1.50", inLine("1", "11.50", "0.15"), "10.00", "1.50", "11.50"},
		{"inclusive 10.00 is 8.70 + 1.30", inLine("1", "10.00", "0.15"), "8.70", "1.30", "10.00"},
		{"inclusive 0.99", inLine("1", "0.99", "0.15"), "0.86", "0.13", "0.99"},
		{"inclusive 3 × 10.00", inLine("3", "10.00", "0.15"), "26.09", "3.91", "30.00"},
		{"inclusive gross boundary 1.235 × 12.99 = 16.04265", inLine("1.235", "12.99", "0.15"), "13.95", "2.09", "16.04"},
		{"inclusive 5%", inLine("1", "10.50", "0.05"), "10.00", "0.50", "10.50"},
		{"inclusive net boundary 0.0575/1.15 = 0.05", inLine("1", "0.0575", "0.15"), "0.05", "0.01", "0.06"},
		{"zero price", exLine("1", "0", "0.15"), "0.00", "0.00", "0.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustCompute(t, saleBody(tt.line))
			l := d.Lines[0]
			eq(t, "net", l.Net, tt.net)
			eq(t, "VAT", l.VAT, tt.vat)
			eq(t, "total", l.Total, tt.total)
		})
	}
}

// TestRoundingDocument pins document-level VAT: per category on the
// document, not the sum of rounded line VATs.
func TestRoundingDocument(t *testing.T) {
	tests := []struct {
		name                  string
		lines                 []string
		lineExt, tax, taxIncl string
		subtotals             []string // "S/15 taxable tax"
		sumLineVAT            string
	}{
		{
			name:    "three × 0.10: category VAT 0.045 → 0.05, lines 3 × 0.02",
			lines:   []string{exLine("1", "0.10", "0.15"), exLine("1", "0.10", "0.15"), exLine("1", "0.10", "0.15")},
			lineExt: "0.30", tax: "0.05", taxIncl: "0.35",
			subtotals:  []string{"S/15.00 0.30 0.05"},
			sumLineVAT: "0.06",
		},
		{
			name:    "5% taxable 10.10: 0.505 → 0.51",
			lines:   []string{exLine("1", "10.10", "0.05")},
			lineExt: "10.10", tax: "0.51", taxIncl: "10.61",
			subtotals:  []string{"S/5.00 10.10 0.51"},
			sumLineVAT: "0.51",
		},
		{
			// The customer pays the shelf total: category VAT is the lines' VAT,
			// 0.02 from round(26.10 × 15%) = 3.92, inside BR-CO-17's 3 × 0.01.
			name:    "inclusive 3 × 10.00 on three lines: shelf 30.00, document 30.00",
			lines:   []string{inLine("1", "10.00", "0.15"), inLine("1", "10.00", "0.15"), inLine("1", "10.00", "0.15")},
			lineExt: "26.10", tax: "3.90", taxIncl: "30.00",
			subtotals:  []string{"S/15.00 26.10 3.90"},
			sumLineVAT: "3.90",
		},
		{
			name:    "two rates and zero rated, in first-use order",
			lines:   []string{exLine("2", "10.00", "0.05"), `{"name_ar":"دواء","quantity":"1","tax_exclusive_price":"7.77","tax_category":"Z","tax_reason_code":"VATEX-SA-35"}`, exLine("1", "33.33", "0.15"), exLine("1", "0.01", "0.05")},
			lineExt: "61.11", tax: "6.00", taxIncl: "67.11",
			subtotals:  []string{"S/5.00 20.01 1.00", "Z/0.00 7.77 0.00", "S/15.00 33.33 5.00"},
			sumLineVAT: "6.00",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustCompute(t, saleBody(tt.lines...))
			eq(t, "line extension", d.Totals.LineExtension, tt.lineExt)
			eq(t, "tax exclusive", d.Totals.TaxExclusive, tt.lineExt)
			eq(t, "tax", d.Totals.Tax, tt.tax)
			eq(t, "tax inclusive", d.Totals.TaxInclusive, tt.taxIncl)
			eq(t, "payable", d.Totals.Payable, tt.taxIncl)
			var got []string
			var lineVAT decimal.Decimal
			for _, st := range d.Subtotals {
				got = append(got, fmt.Sprintf("%s/%s %s %s", st.Category.ID, Percent(st.Category.Percent), Amount(st.Taxable), Amount(st.Tax)))
			}
			for _, l := range d.Lines {
				lineVAT = lineVAT.Add(l.VAT)
			}
			if strings.Join(got, "; ") != strings.Join(tt.subtotals, "; ") {
				t.Errorf("subtotals = %q, want %q", got, tt.subtotals)
			}
			eq(t, "Σ line VAT", lineVAT, tt.sumLineVAT)
		})
	}
}

// TestInclusiveNetPrice covers the three ways a VAT-inclusive line gets its
// net price so that qty × price / base reproduces the line net exactly.
func TestInclusiveNetPrice(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		price     string
		base      string // "" for none
		discounts []string
		net       string
	}{
		{"one unit: the net amount", inLine("1", "10.00", "0.15"), "8.7", "", nil, "8.70"},
		{"several units: the net unit price", inLine("3", "10.00", "0.15"), "8.6956521739", "", nil, "26.09"},
		{"terminating net unit price", inLine("2", "11.50", "0.15"), "10", "", nil, "20.00"},
		{"gross rounding breaks the unit price: base quantity", inLine("2.347", "89.95", "0.15"), "183.57", "2.347", nil, "183.57"},
		{"zero rate: the shelf price", `{"name_ar":"دواء","quantity":"3","tax_inclusive_price":"12.75","tax_category":"Z","tax_reason_code":"VATEX-SA-35"}`, "12.75", "", nil, "38.25"},
		{"discounts become VAT-exclusive steps",
			`{"name_ar":"عطر","quantity":"2","tax_inclusive_price":"23.00","tax_percentage":"0.15","tax_category":"S","discounts":[{"amount":"6.00","reason":"a"},{"amount":"0.01","reason":"b"}]}`,
			"20", "", []string{"5.22", "0.01"}, "34.77"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustCompute(t, saleBody(tt.line))
			l := d.Lines[0]
			eq(t, "price", l.Price, tt.price)
			if l.Price.String() != tt.price { // no trailing zeros from the division
				t.Errorf("price text = %s, want %s", l.Price.String(), tt.price)
			}
			switch {
			case tt.base == "" && l.BaseQuantity != nil:
				t.Errorf("base quantity = %s, want none", l.BaseQuantity)
			case tt.base != "" && (l.BaseQuantity == nil || !l.BaseQuantity.Equal(dec(tt.base))):
				t.Errorf("base quantity = %v, want %s", l.BaseQuantity, tt.base)
			}
			if len(l.Discounts) != len(tt.discounts) {
				t.Fatalf("discounts = %v, want %v", l.Discounts, tt.discounts)
			}
			for i, want := range tt.discounts {
				eq(t, "discount", l.Discounts[i].Amount, want)
			}
			eq(t, "net", l.Net, tt.net)
			if l.InclusivePrice == nil {
				t.Error("InclusivePrice not kept for the receipt")
			}
		})
	}
}

// TestSalesFixtures computes every testdata/sales/*.json, runs the ZATCA
// checks on it and compares the whole Document with its golden JSON.
func TestSalesFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(salesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("only %d sale fixtures", len(files))
	}
	seller := testSeller(t)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := DecodeSale(data)
			if err != nil {
				t.Fatalf("DecodeSale: %v", err)
			}
			d, err := Compute(s, seller)
			if err != nil {
				t.Fatalf("Compute: %v", err)
			}
			if v := zatcaCheck(d); len(v) > 0 {
				t.Fatalf("ZATCA checks fail:\n  %s", strings.Join(v, "\n  "))
			}
			if len(d.Lines) != len(s.Lines) {
				t.Fatalf("%d lines computed from %d", len(d.Lines), len(s.Lines))
			}
			got, err := json.MarshalIndent(d, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden(t, filepath.Join("testdata", "documents", name+".json"), got)
		})
	}
}

// TestInvalidFixtures checks testdata/sales/invalid/*.json against the
// errors listed (one per line) in the sibling .err file.
func TestInvalidFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(salesDir, "invalid", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no invalid fixtures")
	}
	seller := testSeller(t)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var d *Document
			s, err := DecodeSale(data)
			if err == nil {
				d, err = Compute(s, seller)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v (document %v), want a *ValidationError", err, d != nil)
			}
			if d != nil {
				t.Fatal("a Document was returned with the error")
			}
			var b strings.Builder
			for _, fe := range ve.Errors {
				b.WriteString(fe.Error())
				b.WriteByte('\n')
			}
			golden(t, strings.TrimSuffix(f, ".json")+".err", []byte(b.String()))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the computed result (go test -update to accept):\n--- got\n%s", path, got)
	}
}

// randomSale builds a valid sale of n lines mixing every category, both
// price kinds, fractional quantities and discounts.
func randomSale(r *rand.Rand, n int) string {
	var lines []string
	zCode := []string{"VATEX-SA-35", "VATEX-SA-32", "VATEX-SA-36"}[r.Intn(3)]
	eCode := []string{"VATEX-SA-29", "VATEX-SA-29-7", "VATEX-SA-30"}[r.Intn(3)]
	qtys := []string{"1", "2", "3", "7", "0.5", "0.333", "1.235", "2.347", "12.5", "0.001", "999.999"}
	for i := 0; i < n; i++ {
		qty := qtys[r.Intn(len(qtys))]
		price := fmt.Sprintf("%d.%0*d", r.Intn(500), 2+r.Intn(3), r.Intn(1000))
		if r.Intn(10) == 0 {
			price = fmt.Sprintf("0.%03d", r.Intn(1000))
		}
		priceKey := "tax_exclusive_price"
		if r.Intn(2) == 0 {
			priceKey = "tax_inclusive_price"
		}
		var tax string
		switch r.Intn(6) {
		case 0, 1:
			tax = `"tax_percentage":"0.15","tax_category":"S"`
		case 2:
			tax = `"tax_percentage":"0.05","tax_category":"S"`
		case 3:
			tax = `"tax_percentage":"0","tax_category":"Z","tax_reason_code":"` + zCode + `"`
		case 4:
			tax = `"tax_category":"E","tax_reason_code":"` + eCode + `"`
		default:
			tax = `"tax_category":"O","tax_reason_code":"VATEX-SA-OOS","tax_reason_text":"Out of scope"`
		}
		disc := ""
		if r.Intn(4) == 0 {
			gross := dec(qty).Mul(dec(price)).Round(2)
			var ds []string
			for k := 0; k < 1+r.Intn(3); k++ {
				a := gross.Mul(decimal.NewFromInt(int64(r.Intn(34)))).Div(decimal.NewFromInt(100)).Truncate(2)
				ds = append(ds, fmt.Sprintf(`{"amount":"%s","reason":"promo %d"}`, a.StringFixed(2), k))
			}
			disc = `,"discounts":[` + strings.Join(ds, ",") + `]`
		}
		lines = append(lines, fmt.Sprintf(`{"name_ar":"صنف %d","quantity":"%s","%s":"%s",%s%s}`, i, qty, priceKey, price, tax, disc))
	}
	return saleBody(lines...)
}

// TestRandomDocuments runs the ZATCA checks on many generated documents,
// including 100-line ones.
func TestRandomDocuments(t *testing.T) {
	r := rand.New(rand.NewSource(20261121))
	for i := 0; i < 300; i++ {
		n := 1 + r.Intn(12)
		if i%10 == 0 {
			n = 100
		}
		body := randomSale(r, n)
		d, err := computeJSON(t, body)
		if err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, body)
		}
		if v := zatcaCheck(d); len(v) > 0 {
			t.Fatalf("document %d fails:\n  %s\n%s", i, strings.Join(v, "\n  "), body)
		}
		if len(d.Lines) != n {
			t.Fatalf("document %d: %d lines, want %d", i, len(d.Lines), n)
		}
	}
}

// TestCheckerCatches makes sure the independent checker is not blind: each
// corruption of a valid document must be reported under its rule.
func TestCheckerCatches(t *testing.T) {
	base := func() *Document {
		return mustCompute(t, saleBody(exLine("2", "10.00", "0.15"), inLine("3", "10.00", "0.15")))
	}
	tests := []struct {
		rule    string
		corrupt func(d *Document)
	}{
		{"BR-CO-10", func(d *Document) { d.Totals.LineExtension = d.Totals.LineExtension.Add(dHundredth) }},
		{"BR-CO-13", func(d *Document) { d.Totals.TaxExclusive = d.Totals.TaxExclusive.Add(dHundredth) }},
		{"BR-CO-14", func(d *Document) { d.Totals.Tax = d.Totals.Tax.Add(dHundredth) }},
		{"BR-CO-15", func(d *Document) { d.Totals.TaxInclusive = d.Totals.TaxInclusive.Add(dHundredth) }},
		{"BR-CO-16", func(d *Document) { d.Totals.Payable = d.Totals.Payable.Add(dHundredth) }},
		{"BR-CO-17", func(d *Document) { d.Subtotals[0].Tax = d.Subtotals[0].Tax.Add(dec("0.03")) }},
		{"BR-KSA-51", func(d *Document) { d.Lines[0].Total = d.Lines[0].Total.Add(dHundredth) }},
		{"BR-KSA-EN16931-11", func(d *Document) { d.Lines[1].Price = d.Lines[1].Price.Add(dHundredth) }},
		{"BR-S-08", func(d *Document) { d.Subtotals[0].Taxable = d.Subtotals[0].Taxable.Add(dHundredth) }},
		{"BR-DEC", func(d *Document) { d.Lines[0].VAT = d.Lines[0].VAT.Add(dec("0.001")) }},
		{"BR-KSA-84", func(d *Document) { d.Lines[0].Tax.Percent = dec("10") }},
	}
	if v := zatcaCheck(base()); len(v) > 0 {
		t.Fatalf("base fails: %v", v)
	}
	for _, tt := range tests {
		d := base()
		tt.corrupt(d)
		found := false
		for _, v := range zatcaCheck(d) {
			if strings.HasPrefix(v, tt.rule+":") {
				found = true
			}
		}
		if !found {
			t.Errorf("checker missed %s: %v", tt.rule, zatcaCheck(d))
		}
	}
}

func TestDocumentHeader(t *testing.T) {
	d := mustCompute(t, `{"idempotency_key":"h","doc_type":"381","payment_means":42,"invoice_ref_number":" CN-7 ",
		"notes_details":{"related_doc_reference":"INV-1","reason_text":"Refund"},
		"lineitems":[`+exLine("1", "1", "0.15")+`]}`)
	if d.Type != TypeCreditNote || d.TransactionCode != "0200000" || d.Currency != "SAR" || d.PaymentMeans != "42" {
		t.Errorf("header = %s %s %s %s", d.Type, d.TransactionCode, d.Currency, d.PaymentMeans)
	}
	if d.RefNumber != "CN-7" || d.BillingReference != "INV-1" || d.NoteReason != "Refund" {
		t.Errorf("references = %q %q %q", d.RefNumber, d.BillingReference, d.NoteReason)
	}
	if d.Buyer != nil {
		t.Errorf("anonymous sale has buyer %+v", d.Buyer)
	}
	if d.Seller.RegistrationName == "" || d.Seller.OtherID.Scheme != "CRN" || d.Seller.Address.Country != "SA" {
		t.Errorf("seller = %+v", d.Seller)
	}
	d = mustCompute(t, `{"idempotency_key":"h","doc_type":"388","lineitems":[`+exLine("1", "1", "0.15")+`]}`)
	if d.PaymentMeans != "10" {
		t.Errorf("default payment means = %q", d.PaymentMeans)
	}
	d = mustCompute(t, `{"idempotency_key":"h","doc_type":"388","summary":true,"supply_date":"2026-11-01","supply_end_date":"2026-11-30",
		"party_details":{"party_name_ar":"خالد","party_name_en":"Khalid","city_ar":"جدة"},"lineitems":[`+exLine("1", "1", "0.15")+`]}`)
	if d.TransactionCode != "0200010" || !d.Flags.Summary {
		t.Errorf("summary code = %s", d.TransactionCode)
	}
	if d.Buyer == nil || d.Buyer.RegistrationName != "خالد | Khalid" || d.Buyer.Address.City != "جدة" || d.Buyer.Address.Country != "SA" {
		t.Errorf("buyer = %+v", d.Buyer)
	}
	if got := (TransactionFlags{ThirdParty: true, Nominal: true}).Code(); got != "0211000" {
		t.Errorf("P+N code = %s", got)
	}
}

func TestExemptionReasonFilled(t *testing.T) {
	d := mustCompute(t, saleBody(`{"name_ar":"تصدير","quantity":"1","tax_exclusive_price":"5","tax_category":"Z","tax_reason_code":"VATEX-SA-32"}`))
	if got := d.Lines[0].Tax.ExemptionReason; got != "Export of goods" {
		t.Errorf("filled reason = %q", got)
	}
	if got := d.Subtotals[0].Category.ExemptionReason; got != "Export of goods" {
		t.Errorf("subtotal reason = %q", got)
	}
	// The official text, differently spaced and cased, with an Arabic part.
	d = mustCompute(t, saleBody(`{"name_ar":"تصدير","quantity":"1","tax_exclusive_price":"5","tax_category":"Z","tax_reason_code":"VATEX-SA-32","tax_reason_text":"EXPORT  of goods | تصدير السلع"}`))
	if got := d.Lines[0].Tax.ExemptionReason; got != "EXPORT  of goods | تصدير السلع" {
		t.Errorf("kept reason = %q", got)
	}
}

func TestAmountFormat(t *testing.T) {
	for in, want := range map[string]string{"0": "0.00", "1.5": "1.50", "231.15": "231.15", "1234567.1": "1234567.10"} {
		if got := Amount(dec(in)); got != want {
			t.Errorf("Amount(%s) = %s, want %s", in, got, want)
		}
	}
	if got := Percent(dec("15")); got != "15.00" {
		t.Errorf("Percent(15) = %s", got)
	}
}

func TestComputeNil(t *testing.T) {
	if _, err := Compute(nil, testSeller(t)); !errors.Is(err, ErrNilInput) {
		t.Errorf("Compute(nil) = %v", err)
	}
}
