package agent

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
	"github.com/shopspring/decimal"

	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/store"
)

// ReceiptOptions are what a receipt adds to its signed document.
type ReceiptOptions struct {
	// Copy marks a reprint of a document printed before.
	Copy bool
	// Notices are printed below the totals (failure period, reporting delays).
	Notices []string
	// Footer lines end the receipt.
	Footer []string
}

// titles of the document types, Arabic and English.
var titles = map[store.DocType][2]string{
	store.TypeInvoice:    {"فاتورة ضريبية مبسطة", "Simplified Tax Invoice"},
	store.TypeCreditNote: {"إشعار دائن", "Credit Note"},
	store.TypeDebitNote:  {"إشعار مدين", "Debit Note"},
}

// Receipt maps a journaled document to a printer receipt. Everything printed is read
// from the signed XML (seller names and VAT number, invoice number, issue date and
// time, lines, totals, VAT, the original invoice and reason of a note, the QR payload),
// so an original and a reprint show the same content. It fails only on XML that is not
// a UBL invoice.
func Receipt(d *store.Document, o ReceiptOptions) (*printer.Receipt, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(d.XML); err != nil {
		return nil, fmt.Errorf("receipt: parse document ICV %d: %w", d.ICV, err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "Invoice" {
		return nil, fmt.Errorf("receipt: document ICV %d is not a UBL Invoice", d.ICV)
	}
	txt := func(e *etree.Element, path string) string {
		if e == nil {
			return ""
		}
		if x := e.FindElement(path); x != nil {
			return strings.TrimSpace(x.Text())
		}
		return ""
	}
	r := &printer.Receipt{Currency: "SAR", Copy: o.Copy, CopyLabel: "نسخة | COPY"}

	supplier := root.FindElement("./cac:AccountingSupplierParty/cac:Party")
	ar, en := splitBilingual(txt(supplier, "./cac:PartyLegalEntity/cbc:RegistrationName"))
	if ar != "" {
		r.Header = append(r.Header, printer.Line{Text: clip(ar), Bold: true, Large: true})
	}
	if en != "" {
		r.Header = append(r.Header, printer.Line{Text: clip(en), Bold: true})
	}
	if vat := txt(supplier, "./cac:PartyTaxScheme/cbc:CompanyID"); vat != "" {
		r.Header = append(r.Header, printer.Line{Text: "الرقم الضريبي VAT No. " + vat})
	}
	if addr := address(supplier); addr != "" {
		r.Header = append(r.Header, printer.Line{Text: clip(addr)})
	}

	typ := store.DocType(txt(root, "./cbc:InvoiceTypeCode"))
	if _, ok := titles[typ]; !ok {
		typ = d.Type
	}
	t := titles[typ]
	r.Title = []printer.Line{{Text: t[0], Bold: true}, {Text: t[1], Bold: true}}

	r.Meta = append(r.Meta,
		printer.Field{Label: "Invoice No.", LabelAlt: "رقم الفاتورة", Value: clip(txt(root, "./cbc:ID"))},
		printer.Field{Label: "Date", LabelAlt: "التاريخ", Value: txt(root, "./cbc:IssueDate") + " " + txt(root, "./cbc:IssueTime")},
	)
	if sd := txt(root, "./cac:Delivery/cbc:ActualDeliveryDate"); sd != "" {
		r.Meta = append(r.Meta, printer.Field{Label: "Supply date", LabelAlt: "تاريخ التوريد", Value: sd})
	}
	if ref := txt(root, "./cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"); ref != "" {
		r.Meta = append(r.Meta, printer.Field{Label: "Original invoice", LabelAlt: "الفاتورة الأصلية", Value: clip(ref)})
	}
	if reason := txt(root, "./cac:PaymentMeans/cbc:InstructionNote"); reason != "" {
		r.Meta = append(r.Meta, printer.Field{Label: "Reason", LabelAlt: "السبب", Value: clip(reason)})
	}

	// Prices and line totals include VAT.
	r.Columns = printer.Columns{Item: "Item", Quantity: "Qty", UnitPrice: "Price", VAT: "VAT %", Total: "Total"}
	r.ColumnsAlt = printer.Columns{Item: "الصنف", Quantity: "الكمية", UnitPrice: "السعر", VAT: "الضريبة", Total: "المجموع"}
	for i, l := range root.SelectElements("cac:InvoiceLine") {
		if i >= printer.MaxItems {
			break
		}
		ar, en := splitBilingual(txt(l, "./cac:Item/cbc:Name"))
		it := printer.Item{Name: clip(en), NameAlt: clip(ar)}
		it.Quantity = dec(txt(l, "./cbc:InvoicedQuantity"))
		it.VATRate = dec(txt(l, "./cac:Item/cac:ClassifiedTaxCategory/cbc:Percent"))
		// The shelf price: the net unit price with its VAT, as the customer saw it.
		net := dec(txt(l, "./cac:Price/cbc:PriceAmount"))
		if base := dec(txt(l, "./cac:Price/cbc:BaseQuantity")); base.IsPositive() {
			net = net.Div(base)
		}
		it.UnitPrice = net.Mul(decimal.NewFromInt(100).Add(it.VATRate)).Div(decimal.NewFromInt(100)).Round(2)
		it.Total = dec(txt(l, "./cac:TaxTotal/cbc:RoundingAmount"))
		r.Items = append(r.Items, it)
	}
	vat := txt(root, "./cac:TaxTotal/cbc:TaxAmount")
	r.Totals = []printer.Amount{
		{Label: "Total excl. VAT", LabelAlt: "الإجمالي غير شامل الضريبة", Value: dec(txt(root, "./cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount"))},
		{Label: "VAT", LabelAlt: "ضريبة القيمة المضافة", Value: dec(vat)},
		{Label: "Total incl. VAT", LabelAlt: "الإجمالي شامل الضريبة", Value: dec(txt(root, "./cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount")), Bold: true},
	}
	for _, ref := range root.SelectElements("cac:AdditionalDocumentReference") {
		if txt(ref, "./cbc:ID") == "QR" {
			r.QR = txt(ref, "./cac:Attachment/cbc:EmbeddedDocumentBinaryObject")
		}
	}
	for _, n := range o.Notices {
		if len(r.Notices) < printer.MaxLines && strings.TrimSpace(n) != "" {
			r.Notices = append(r.Notices, clip(n))
		}
	}
	for _, f := range o.Footer {
		if len(r.Footer) < printer.MaxLines {
			r.Footer = append(r.Footer, printer.Line{Text: clip(f)})
		}
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("receipt: document ICV %d: %w", d.ICV, err)
	}
	return r, nil
}

// address renders the seller's street, district and city, each in its first language.
func address(party *etree.Element) string {
	if party == nil {
		return ""
	}
	var parts []string
	for _, p := range []string{"cbc:StreetName", "cbc:BuildingNumber", "cbc:CitySubdivisionName", "cbc:CityName", "cbc:PostalZone"} {
		e := party.FindElement("./cac:PostalAddress/" + p)
		if e == nil {
			continue
		}
		v := strings.TrimSpace(e.Text())
		if ar, en := splitBilingual(v); en != "" {
			v = en
		} else {
			v = ar
		}
		if v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, ", ")
}

// splitBilingual splits "Arabic | English" (the convention of names in documents).
// Text without a separator is returned as the first part.
func splitBilingual(s string) (first, second string) {
	a, b, ok := strings.Cut(s, " | ")
	if !ok {
		return strings.TrimSpace(s), ""
	}
	return strings.TrimSpace(a), strings.TrimSpace(b)
}

// clip shortens text to the printer's per-field limit.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= printer.MaxTextRunes {
		return s
	}
	r := []rune(s)
	return string(r[:printer.MaxTextRunes-1]) + "…"
}

func dec(s string) decimal.Decimal {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero
	}
	return d
}
