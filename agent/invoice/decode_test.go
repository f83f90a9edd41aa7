package invoice

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func decodeErr(t *testing.T, body string) *ValidationError {
	t.Helper()
	s, err := DecodeSale([]byte(body))
	if s != nil {
		t.Fatalf("a Sale was returned with error %v", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	return ve
}

func TestDecodeSaleStrict(t *testing.T) {
	okLine := `{"name_ar":"قلم","quantity":"1","tax_exclusive_price":"1","tax_percentage":"0.15","tax_category":"S"}`
	tests := []struct {
		name, body, field, rule, msg string
	}{
		{"empty body", ``, "", RuleJSON, "unexpected end"},
		{"syntax error", `{"doc_type":}`, "", RuleJSON, "malformed JSON"},
		{"truncated", `{"doc_type":"388"`, "", RuleJSON, "malformed"},
		{"trailing object", `{"doc_type":"388"}{}`, "", RuleJSON, "after the JSON value"},
		{"trailing garbage", `{"doc_type":"388"} x`, "", RuleJSON, ""},
		{"top level array", `[1]`, "", RuleType, "must be an object"},
		{"top level string", `"x"`, "", RuleType, "must be an object"},
		{"duplicate key", `{"doc_type":"388","doc_type":"381"}`, "doc_type", RuleJSON, "duplicate key"},
		{"duplicate nested key", `{"lineitems":[{"quantity":"1","quantity":"2"}]}`, "lineitems[0].quantity", RuleJSON, "duplicate key"},
		{"invalid UTF-8", "{\"idempotency_key\":\"\xff\"}", "", RuleJSON, "UTF-8"},
		{"deep nesting", `{"party_details":{"party_add_id":{"nat":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}}}`, "party_details.party_add_id.nat" + strings.Repeat("[0]", 13), RuleJSON, "nesting"},
		{"nested unknown field path", `{"lineitems":[` + okLine + `,{"name_ar":"x","discounts":[{"amount":"1","reason":"r","why":1}]}]}`, "lineitems[1].discounts[0].why", RuleUnknownField, ""},
		{"number as object", `{"lineitems":[{"quantity":{}}]}`, "lineitems[0].quantity", RuleType, "not object"},
		{"string as array", `{"invoice_ref_number":["x"]}`, "invoice_ref_number", RuleType, "must be a string"},
		{"party as string", `{"party_details":"x"}`, "party_details", RuleType, "must be an object"},
		{"leading plus", `{"lineitems":[{"quantity":"+1"}]}`, "lineitems[0].quantity", RuleType, "plain decimal"},
		{"dot only", `{"lineitems":[{"quantity":"1."}]}`, "lineitems[0].quantity", RuleType, "plain decimal"},
		{"hex", `{"lineitems":[{"quantity":"0x10"}]}`, "lineitems[0].quantity", RuleType, "plain decimal"},
		{"huge exponent number", `{"lineitems":[{"quantity":1e999999999}]}`, "lineitems[0].quantity", RuleType, "no exponent"},
		{"too many integer digits", `{"lineitems":[{"tax_exclusive_price":"1234567890123456"}]}`, "lineitems[0].tax_exclusive_price", RuleType, "too many digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ve := decodeErr(t, tt.body)
			fe := ve.Errors[0]
			if fe.Field != tt.field || fe.Rule != tt.rule || !strings.Contains(fe.Message, tt.msg) {
				t.Errorf("first error = %+v, want field %q rule %s message containing %q (all: %v)", fe, tt.field, tt.rule, tt.msg, ve.Errors)
			}
		})
	}
}

func TestDecodeSaleSizeCap(t *testing.T) {
	body := `{"idempotency_key":"` + strings.Repeat("a", MaxSaleSize) + `"}`
	ve := decodeErr(t, body)
	if ve.Errors[0].Rule != RuleJSON || !strings.Contains(ve.Errors[0].Message, "limit") {
		t.Errorf("error = %v", ve.Errors)
	}
	// Too many lines is refused before walking them.
	lines := strings.Repeat(`{},`, MaxLines) + `{}`
	ve = decodeErr(t, `{"lineitems":[`+lines+`]}`)
	if len(ve.Errors) != 1 || ve.Errors[0].Field != "lineitems" || ve.Errors[0].Rule != RuleLimit {
		t.Errorf("errors = %v", ve.Errors)
	}
}

// TestDecodeExactNumbers: JSON numbers and strings give the same exact
// decimals; nothing goes through float64.
func TestDecodeExactNumbers(t *testing.T) {
	asNumbers := `{"idempotency_key":"n","doc_type":388,"payment_means":48,"lineitems":[
		{"name_ar":"x","quantity":0.1,"tax_exclusive_price":0.2,"tax_percentage":0.15,"tax_category":"S"},
		{"name_ar":"y","quantity":3,"tax_exclusive_price":123456789012345.1234567891,"tax_percentage":0.15,"tax_category":"S"}]}`
	asStrings := `{"idempotency_key":"n","doc_type":"388","payment_means":"48","lineitems":[
		{"name_ar":"x","quantity":"0.1","tax_exclusive_price":"0.2","tax_percentage":"0.15","tax_category":"S"},
		{"name_ar":"y","quantity":"3","tax_exclusive_price":"123456789012345.1234567891","tax_percentage":"0.15","tax_category":"S"}]}`
	a, err := DecodeSale([]byte(asNumbers))
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeSale([]byte(asStrings))
	if err != nil {
		t.Fatal(err)
	}
	if a.DocType != TypeInvoice || a.PaymentMeans != "48" {
		t.Errorf("codes = %q %q", a.DocType, a.PaymentMeans)
	}
	for i := range a.Lines {
		if !a.Lines[i].Quantity.Equal(*b.Lines[i].Quantity) || !a.Lines[i].TaxExclusivePrice.Equal(*b.Lines[i].TaxExclusivePrice) {
			t.Errorf("line %d differs: %s×%s vs %s×%s", i, a.Lines[i].Quantity, a.Lines[i].TaxExclusivePrice, b.Lines[i].Quantity, b.Lines[i].TaxExclusivePrice)
		}
	}
	if got := a.Lines[1].TaxExclusivePrice.String(); got != "123456789012345.1234567891" {
		t.Errorf("price = %s (lost precision)", got)
	}
	d := mustCompute(t, asNumbers)
	eq(t, "0.1 × 0.2", d.Lines[0].Net, "0.02")
	eq(t, "3 × 123456789012345.1234567891", d.Lines[1].Net, "370370367037035.37")
}

func TestDecodeNullIsAbsent(t *testing.T) {
	s, err := DecodeSale([]byte(`{"idempotency_key":"n","doc_type":"388","invoice_ref_number":null,"party_details":null,"notes_details":null,"summary":null,
		"lineitems":[{"name_ar":"x","name_en":null,"quantity":"1","tax_exclusive_price":"1","tax_inclusive_price":null,"tax_percentage":"0.15","tax_category":"S","discounts":null}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Party != nil || s.Notes != nil || s.Lines[0].TaxInclusivePrice != nil || s.Lines[0].NameEn != "" {
		t.Errorf("nulls not treated as absent: %+v", s)
	}
}

func TestDecodePartyID(t *testing.T) {
	s, err := DecodeSale([]byte(`{"party_details":{"party_add_id":{"700":7001234567}},"lineitems":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if id := s.Party.OtherID; id == nil || id.Scheme != "700" || id.Value != "7001234567" {
		t.Errorf("id = %+v", id)
	}
	s, err = DecodeSale([]byte(`{"party_details":{"party_add_id":{"nat":"1098765432"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if id := s.Party.OtherID; id.Scheme != "NAT" {
		t.Errorf("scheme = %q", id.Scheme)
	}
}

func TestSeller(t *testing.T) {
	s := testSeller(t)
	if s.VATNumber != "399999999900003" || s.CRN != "1010010000" || s.Building != "2322" || s.Postal != "23333" ||
		s.VATName != "شركة توريد التكنولوجيا بأقصى سرعة المحدودة | Maximum Speed Tech Supply LTD" {
		t.Errorf("seller = %+v", s)
	}
	data, err := os.ReadFile(sellerPath)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		sets  []set
		field string
		rule  string
	}{
		{"name missing", []set{{"vat_name", del}}, "vat_name", "BR-06"},
		{"name too long", []set{{"vat_name", strings.Repeat("ش", 1001)}}, "vat_name", "BR-KSA-F-06-C10"},
		{"VAT missing", []set{{"vat_number", del}}, "vat_number", "BR-KSA-39"},
		{"VAT 14 digits", []set{{"vat_number", "39999999990003"}}, "vat_number", "BR-KSA-40"},
		{"VAT starts with 2", []set{{"vat_number", "299999999900003"}}, "vat_number", "BR-KSA-40"},
		{"CRN missing", []set{{"crn", del}}, "crn", "BR-KSA-08"},
		{"CRN with a dash", []set{{"crn", "1010-010000"}}, "crn", "BR-KSA-08"},
		{"street missing", []set{{"street", del}}, "street", "BR-KSA-09"},
		{"building 3 digits", []set{{"building", "232"}}, "building", "BR-KSA-37"},
		{"building letters", []set{{"building", "23A2"}}, "building", "BR-KSA-37"},
		{"plot 3 digits", []set{{"plot", "123"}}, "plot", "BR-KSA-64"},
		{"district missing", []set{{"city_subdiv", del}}, "city_subdiv", "BR-KSA-09"},
		{"district too long", []set{{"city_subdiv", strings.Repeat("م", 128)}}, "city_subdiv", "BR-KSA-F-06-C9"},
		{"city missing", []set{{"city", del}}, "city", "BR-KSA-09"},
		{"city too long", []set{{"city", strings.Repeat("م", 128)}}, "city", "BR-KSA-F-06-C7"},
		{"postal 6 digits", []set{{"postal", "233333"}}, "postal", "BR-KSA-66"},
		{"unknown field", []set{{"email", "x"}}, "email", RuleUnknownField},
		{"wrong type", []set{{"street", 5}}, "street", RuleType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeSeller(mutate(t, string(data), tt.sets...))
			var ve *ValidationError
			if got != nil || !errors.As(err, &ve) {
				t.Fatalf("DecodeSeller = %v, %v", got, err)
			}
			if len(ve.Errors) != 1 || ve.Errors[0].Field != tt.field || ve.Errors[0].Rule != tt.rule {
				t.Fatalf("errors = %v, want %s %s", ve.Errors, tt.field, tt.rule)
			}
		})
	}
	// Numbers are accepted where the form has digits.
	if _, err := DecodeSeller(mutate(t, string(data), set{"building", 2322}, set{"plot", 1234}, set{"postal", 23333})); err != nil {
		t.Errorf("numeric building/plot/postal: %v", err)
	}
	// Compute re-validates a seller built in code, under "seller.".
	bad := *s
	bad.Building = "1"
	sale, err := DecodeSale([]byte(saleBody(exLine("1", "1", "0.15"))))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compute(sale, &bad)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Field != "seller.building" || ve.Errors[0].Rule != "BR-KSA-37" {
		t.Errorf("Compute with bad seller = %v", err)
	}
}

// TestComputeBoundsSaleBuiltInCode: a Sale that did not come through
// DecodeSale is held to the same digit bounds instead of exhausting memory.
func TestComputeBoundsSaleBuiltInCode(t *testing.T) {
	s, err := DecodeSale([]byte(saleBody(exLine("1", "1", "0.15"))))
	if err != nil {
		t.Fatal(err)
	}
	huge := decimal.New(1, 1_000_000_000)
	s.Lines[0].Quantity = &huge
	_, err = Compute(s, testSeller(t))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Field != "lineitems[0].quantity" || ve.Errors[0].Rule != RuleType {
		t.Fatalf("err = %v", err)
	}
	s.Lines[0].Quantity = nil
	s.Lines[0].NameAr = "bad \xff byte"
	one := decimal.NewFromInt(1)
	s.Lines[0].Quantity = &one
	_, err = Compute(s, testSeller(t))
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Field != "lineitems[0].name_ar" || ve.Errors[0].Rule != RuleText {
		t.Fatalf("err = %v", err)
	}
}
