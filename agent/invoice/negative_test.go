package invoice

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// Valid fixtures the negative table mutates, one field at a time.
const (
	validInvoice = `{
	"idempotency_key": "neg-0001",
	"doc_type": "388",
	"payment_means": "10",
	"lineitems": [
		{"name_ar": "قلم", "name_en": "Pen", "quantity": "2", "tax_exclusive_price": "10.00", "tax_percentage": "0.15", "tax_category": "S",
		 "discounts": [{"amount": "1.00", "reason": "promo"}]},
		{"name_ar": "دواء", "quantity": "1", "tax_exclusive_price": "5.00", "tax_percentage": "0", "tax_category": "Z", "tax_reason_code": "VATEX-SA-35"}
	],
	"party_details": {"party_name_ar": "عميل", "party_vat": "300000000000003", "party_add_id": {"crn": "12345"}, "postal_zone": "12345"}
}`
	validCredit = `{
	"idempotency_key": "neg-0002",
	"doc_type": "381",
	"notes_details": {"related_doc_reference": "INV-1", "reason_text": "Refund"},
	"lineitems": [{"name_ar": "قلم", "quantity": "1", "tax_exclusive_price": "10.00", "tax_percentage": "0.15", "tax_category": "S"}]
}`
	validSummary = `{
	"idempotency_key": "neg-0003",
	"doc_type": "388",
	"summary": true,
	"supply_date": "2026-11-01",
	"supply_end_date": "2026-11-20",
	"party_details": {"party_name_ar": "خالد"},
	"lineitems": [{"name_ar": "اشتراك", "quantity": "1", "tax_exclusive_price": "300", "tax_percentage": "0.15", "tax_category": "S"}]
}`
)

// del marks a member to remove.
var del = struct{}{}

type set struct {
	path  string
	value any
}

