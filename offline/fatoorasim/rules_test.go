package fatoorasim_test

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/offline/zatca"
)

func replace(old, new string) func([]byte) []byte {
	return func(b []byte) []byte { return bytes.Replace(b, []byte(old), []byte(new), -1) }
}

func replaceRE(re, repl string) func([]byte) []byte {
	r := regexp.MustCompile(re)
	return func(b []byte) []byte { return r.ReplaceAll(b, []byte(repl)) }
}

// TestBusinessRules changes one thing in an otherwise valid document (before signing,
// so hash, signature and QR stay right) and expects its rule ID.
func TestBusinessRules(t *testing.T) {
	s, e := onboarded(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		sale   string
		issued time.Duration // added to now
		mutate func([]byte) []byte
		want   string // "E:" error or "W:" warning code
		extra  []string
	}{
		{name: "profile", mutate: replace(">reporting:1.0<", ">clearance:1.0<"), want: "E:BR-KSA-EN16931-01"},
		{name: "no tax currency", mutate: replace("\n    <cbc:TaxCurrencyCode>SAR</cbc:TaxCurrencyCode>", ""), want: "E:BR-KSA-68"},
		{name: "tax currency USD", mutate: replace("<cbc:TaxCurrencyCode>SAR<", "<cbc:TaxCurrencyCode>USD<"), want: "E:BR-KSA-EN16931-02"},
		{name: "type code", mutate: replace(">388</cbc:InvoiceTypeCode>", ">380</cbc:InvoiceTypeCode>"), want: "E:BR-KSA-05"},
		{name: "export flag on simplified", mutate: replace(`name="0200000"`, `name="0200100"`), want: "E:BR-KSA-31"},
		{name: "transaction code shape", mutate: replace(`name="0200000"`, `name="02000"`), want: "E:BR-KSA-06"},
		{name: "ICV not digits", mutate: replaceRE(`(<cbc:ID>ICV</cbc:ID>\s*<cbc:UUID>)([0-9]+)`, "${1}${2}a"), want: "E:BR-KSA-34"},
		{name: "issue time", mutate: replaceRE(`<cbc:IssueTime>[0-9:]+<`, "<cbc:IssueTime>25:00:00<"), want: "E:BR-KSA-70"},
		{name: "issue date in the future", issued: 72 * time.Hour, want: "E:BR-KSA-04"},
		{name: "credit note without reason", sale: "09-credit-note.json", mutate: replaceRE(`\s*<cbc:InstructionNote>[^<]*</cbc:InstructionNote>`, ""), want: "E:BR-KSA-17"},
		{name: "credit note without billing reference", sale: "09-credit-note.json", mutate: replaceRE(`(?s)\s*<cac:BillingReference>.*?</cac:BillingReference>`, ""), want: "W:BR-KSA-56"},
		{name: "total with VAT", mutate: replaceRE(`>115.00</cbc:(TaxInclusiveAmount|PayableAmount)>`, ">116.00</cbc:$1>"), want: "E:BR-CO-15"},
		{name: "VAT total vs subtotals", mutate: replaceRE(`(<cac:TaxSubtotal>\s*<cbc:TaxableAmount[^<]*</cbc:TaxableAmount>\s*<cbc:TaxAmount currencyID="SAR">)15.00`, "${1}14.00"), want: "E:BR-CO-14"},
		{name: "building number", mutate: replace(">2322</cbc:BuildingNumber>", ">12</cbc:BuildingNumber>"), want: "W:BR-KSA-37"},
		{name: "postal code", mutate: replace(">23333</cbc:PostalZone>", ">2333</cbc:PostalZone>"), want: "W:BR-KSA-66"},
		{name: "PIH format", mutate: replaceRE(`(mimeCode="text/plain">)[A-Za-z0-9+/=]+(</cbc:EmbeddedDocumentBinaryObject>)`, "${1}abc${2}"), want: "W:BR-KSA-26"},
		{name: "standard rate 10", mutate: replace("<cbc:Percent>15.00</cbc:Percent>", "<cbc:Percent>10.00</cbc:Percent>"), want: "E:BR-KSA-84"},
		{name: "VAT category X", mutate: replaceRE(`(<cac:(TaxCategory|ClassifiedTaxCategory)>\s*<cbc:ID>)S<`, "${1}X<"), want: "E:BR-KSA-18"},
		{name: "negative amount", mutate: replace(`<cbc:LineExtensionAmount currencyID="SAR">100.00</cbc:LineExtensionAmount>
        <cac:TaxTotal>`, `<cbc:LineExtensionAmount currencyID="SAR">-100.00</cbc:LineExtensionAmount>
        <cac:TaxTotal>`), want: "E:BR-KSA-F-04", extra: []string{"W:BR-CO-10"}},
		{name: "order of elements", mutate: replace("<cbc:DocumentCurrencyCode>SAR</cbc:DocumentCurrencyCode>\n    <cbc:TaxCurrencyCode>SAR</cbc:TaxCurrencyCode>",
			"<cbc:TaxCurrencyCode>SAR</cbc:TaxCurrencyCode>\n    <cbc:DocumentCurrencyCode>SAR</cbc:DocumentCurrencyCode>"), want: "E:XSD_ZATCA_INVALID"},
		{name: "unknown element", mutate: replace("<cbc:ProfileID>", "<cbc:Colour>red</cbc:Colour><cbc:ProfileID>"), want: "E:XSD_ZATCA_INVALID"},
		{name: "amount not decimal", mutate: replace(`<cbc:TaxExclusiveAmount currencyID="SAR">100.00<`, `<cbc:TaxExclusiveAmount currencyID="SAR">100,00<`), want: "E:XSD_ZATCA_INVALID", extra: []string{"E:BR-CO-15"}},
		{name: "seller VAT format", mutate: replace(">399999999900003</cbc:CompanyID>", ">39999999990000</cbc:CompanyID>"), want: "E:BR-KSA-40", extra: []string{"E:certificate-permissions"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sale := tc.sale
			if sale == "" {
				sale = "01-cash-single-line.json"
			}
			doc := e.docWith(t, sale, time.Now().Add(tc.issued), tc.mutate)
			rep, err := s.client.Report(ctx, e.production, doc)
			if err != nil {
				t.Fatal(err)
			}
			got := codes(rep.ValidationResults)
			if !slices.Contains(got, tc.want) {
				t.Fatalf("codes %v lack %s", got, tc.want)
			}
			for _, c := range got {
				if c != tc.want && !slices.Contains(tc.extra, c) && !strings.HasPrefix(c, "W:") {
					// Only the changed rule may fail (warnings that follow from it aside).
					t.Errorf("unexpected code %s besides %s (all: %v)", c, tc.want, got)
				}
			}
			wantStatus := zatca.Rejected
			if strings.HasPrefix(tc.want, "W:") {
				wantStatus = zatca.ReportedWithWarnings
			}
			if rep.Status != wantStatus {
				t.Errorf("status %v, want %v", rep.Status, wantStatus)
			}
		})
	}
}
