package ubl

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/posagent/posagent/agent/invoice"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func decp(s string) *decimal.Decimal { d := dec(s); return &d }

// initialPIH is the PIH of an EGS's first document (SDK Data/PIH/pih.txt).
const initialPIH = "NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ=="

func testSeller() invoice.Party {
	return invoice.Party{
		RegistrationName: "شركة توريد التكنولوجيا بأقصى سرعة المحدودة | Maximum Speed Tech Supply LTD",
		VATNumber:        "399999999900003",
		OtherID:          &invoice.PartyID{Scheme: "CRN", Value: "1010010000"},
		Address: invoice.Address{
			Street: "الامير سلطان | Prince Sultan", Building: "2322", District: "المربع | Al-Murabba",
			City: "الرياض | Riyadh", PostalZone: "23333", Country: "SA",
		},
	}
}

var (
	s15 = invoice.TaxCategory{ID: "S", Percent: dec("15")}
	z35 = invoice.TaxCategory{ID: "Z", Percent: dec("0"), ExemptionCode: "VATEX-SA-35",
		ExemptionReason: "Medicines and medical equipment | الأدوية والمعدات الطبية"}
)

// fixtureInvoice is a fixed simplified invoice whose numbers are worked out
// by hand with ZATCA's half-up rounding: a standard-rated line, a zero-rated
// line, and a line with a fractional quantity, an exact 3-decimal price, a
// discount and XML special characters.
//
//	line 1: 3 × 34.00 = 102.00, VAT 15.30
//	line 2: 2 × 45.50 = 91.00 (Z), VAT 0.00
//	line 3: round(1.5 × 10.333) = 15.50 − 1.00 = 14.50, VAT round(2.175) = 2.18
//	S 15 %: 116.50 → 17.475 → 17.48; totals 207.50 + 17.48 = 224.98
func fixtureInvoice() *invoice.Document {
	return &invoice.Document{
		Type:            invoice.TypeInvoice,
		TransactionCode: "0200000",
		Currency:        "SAR",
		PaymentMeans:    "10",
		Seller:          testSeller(),
		Lines: []invoice.Line{
			{ID: "1", Name: "قلم | Pen", Quantity: dec("3"), UnitCode: "PCE", Price: dec("34"),
				Tax: s15, Net: dec("102.00"), VAT: dec("15.30"), Total: dec("117.30")},
			{ID: "2", Name: "دواء | Medicine", Quantity: dec("2"), UnitCode: "PCE", Price: dec("45.5"),
				Tax: z35, Net: dec("91.00"), VAT: dec("0.00"), Total: dec("91.00")},
			{ID: "3", Name: `كتاب | Book <"A&B"> 'x'`, Quantity: dec("1.5"), UnitCode: "PCE", Price: dec("10.333"),
				Discounts: []invoice.Discount{{Amount: dec("1.00"), Reason: "Loyalty & promo"}},
				Tax:       s15, Net: dec("14.50"), VAT: dec("2.18"), Total: dec("16.68")},
		},
		Subtotals: []invoice.TaxSubtotal{
			{Category: s15, Taxable: dec("116.50"), Tax: dec("17.48")},
			{Category: z35, Taxable: dec("91.00"), Tax: dec("0.00")},
		},
		Totals: invoice.Totals{
			LineExtension: dec("207.50"), TaxExclusive: dec("207.50"), Tax: dec("17.48"),
			TaxInclusive: dec("224.98"), Payable: dec("224.98"),
		},
	}
}

// fixtureNote is a credit (381) or debit (383) note with a buyer.
func fixtureNote(t invoice.DocType) *invoice.Document {
	return &invoice.Document{
		Type:             t,
		TransactionCode:  "0200000",
		Currency:         "SAR",
		PaymentMeans:     "10",
		BillingReference: "INV-0001",
		NoteReason:       "Returned goods | إرجاع بضاعة",
		SupplyDate:       "2024-03-14",
		Seller:           testSeller(),
		Buyer: &invoice.Party{
			RegistrationName: "شركة نماذج فاتورة المحدودة | Fatoora Samples LTD",
			VATNumber:        "399999999800003",
			Address:          invoice.Address{City: "الرياض | Riyadh", Country: "SA"},
		},
		Lines: []invoice.Line{
			{ID: "1", Name: "قلم | Pen", Quantity: dec("1"), UnitCode: "PCE", Price: dec("34.00"),
				BaseQuantity: decp("1"), Tax: s15, Net: dec("34.00"), VAT: dec("5.10"), Total: dec("39.10")},
		},
		Subtotals: []invoice.TaxSubtotal{{Category: s15, Taxable: dec("34.00"), Tax: dec("5.10")}},
		Totals: invoice.Totals{
			LineExtension: dec("34.00"), AllowanceTotal: decp("0"), TaxExclusive: dec("34.00"), Tax: dec("5.10"),
			TaxInclusive: dec("39.10"), Payable: dec("39.10"),
		},
	}
}

