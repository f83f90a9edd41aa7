// Package printertest holds test fixtures for printers: realistic bilingual
// receipts (a simple sale, a long sale, a credit note, a reprint) with a
// realistic QR payload. It is for tests only; the daemon must not link it.
// It imports printer and shopspring/decimal.
package printertest

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/posagent/posagent/printer"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// SampleQR returns a QR payload shaped like a Saudi simplified-invoice QR
// code: base64 of TLV tags 1..9 (seller name in Arabic, VAT number, time
// stamp, totals, a SHA-256 hash, an ECDSA signature, a secp256k1 public key
// and a certificate signature). The binary fields are fixed pseudo-random
// bytes, so the payload is deterministic. It is 624 characters long.
func SampleQR(invoiceNo string) string {
	fill := func(seed string, n int) []byte {
		var out []byte
		h := sha256.Sum256([]byte(seed + invoiceNo))
		for len(out) < n {
			out = append(out, h[:]...)
			h = sha256.Sum256(h[:])
		}
		return out[:n]
	}
	var tlv []byte
	add := func(tag byte, v []byte) {
		tlv = append(tlv, tag, byte(len(v)))
		tlv = append(tlv, v...)
	}
	add(1, []byte("شركة الريادة المتحدة للتجارة والمقاولات العامة المحدودة"))
	add(2, []byte("310122393500003"))
	add(3, []byte("2026-11-21T14:05:09Z"))
	add(4, []byte("76.48"))
	add(5, []byte("9.98"))
	add(6, []byte(base64.StdEncoding.EncodeToString(fill("hash", 32))))
	sig := append([]byte{0x30, 0x45, 0x02, 0x21, 0x00}, fill("r", 32)...)
	sig = append(sig, 0x02, 0x20)
	add(7, []byte(base64.StdEncoding.EncodeToString(append(sig, fill("s", 32)...))))
	spki := []byte{0x30, 0x56, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
		0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a, 0x03, 0x42, 0x00, 0x04}
	add(8, append(spki, fill("pub", 64)...))
	csig := append([]byte{0x30, 0x46, 0x02, 0x21, 0x00}, fill("cr", 32)...)
	csig = append(csig, 0x02, 0x21, 0x00)
	add(9, append(csig, fill("cs", 32)...))
	return base64.StdEncoding.EncodeToString(tlv)
}

func header() []printer.Line {
	return []printer.Line{
		{Text: "مؤسسة الريادة للتجارة", Bold: true, Large: true},
		{Text: "Al Riyada Trading Est.", Bold: true},
		{Text: "VAT No. 310122393500003 الرقم الضريبي"},
		{Text: "فرع العليا - Olaya Branch, Riyadh"},
	}
}

func columns() (printer.Columns, printer.Columns) {
	return printer.Columns{Item: "Item", Quantity: "Qty", UnitPrice: "Price", VAT: "VAT", Total: "Total"},
		printer.Columns{Item: "الصنف", Quantity: "الكمية", UnitPrice: "السعر", VAT: "الضريبة", Total: "المجموع"}
}

func footer() []printer.Line {
	return []printer.Line{{Text: "شكراً لزيارتكم"}, {Text: "Thank you for your visit"}}
}

// item builds a line with VAT at 15 %, totals rounded half up to 2 places.
func item(name, alt, qty, price string) printer.Item {
	q, p := dec(qty), dec(price)
	rate := dec("15")
	net := q.Mul(p)
	total := net.Add(net.Mul(rate).Div(dec("100"))).Round(2)
	return printer.Item{Name: name, NameAlt: alt, Quantity: q, UnitPrice: p, VATRate: rate, Total: total}
}

func totals(items []printer.Item) []printer.Amount {
	net := decimal.Zero
	for _, it := range items {
		net = net.Add(it.Quantity.Mul(it.UnitPrice))
	}
	vat := net.Mul(dec("0.15")).Round(2)
	return []printer.Amount{
		{Label: "Total excl. VAT", LabelAlt: "الإجمالي غير شامل الضريبة", Value: net.Round(2)},
		{Label: "VAT 15%", LabelAlt: "ضريبة القيمة المضافة", Value: vat},
		{Label: "Total incl. VAT", LabelAlt: "الإجمالي شامل الضريبة", Value: net.Round(2).Add(vat), Bold: true},
	}
}