// mutate applies sets to a JSON document. Paths use dots and [i].
func mutate(t *testing.T, base string, sets ...set) []byte {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(base))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		t.Fatal(err)
	}
	for _, s := range sets {
		root = setPath(t, root, splitPath(s.path), s.value)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func splitPath(p string) []string {
	p = strings.ReplaceAll(p, "[", ".[")
	return strings.Split(p, ".")
}

func setPath(t *testing.T, node any, path []string, v any) any {
	t.Helper()
	key := path[0]
	if strings.HasPrefix(key, "[") {
		i, err := strconv.Atoi(strings.Trim(key, "[]"))
		if err != nil {
			t.Fatal(err)
		}
		arr := node.([]any)
		if i == len(arr) {
			arr = append(arr, map[string]any{})
		}
		if len(path) == 1 {
			arr[i] = v
		} else {
			arr[i] = setPath(t, arr[i], path[1:], v)
		}
		return arr
	}
	m := node.(map[string]any)
	if len(path) == 1 {
		if v == del {
			delete(m, key)
		} else {
			m[key] = v
		}
		return m
	}
	child, ok := m[key]
	if !ok {
		child = map[string]any{}
	}
	m[key] = setPath(t, child, path[1:], v)
	return m
}

func TestValidFixturesPass(t *testing.T) {
	for _, base := range []string{validInvoice, validCredit, validSummary} {
		mustCompute(t, string(mutate(t, base)))
	}
}

// TestNegative changes one thing in a valid sale and expects exactly one
// error, with that rule ID and field path, and no Document.
func TestNegative(t *testing.T) {
	long := func(n int) string { return strings.Repeat("ب", n) }
	tests := []struct {
		name  string
		base  string
		sets  []set
		field string
		rule  string
	}{
		// header
		{"idempotency key missing", validInvoice, []set{{"idempotency_key", del}}, "idempotency_key", RuleRequired},
		{"idempotency key with a space", validInvoice, []set{{"idempotency_key", "a b"}}, "idempotency_key", RuleType},
		{"idempotency key too long", validInvoice, []set{{"idempotency_key", strings.Repeat("k", 129)}}, "idempotency_key", RuleType},
		{"idempotency key not a string", validInvoice, []set{{"idempotency_key", 7}}, "idempotency_key", RuleType},
		{"doc type missing", validInvoice, []set{{"doc_type", del}}, "doc_type", "BR-04"},
		{"doc type prepayment", validInvoice, []set{{"doc_type", "386"}}, "doc_type", "BR-KSA-05"},
		{"doc type as number 380", validInvoice, []set{{"doc_type", json.Number("380")}}, "doc_type", "BR-KSA-05"},
		{"doc type boolean", validInvoice, []set{{"doc_type", true}}, "doc_type", RuleType},
		{"payment means unknown", validInvoice, []set{{"payment_means", "99"}}, "payment_means", "BR-KSA-16"},
		{"invoice number too long", validInvoice, []set{{"invoice_ref_number", strings.Repeat("9", 128)}}, "invoice_ref_number", "BR-KSA-F-06-C1"},
		{"invoice number with a control character", validInvoice, []set{{"invoice_ref_number", "A\x01B"}}, "invoice_ref_number", RuleText},
		{"invoice number with a carriage return", validInvoice, []set{{"invoice_ref_number", "A\rB"}}, "invoice_ref_number", RuleText},
		{"supply date not a date", validInvoice, []set{{"supply_date", "2026-02-30"}}, "supply_date", "BR-KSA-F-01"},
		{"supply date short year", validInvoice, []set{{"supply_date", "26-11-01"}}, "supply_date", "BR-KSA-F-01"},
		{"supply end date without start", validInvoice, []set{{"supply_end_date", "2026-11-01"}}, "supply_date", "BR-KSA-35"},
		{"supply end before start", validInvoice, []set{{"supply_date", "2026-11-10"}, {"supply_end_date", "2026-11-01"}}, "supply_end_date", "BR-KSA-36"},
		{"summary flag not boolean", validInvoice, []set{{"summary", "yes"}}, "summary", RuleType},
		{"summary without end date", validSummary, []set{{"supply_end_date", del}}, "supply_end_date", "BR-KSA-72"},
		{"summary without start date", validSummary, []set{{"supply_date", del}}, "supply_date", "BR-KSA-72"},
		{"summary without buyer name", validSummary, []set{{"party_details.party_name_ar", del}}, "party_details.party_name_ar", "BR-KSA-71"},
		{"summary end before start", validSummary, []set{{"supply_end_date", "2026-10-31"}}, "supply_end_date", "BR-KSA-36"},
		{"unknown top-level field", validInvoice, []set{{"foo", 1}}, "foo", RuleUnknownField},
		// notes
		{"notes on an invoice", validInvoice, []set{{"notes_details", map[string]any{"related_doc_reference": "X", "reason_text": "Y"}}}, "notes_details", RuleNotes},
		{"note without reason", validCredit, []set{{"notes_details.reason_text", del}}, "notes_details.reason_text", "BR-KSA-17"},
		{"note with blank reason", validCredit, []set{{"notes_details.reason_text", "  "}}, "notes_details.reason_text", "BR-KSA-17"},
		{"note without billing reference", validCredit, []set{{"notes_details.related_doc_reference", del}}, "notes_details.related_doc_reference", "BR-KSA-56"},
		{"note reason too long", validCredit, []set{{"notes_details.reason_text", long(1001)}}, "notes_details.reason_text", "BR-KSA-F-06-C13"},
		{"note reference too long", validCredit, []set{{"notes_details.related_doc_reference", strings.Repeat("1", 5001)}}, "notes_details.related_doc_reference", "BR-KSA-F-06-C22"},
		{"note reason with NUL", validCredit, []set{{"notes_details.reason_text", "a\x00b"}}, "notes_details.reason_text", RuleText},
		{"note unknown field", validCredit, []set{{"notes_details.date", "x"}}, "notes_details.date", RuleUnknownField},
		{"debit note without notes", validCredit, []set{{"doc_type", "383"}, {"notes_details.related_doc_reference", del}}, "notes_details.related_doc_reference", "BR-KSA-56"},
		// lines
		{"no lines", validInvoice, []set{{"lineitems", []any{}}}, "lineitems", "BR-16"},
		{"lines not an array", validInvoice, []set{{"lineitems", "x"}}, "lineitems", RuleType},
		{"line not an object", validInvoice, []set{{"lineitems[1]", "x"}}, "lineitems[1]", RuleType},
		{"name missing", validInvoice, []set{{"lineitems[0].name_ar", del}}, "lineitems[0].name_ar", "BR-25"},
		{"name blank", validInvoice, []set{{"lineitems[0].name_ar", " \t "}}, "lineitems[0].name_ar", "BR-25"},
		{"name not a string", validInvoice, []set{{"lineitems[0].name_ar", 5}}, "lineitems[0].name_ar", RuleType},
		{"Arabic name too long", validInvoice, []set{{"lineitems[1].name_ar", long(1001)}}, "lineitems[1].name_ar", "BR-KSA-F-06-C19"},
		{"Arabic | English name too long", validInvoice, []set{{"lineitems[0].name_ar", long(500)}, {"lineitems[0].name_en", strings.Repeat("e", 498)}}, "lineitems[0].name_en", "BR-KSA-F-06-C19"},
		{"English name blank", validInvoice, []set{{"lineitems[0].name_en", " "}}, "lineitems[0].name_en", RuleText},
		{"quantity missing", validInvoice, []set{{"lineitems[0].quantity", del}}, "lineitems[0].quantity", "BR-22"},
		{"quantity null", validInvoice, []set{{"lineitems[0].quantity", nil}}, "lineitems[0].quantity", "BR-22"},
		{"quantity zero", validInvoice, []set{{"lineitems[0].quantity", "0"}}, "lineitems[0].quantity", "BR-22"},
		{"quantity negative", validInvoice, []set{{"lineitems[0].quantity", "-1"}}, "lineitems[0].quantity", "BR-KSA-F-04"},
		{"quantity not a number", validInvoice, []set{{"lineitems[0].quantity", "two"}}, "lineitems[0].quantity", RuleType},
		{"quantity boolean", validInvoice, []set{{"lineitems[0].quantity", true}}, "lineitems[0].quantity", RuleType},
		{"quantity with exponent", validInvoice, []set{{"lineitems[0].quantity", json.Number("2e0")}}, "lineitems[0].quantity", RuleType},
		{"quantity with spaces", validInvoice, []set{{"lineitems[0].quantity", " 2"}}, "lineitems[0].quantity", RuleType},
		{"quantity too many digits", validInvoice, []set{{"lineitems[0].quantity", "1.12345678901"}}, "lineitems[0].quantity", RuleType},
		{"no price", validInvoice, []set{{"lineitems[0].tax_exclusive_price", del}}, "lineitems[0].tax_exclusive_price", "BR-26"},
		{"both prices", validInvoice, []set{{"lineitems[0].tax_inclusive_price", "11.50"}}, "lineitems[0].tax_inclusive_price", RulePrice},
		{"negative price", validInvoice, []set{{"lineitems[0].tax_exclusive_price", "-0.01"}}, "lineitems[0].tax_exclusive_price", "BR-KSA-F-04"},
		{"negative inclusive price", validInvoice, []set{{"lineitems[1].tax_exclusive_price", del}, {"lineitems[1].tax_inclusive_price", "-5"}}, "lineitems[1].tax_inclusive_price", "BR-KSA-F-04"},
		{"standard rate 10%", validInvoice, []set{{"lineitems[0].tax_percentage", "0.10"}}, "lineitems[0].tax_percentage", "BR-KSA-84"},
		{"standard rate 0%", validInvoice, []set{{"lineitems[0].tax_percentage", "0"}}, "lineitems[0].tax_percentage", "BR-KSA-84"},
		{"standard rate missing", validInvoice, []set{{"lineitems[0].tax_percentage", del}}, "lineitems[0].tax_percentage", "BR-KSA-84"},
		{"rate given as a percentage", validInvoice, []set{{"lineitems[0].tax_percentage", "15"}}, "lineitems[0].tax_percentage", "BR-KSA-DEC-02"},
		{"rate with 3 percent decimals", validInvoice, []set{{"lineitems[0].tax_percentage", "0.15555"}}, "lineitems[0].tax_percentage", "BR-KSA-DEC-02"},
		{"negative rate", validInvoice, []set{{"lineitems[0].tax_percentage", "-0.15"}}, "lineitems[0].tax_percentage", "BR-KSA-DEC-02"},
		{"category missing", validInvoice, []set{{"lineitems[0].tax_category", del}}, "lineitems[0].tax_category", "BR-CO-04"},
		{"category unknown", validInvoice, []set{{"lineitems[0].tax_category", "X"}}, "lineitems[0].tax_category", "BR-KSA-18"},
		{"category lower case", validInvoice, []set{{"lineitems[0].tax_category", "s"}}, "lineitems[0].tax_category", "BR-KSA-18"},
		{"exemption code on S", validInvoice, []set{{"lineitems[0].tax_reason_code", "VATEX-SA-35"}}, "lineitems[0].tax_reason_code", "BR-S-10"},
		{"exemption text on S", validInvoice, []set{{"lineitems[0].tax_reason_text", "x"}}, "lineitems[0].tax_reason_text", "BR-S-10"},
		{"zero rated with 15%", validInvoice, []set{{"lineitems[1].tax_percentage", "0.15"}}, "lineitems[1].tax_percentage", "BR-Z-05"},
		{"zero rated without code", validInvoice, []set{{"lineitems[1].tax_reason_code", del}}, "lineitems[1].tax_reason_code", "BR-KSA-69"},
		{"zero rated with exempt code", validInvoice, []set{{"lineitems[1].tax_reason_code", "VATEX-SA-29"}}, "lineitems[1].tax_reason_code", "BR-KSA-CL-04"},
		{"unknown code", validInvoice, []set{{"lineitems[1].tax_reason_code", "VATEX-SA-99"}}, "lineitems[1].tax_reason_code", "BR-KSA-CL-04"},
		{"diplomat code is not in the POS list", validInvoice, []set{{"lineitems[1].tax_reason_code", "VATEX-SA-DIPLOMAT"}}, "lineitems[1].tax_reason_code", "BR-KSA-CL-04"},
		{"reason text of another code", validInvoice, []set{{"lineitems[1].tax_reason_text", "Export of goods"}}, "lineitems[1].tax_reason_text", "BR-KSA-83"},
		{"exempt with zero-rated code", validInvoice, []set{{"lineitems[1].tax_category", "E"}}, "lineitems[1].tax_reason_code", "BR-KSA-CL-04"},
		{"exempt without code", validInvoice, []set{{"lineitems[1].tax_category", "E"}, {"lineitems[1].tax_reason_code", del}}, "lineitems[1].tax_reason_code", "BR-KSA-23"},
		{"exempt with 5%", validInvoice, []set{{"lineitems[1].tax_category", "E"}, {"lineitems[1].tax_reason_code", "VATEX-SA-30"}, {"lineitems[1].tax_percentage", "0.05"}}, "lineitems[1].tax_percentage", "BR-E-05"},
		{"out of scope without code", validInvoice, []set{{"lineitems[1].tax_category", "O"}, {"lineitems[1].tax_reason_code", del}}, "lineitems[1].tax_reason_code", "BR-KSA-24"},
		{"out of scope without text", validInvoice, []set{{"lineitems[1].tax_category", "O"}, {"lineitems[1].tax_reason_code", "VATEX-SA-OOS"}}, "lineitems[1].tax_reason_text", "BR-KSA-83"},
		{"out of scope with 15%", validInvoice, []set{{"lineitems[1].tax_category", "O"}, {"lineitems[1].tax_reason_code", "VATEX-SA-OOS"}, {"lineitems[1].tax_reason_text", "x"}, {"lineitems[1].tax_percentage", "0.15"}}, "lineitems[1].tax_percentage", "BR-KSA-11"},
		{"reason text too long", validInvoice, []set{{"lineitems[1].tax_category", "O"}, {"lineitems[1].tax_reason_code", "VATEX-SA-OOS"}, {"lineitems[1].tax_reason_text", long(1001)}}, "lineitems[1].tax_reason_text", "BR-KSA-F-06-C16"},
		{"two zero-rated codes in one document", validInvoice, []set{{"lineitems[2]", map[string]any{"name_ar": "تصدير", "quantity": "1", "tax_exclusive_price": "1", "tax_category": "Z", "tax_reason_code": "VATEX-SA-32"}}}, "lineitems[2].tax_reason_code", "BR-Z-08"},
		{"two exempt codes in one document", validInvoice, []set{{"lineitems[1].tax_category", "E"}, {"lineitems[1].tax_reason_code", "VATEX-SA-30"}, {"lineitems[2]", map[string]any{"name_ar": "تأمين", "quantity": "1", "tax_exclusive_price": "1", "tax_category": "E", "tax_reason_code": "VATEX-SA-29"}}}, "lineitems[2].tax_reason_code", "BR-E-08"},
		{"two out-of-scope reasons in one document", validInvoice, []set{{"lineitems[1].tax_category", "O"}, {"lineitems[1].tax_reason_code", "VATEX-SA-OOS"}, {"lineitems[1].tax_reason_text", "fee"}, {"lineitems[2]", map[string]any{"name_ar": "رسوم", "quantity": "1", "tax_exclusive_price": "1", "tax_category": "O", "tax_reason_code": "VATEX-SA-OOS", "tax_reason_text": "other fee"}}}, "lineitems[2].tax_reason_text", "BR-O-08"},
		{"unknown line field", validInvoice, []set{{"lineitems[0].colour", "red"}}, "lineitems[0].colour", RuleUnknownField},
		// discounts
		{"discounts not an array", validInvoice, []set{{"lineitems[0].discounts", "x"}}, "lineitems[0].discounts", RuleType},
		{"discount amount missing", validInvoice, []set{{"lineitems[0].discounts[0].amount", del}}, "lineitems[0].discounts[0].amount", "BR-41"},
		{"discount negative", validInvoice, []set{{"lineitems[0].discounts[0].amount", "-1"}}, "lineitems[0].discounts[0].amount", "BR-KSA-F-04"},
		{"discount with 3 decimals", validInvoice, []set{{"lineitems[0].discounts[0].amount", "1.005"}}, "lineitems[0].discounts[0].amount", "BR-DEC-24"},
		{"discount reason missing", validInvoice, []set{{"lineitems[0].discounts[0].reason", del}}, "lineitems[0].discounts[0].reason", "BR-42"},
		{"discount reason too long", validInvoice, []set{{"lineitems[0].discounts[0].reason", long(1001)}}, "lineitems[0].discounts[0].reason", "BR-KSA-F-06-C36"},
		{"discount above the line gross", validInvoice, []set{{"lineitems[0].discounts[0].amount", "20.01"}}, "lineitems[0].discounts", "BR-KSA-F-04"},
		{"discount unknown field", validInvoice, []set{{"lineitems[0].discounts[0].percent", "10"}}, "lineitems[0].discounts[0].percent", RuleUnknownField},
		// buyer
		{"buyer VAT equals seller VAT", validInvoice, []set{{"party_details.party_vat", "399999999900003"}}, "party_details.party_vat", "BR-CUSTOM-VALIDATION-01"},
		{"buyer VAT short", validInvoice, []set{{"party_details.party_vat", "123"}}, "party_details.party_vat", "BR-KSA-44"},
		{"buyer VAT ends with 4", validInvoice, []set{{"party_details.party_vat", "399999999800004"}}, "party_details.party_vat", "BR-KSA-44"},
		{"buyer ID not alphanumeric", validInvoice, []set{{"party_details.party_add_id.crn", "12-34"}}, "party_details.party_add_id.crn", "BR-KSA-14"},
		{"buyer ID unknown scheme", validInvoice, []set{{"party_details.party_add_id.xyz", "1"}, {"party_details.party_add_id.crn", del}}, "party_details.party_add_id.xyz", RuleUnknownField},
		{"buyer ID twice", validInvoice, []set{{"party_details.party_add_id.nat", "1"}}, "party_details.party_add_id", "BR-KSA-14"},
		{"buyer ID empty", validInvoice, []set{{"party_details.party_add_id", map[string]any{}}}, "party_details.party_add_id", "BR-KSA-14"},
		{"buyer postal code 4 digits", validInvoice, []set{{"party_details.postal_zone", "1234"}}, "party_details.postal_zone", "BR-KSA-67"},
		{"buyer name too long", validInvoice, []set{{"party_details.party_name_ar", long(1001)}}, "party_details.party_name_ar", "BR-KSA-F-06-C32"},
		{"buyer street too long", validInvoice, []set{{"party_details.street_ar", long(1001)}}, "party_details.street_ar", "BR-KSA-F-06-C24"},
		{"buyer city too long", validInvoice, []set{{"party_details.city_ar", long(128)}}, "party_details.city_ar", "BR-KSA-F-06-C26"},
		{"buyer district too long", validInvoice, []set{{"party_details.city_subdivision_ar", long(128)}}, "party_details.city_subdivision_ar", "BR-KSA-F-06-C29"},
		{"buyer unknown field", validInvoice, []set{{"party_details.email", "a@b.sa"}}, "party_details.email", RuleUnknownField},
		{"education to a citizen without national ID", validInvoice, []set{{"lineitems[1].tax_reason_code", "VATEX-SA-EDU"}}, "party_details.party_add_id", "BR-KSA-49"},
		{"healthcare to a citizen without buyer name", validInvoice, []set{{"lineitems[1].tax_reason_code", "VATEX-SA-HEA"}, {"party_details.party_add_id", map[string]any{"nat": "1098765432"}}, {"party_details.party_name_ar", del}}, "party_details.party_name_ar", "BR-KSA-25"},
	}
	seller := testSeller(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := mutate(t, tt.base, tt.sets...)
			var d *Document
			s, err := DecodeSale(body)
			if err == nil {
				d, err = Compute(s, seller)
			}
			if d != nil {
				t.Fatalf("a Document was returned for an invalid sale")
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError\nbody: %s", err, body)
			}
			if len(ve.Errors) != 1 || ve.Errors[0].Field != tt.field || ve.Errors[0].Rule != tt.rule {
				t.Fatalf("errors = %v\nwant exactly one: %s %s", ve.Errors, tt.field, tt.rule)
			}
			if ve.Errors[0].Message == "" {
				t.Error("empty message")
			}
		})
	}
}

// TestAllErrorsAtOnce: independent problems are all reported together.
func TestAllErrorsAtOnce(t *testing.T) {
	body := mutate(t, validInvoice,
		set{"doc_type", "380"},
		set{"lineitems[0].tax_percentage", "0.10"},
		set{"lineitems[1].quantity", "0"},
		set{"party_details.party_vat", "1"},
	)
	s, err := DecodeSale(body)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Compute(s, testSeller(t))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	want := []string{"doc_type BR-KSA-05", "lineitems[0].tax_percentage BR-KSA-84", "lineitems[1].quantity BR-22", "party_details.party_vat BR-KSA-44"}
	var got []string
	for _, fe := range ve.Errors {
		got = append(got, fe.Field+" "+fe.Rule)
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("errors = %q, want %q", got, want)
	}
	// The JSON form the socket API returns.
	js, err := json.Marshal(ve)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `{"field":"lineitems[0].tax_percentage","rule":"BR-KSA-84","message":"standard rate must be 5% or 15%"}`) {
		t.Errorf("JSON = %s", js)
	}
}