func fixtureHeader(icv uint64) Header {
	return Header{
		IRN:    "INV-000" + string(rune('0'+icv)),
		UUID:   "3cf5ee18-ee25-44ea-a444-2c37ba7f28b" + string(rune('0'+icv)),
		ICV:    icv,
		PIH:    initialPIH,
		Issued: time.Date(2024, 3, 14, 21, 30, 5, 0, time.UTC), // 2024-03-15 00:30:05 in Riyadh
	}
}

// signingTime is fixed so the signed golden files are reproducible
// (secp256k1 signatures are RFC 6979 deterministic).
var signingTime = time.Date(2024, 3, 15, 0, 30, 6, 0, KSA)

var fixtures = []struct {
	name string
	doc  func() *invoice.Document
}{
	{"invoice", fixtureInvoice},
	{"credit-note", func() *invoice.Document { return fixtureNote(invoice.TypeCreditNote) }},
	{"debit-note", func() *invoice.Document { return fixtureNote(invoice.TypeDebitNote) }},
}

// TestBuildGolden builds, signs and verifies the fixtures; the unsigned and
// signed documents are golden files and the signed ones pass the UBL XSD.
func TestBuildGolden(t *testing.T) {
	key, crt := sdkKeyAndCert(t)
	dir := t.TempDir()
	var signedPaths []string
	for i, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			h := fixtureHeader(uint64(i + 1))
			unsigned, err := Build(fx.doc(), h)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "build/"+fx.name+".unsigned.xml", unsigned)
			if !bytes.Contains(unsigned, []byte("<cbc:IssueDate>2024-03-15</cbc:IssueDate>\n    <cbc:IssueTime>00:30:05</cbc:IssueTime>")) {
				t.Error("IssueDate/IssueTime are not the KSA local time of Header.Issued")
			}
			s, err := Sign(unsigned, key, crt, signingTime)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "build/"+fx.name+".signed.xml", s.XML)
			v, err := Verify(s.XML, VerifyOptions{PIH: initialPIH, InvoiceHash: s.Hash, Certificate: crt})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if v.UUID != h.UUID || v.IRN != h.IRN || v.ICV != string(rune('0'+i+1)) || v.TypeCode != string(fx.doc().Type) ||
				v.TransactionCode != "0200000" || !v.Simplified {
				t.Errorf("Verification = %+v", v)
			}
			p := filepath.Join(dir, fx.name+".xml")
			if err := os.WriteFile(p, s.XML, 0o644); err != nil {
				t.Fatal(err)
			}
			signedPaths = append(signedPaths, p)
		})
	}
	xsdValidate(t, signedPaths...)
}

