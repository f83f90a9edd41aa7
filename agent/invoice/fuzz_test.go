package invoice

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecodeSale: decoding never panics, and whatever decodes either
// computes into a document that passes the ZATCA checks or fails with a
// *ValidationError.
func FuzzDecodeSale(f *testing.F) {
	for _, pattern := range []string{"*.json", "invalid/*.json"} {
		files, _ := filepath.Glob(filepath.Join(salesDir, pattern))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(validInvoice))
	f.Add([]byte(validCredit))
	f.Add([]byte(validSummary))
	f.Add([]byte(`{"lineitems":[{"quantity":1e5}]}`))
	f.Add([]byte(`{"a":[[[[[[]]]]]]}`))
	seller := testSeller(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSale(data)
		var ve *ValidationError
		if err != nil {
			if s != nil || !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("DecodeSale = %v, %v", s, err)
			}
			return
		}
		d, err := Compute(s, seller)
		if err != nil {
			if d != nil || !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("Compute = %v, %v", d, err)
			}
			for _, fe := range ve.Errors {
				if fe.Rule == "" || fe.Message == "" {
					t.Fatalf("incomplete field error %+v", fe)
				}
			}
			return
		}
		if v := zatcaCheck(d); len(v) > 0 {
			t.Fatalf("computed document fails:\n  %s\ninput: %s", strings.Join(v, "\n  "), data)
		}
	})
}