// SimpleSale is a four-line cash sale.
func SimpleSale() *printer.Receipt {
	items := []printer.Item{
		item("Espresso", "قهوة اسبريسو", "2", "10.00"),
		item("Chicken shawarma", "شاورما دجاج", "1", "18.50"),
		item("Water 330ml", "مياه معدنية", "3", "1.00"),
		item("", "كنافة بالقشطة", "1", "25.00"),
	}
	c, ca := columns()
	return &printer.Receipt{
		Header: header(),
		Title:  []printer.Line{{Text: "فاتورة ضريبية مبسطة"}, {Text: "Simplified Tax Invoice"}},
		Meta: []printer.Field{
			{Label: "Invoice No.", LabelAlt: "رقم الفاتورة", Value: "INV-2026-000123"},
			{Label: "Date", LabelAlt: "التاريخ", Value: "2026-11-21 14:05:09"},
			{Label: "Cashier", LabelAlt: "الكاشير", Value: "Ahmed"},
		},
		Columns: c, ColumnsAlt: ca,
		Items:    items,
		Totals:   totals(items),
		Currency: "SAR",
		QR:       SampleQR("INV-2026-000123"),
		Footer:   footer(),
	}
}

// LongSale is a sale of n lines (the golden files use 40), with a notice.
func LongSale(n int) *printer.Receipt {
	catalogue := []struct{ name, alt, price string }{
		{"Arabic coffee", "قهوة عربية", "12.00"},
		{"Dates 500g", "تمر سكري ٥٠٠ غرام", "35.50"},
		{"Laban 1L", "لبن", "6.25"},
		{"Basmati rice 5kg", "أرز بسمتي", "54.95"},
		{"Olive oil", "زيت زيتون", "42.00"},
		{"Bread", "خبز عربي", "2.00"},
		{"Tea 100 bags", "شاي ١٠٠ كيس", "17.75"},
		{"Chicken 1kg", "دجاج طازج", "21.00"},
		{"Tomatoes", "طماطم", "4.50"},
		{"Saffron 1g", "زعفران", "29.99"},
	}
	items := make([]printer.Item, n)
	for i := range items {
		c := catalogue[i%len(catalogue)]
		items[i] = item(c.name, c.alt, fmt.Sprint(1+i%4), c.price)
	}
	cols, alt := columns()
	r := &printer.Receipt{
		Header: header(),
		Title:  []printer.Line{{Text: "فاتورة ضريبية مبسطة"}, {Text: "Simplified Tax Invoice"}},
		Meta: []printer.Field{
			{Label: "Invoice No.", LabelAlt: "رقم الفاتورة", Value: "INV-2026-000124"},
			{Label: "Date", LabelAlt: "التاريخ", Value: "2026-11-21 14:17:42"},
		},
		Columns: cols, ColumnsAlt: alt,
		Items:    items,
		Totals:   totals(items),
		Currency: "SAR",
		Notices: []string{
			"This invoice will be reported to the tax authority within 24 hours.",
			"سيتم إبلاغ هيئة الزكاة والضريبة والجمارك بهذه الفاتورة خلال 24 ساعة.",
		},
		QR:     SampleQR("INV-2026-000124"),
		Footer: footer(),
	}
	return r
}

// CreditNote is a credit note against the simple sale's invoice, with the
// reason for issuing it.
func CreditNote() *printer.Receipt {
	items := []printer.Item{item("Chicken shawarma", "شاورما دجاج", "1", "18.50")}
	c, ca := columns()
	return &printer.Receipt{
		Header: header(),
		Title:  []printer.Line{{Text: "إشعار دائن"}, {Text: "Credit Note"}},
		Meta: []printer.Field{
			{Label: "Credit note No.", LabelAlt: "رقم الإشعار", Value: "CRN-2026-000007"},
			{Label: "Date", LabelAlt: "التاريخ", Value: "2026-11-21 15:30:00"},
			{Label: "Original invoice", LabelAlt: "الفاتورة الأصلية", Value: "INV-2026-000123"},
			{Label: "Reason", LabelAlt: "السبب", Value: "Item returned - إرجاع صنف"},
		},
		Columns: c, ColumnsAlt: ca,
		Items:    items,
		Totals:   totals(items),
		Currency: "SAR",
		QR:       SampleQR("CRN-2026-000007"),
		Footer:   footer(),
	}
}

// Reprint is the simple sale printed again, marked as a copy.
func Reprint() *printer.Receipt {
	r := SimpleSale()
	r.Copy = true
	r.CopyLabel = "COPY - نسخة"
	return r
}