// TestBuildSpecialCharacters: text with XML special characters is escaped
// in the document and read back literally (QR tag 1 and item names).
func TestBuildSpecialCharacters(t *testing.T) {
	doc := fixtureInvoice()
	doc.Seller.RegistrationName = `Tom & Jerry <"Sweets"> 'LLC' | توم & جيري`
	unsigned, err := Build(doc, fixtureHeader(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<cbc:RegistrationName>Tom &amp; Jerry &lt;"Sweets"&gt; 'LLC' | توم &amp; جيري</cbc:RegistrationName>`,
		`<cbc:Name>كتاب | Book &lt;"A&amp;B"&gt; 'x'</cbc:Name>`,
		`<cbc:AllowanceChargeReason>Loyalty &amp; promo</cbc:AllowanceChargeReason>`,
		`<cbc:PriceAmount currencyID="SAR">10.333</cbc:PriceAmount>`,
		`<cbc:PriceAmount currencyID="SAR">45.50</cbc:PriceAmount>`,
		`<cbc:InvoicedQuantity unitCode="PCE">1.5</cbc:InvoicedQuantity>`,
	} {
		if !bytes.Contains(unsigned, []byte(want)) {
			t.Errorf("document lacks %s", want)
		}
	}
	key, crt := sdkKeyAndCert(t)
	s, err := Sign(unsigned, key, crt, signingTime)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(s.XML, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.QR.SellerName != doc.Seller.RegistrationName {
		t.Errorf("QR tag 1 = %q, want %q", v.QR.SellerName, doc.Seller.RegistrationName)
	}
}

// TestBuildSales runs every valid POS sale of the shared fixtures through
// agent/invoice, Build, Sign and Verify, and validates all against the XSD.
func TestBuildSales(t *testing.T) {
	seller, err := invoice.DecodeSeller(readFile(t, "../../testdata/seller.json"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../../testdata/sales/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sales fixtures: %v", err)
	}
	sort.Strings(files)
	key, crt := sdkKeyAndCert(t)
	dir := t.TempDir()
	var paths []string
	pih := initialPIH
	for i, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		sale, err := invoice.DecodeSale(readFile(t, f))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		doc, err := invoice.Compute(sale, seller)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h := Header{IRN: "POS-" + name, UUID: fmt.Sprintf("3cf5ee18-ee25-44ea-a444-%012x", i+1),
			ICV: uint64(i + 1), PIH: pih, Issued: time.Date(2024, 5, 1, 9, 0, i, 0, KSA)}
		unsigned, err := Build(doc, h)
		if err != nil {
			t.Fatalf("%s: Build: %v", name, err)
		}
		s, err := Sign(unsigned, key, crt, h.Issued)
		if err != nil {
			t.Fatalf("%s: Sign: %v", name, err)
		}
		if _, err := Verify(s.XML, VerifyOptions{PIH: pih, Certificate: crt}); err != nil {
			t.Fatalf("%s: Verify: %v", name, err)
		}
		pih = s.Hash // one chain, as the journal keeps it
		p := filepath.Join(dir, name+".xml")
		if err := os.WriteFile(p, s.XML, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	xsdValidate(t, paths...)
}

// xsdValidate runs xmllint against the UBL 2.1 Invoice schema. libxml2
// cannot check xs:integer values longer than 24 digits (every official
// sample fails on its 45-digit X509SerialNumber for that reason), so a copy
// of the schema set is used in which that one element is xs:string; the
// serial's digits are checked separately.
func xsdValidate(t *testing.T, paths ...string) {
	t.Helper()
	if len(paths) == 0 {
		t.Fatal("nothing to validate")
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(xsdRoot)); err != nil {
		t.Fatal(err)
	}
	dsig := filepath.Join(dir, "UBL2.1/xsd/common/UBL-xmldsig-core-schema-2.1.xsd")
	b := readFile(t, dsig)
	from, to := []byte(`<element name="X509SerialNumber" type="integer"/>`), []byte(`<element name="X509SerialNumber" type="string"/>`)
	if bytes.Count(b, from) != 1 {
		t.Fatal("the xmldsig schema no longer has the X509SerialNumber declaration this test relaxes")
	}
	if err := os.WriteFile(dsig, bytes.Replace(b, from, to, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--noout", "--schema", filepath.Join(dir, "UBL2.1/xsd/maindoc/UBL-Invoice-2.1.xsd")}, paths...)
	runTool(t, nil, "xmllint", args...)
	for _, p := range paths {
		serial := textOfTag(t, readFile(t, p), "<xades:IssuerSerial>", "ds:X509SerialNumber")
		if strings.Trim(serial, "0123456789") != "" || serial == "" {
			t.Errorf("%s: X509SerialNumber %q is not a decimal integer", p, serial)
		}
	}
}

// TestBuildRejects: one bad field each, one specific error each; nothing
// is written.
func TestBuildRejects(t *testing.T) {
	cases := []struct {
		name, want string
		mod        func(*invoice.Document, *Header)
	}{
		{"type", "BR-KSA-05", func(d *invoice.Document, h *Header) { d.Type = "386" }},
		{"transaction-code", "BR-KSA-31", func(d *invoice.Document, h *Header) { d.TransactionCode = "0200100" }},
		{"standard-code", "BR-KSA-06", func(d *invoice.Document, h *Header) { d.TransactionCode = "0100000" }},
		{"currency", "BR-KSA-68", func(d *invoice.Document, h *Header) { d.Currency = "USD" }},
		{"uuid", "Header.UUID", func(d *invoice.Document, h *Header) { h.UUID = "not-a-uuid" }},
		{"icv", "Header.ICV", func(d *invoice.Document, h *Header) { h.ICV = 0 }},
		{"pih", "Header.PIH", func(d *invoice.Document, h *Header) { h.PIH = "not base64!" }},
		{"issued", "Header.Issued", func(d *invoice.Document, h *Header) { h.Issued = time.Time{} }},
		{"irn", "Header.IRN", func(d *invoice.Document, h *Header) { h.IRN = "" }},
		{"no-lines", "Document.Lines", func(d *invoice.Document, h *Header) { d.Lines = nil }},
		{"no-subtotals", "Document.Subtotals", func(d *invoice.Document, h *Header) { d.Subtotals = nil }},
		{"unrounded", "Document.Lines[0].Net", func(d *invoice.Document, h *Header) { d.Lines[0].Net = dec("102.001") }},
		{"negative", "BR-KSA-F-04", func(d *invoice.Document, h *Header) { d.Lines[1].VAT = dec("-0.01") }},
		{"quantity", "Document.Lines[0].Quantity", func(d *invoice.Document, h *Header) { d.Lines[0].Quantity = dec("0") }},
		{"category", "BR-KSA-18", func(d *invoice.Document, h *Header) { d.Lines[0].Tax.ID = "X" }},
		{"exemption", "BR-KSA-CL-04", func(d *invoice.Document, h *Header) { d.Subtotals[1].Category.ExemptionCode = "" }},
		{"seller-vat", "Document.Seller.VATNumber", func(d *invoice.Document, h *Header) { d.Seller.VATNumber = "" }},
		{"seller-name", "Document.Seller.RegistrationName", func(d *invoice.Document, h *Header) { d.Seller.RegistrationName = " " }},
		{"seller-address", "BR-KSA-09", func(d *invoice.Document, h *Header) { d.Seller.Address = invoice.Address{} }},
		{"control-char", "Document.Lines[2].Name", func(d *invoice.Document, h *Header) { d.Lines[2].Name = "bad\x00name" }},
		{"invalid-utf8", "Document.Lines[2].Name", func(d *invoice.Document, h *Header) { d.Lines[2].Name = "bad\xffname" }},
		{"doc-allowance", "Document.Totals.AllowanceTotal", func(d *invoice.Document, h *Header) { d.Totals.AllowanceTotal = decp("1.00") }},
		{"payable", "BR-CO-16", func(d *invoice.Document, h *Header) { d.Totals.Payable = dec("225.00") }},
		{"reason-on-invoice", "Document.BillingReference", func(d *invoice.Document, h *Header) { d.NoteReason = "why" }},
		{"note-without-ref", "BR-KSA-56", func(d *invoice.Document, h *Header) { d.Type = invoice.TypeCreditNote; d.NoteReason = "r" }},
		{"note-without-reason", "BR-KSA-17", func(d *invoice.Document, h *Header) { d.Type = invoice.TypeDebitNote; d.BillingReference = "X" }},
		{"rate", "BR-KSA-DEC-02", func(d *invoice.Document, h *Header) { d.Lines[0].Tax.Percent = dec("15.005") }},
		{"base-quantity", "BR-KSA-EN16931-12", func(d *invoice.Document, h *Header) { d.Lines[0].BaseQuantity = decp("0") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, h := fixtureInvoice(), fixtureHeader(1)
			c.mod(d, &h)
			out, err := Build(d, h)
			if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrInvalidInput mentioning %q", err, c.want)
			}
			if out != nil {
				t.Error("output returned with an error")
			}
		})
	}
	if _, err := Build(nil, fixtureHeader(1)); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("nil document: %v", err)
	}
}

// TestBuildIRNFallback: an empty Header.IRN takes the POS's RefNumber.
func TestBuildIRNFallback(t *testing.T) {
	d, h := fixtureInvoice(), fixtureHeader(1)
	d.RefNumber, h.IRN = "POS-77", ""
	out, err := Build(d, h)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("<cbc:ID>POS-77</cbc:ID>")) {
		t.Error("cbc:ID is not the document's RefNumber")
	}
}
