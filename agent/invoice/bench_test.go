package invoice

import "testing"

const benchSale = `{"idempotency_key":"bench","doc_type":"388","payment_means":"48","lineitems":[
	{"name_ar":"قهوة عربية","name_en":"Arabic coffee","quantity":"2","tax_exclusive_price":"13.05","tax_percentage":"0.15","tax_category":"S"},
	{"name_ar":"كعكة","name_en":"Cake","quantity":"1","tax_inclusive_price":"17.25","tax_percentage":"0.15","tax_category":"S","discounts":[{"amount":"0.75","reason":"Staff"}]},
	{"name_ar":"ماء","name_en":"Water","quantity":"3","tax_inclusive_price":"1.50","tax_percentage":"0.15","tax_category":"S"},
	{"name_ar":"تمر","name_en":"Dates (kg)","quantity":"1.235","tax_exclusive_price":"42.00","tax_percentage":"0.05","tax_category":"S"},
	{"name_ar":"دواء","name_en":"Medicine","quantity":"1","tax_exclusive_price":"24.90","tax_percentage":"0","tax_category":"Z","tax_reason_code":"VATEX-SA-35"}]}`

// BenchmarkCompute: validation and arithmetic of a 5-line sale.
func BenchmarkCompute(b *testing.B) {
	s, err := DecodeSale([]byte(benchSale))
	if err != nil {
		b.Fatal(err)
	}
	seller := testSeller(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compute(s, seller); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSale: strict decoding of the same 5-line sale.
func BenchmarkDecodeSale(b *testing.B) {
	data := []byte(benchSale)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeSale(data); err != nil {
			b.Fatal(err)
		}
	}
}
