package ubl

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

func addSeeds(f *testing.F) {
	for _, rel := range []string{
		"Simplified/Invoice/Simplified_Invoice.xml",
		"Simplified/Credit/Credit Note of a Simplified Tax Invoice.xml",
		"Standard/Invoice/Standard_Invoice.xml",
	} {
		f.Add(readFile(f, filepath.Join(samplesDir, rel)))
	}
	s, _, _ := signedFixture(f)
	f.Add(s.XML)
	f.Add([]byte(exclusionDoc))
	for _, d := range edgeDocs {
		f.Add([]byte(d))
	}
}

// FuzzVerify: arbitrary bytes never panic; a failure is always a
// *VerifyError with at least one code; a Verification comes back exactly
// when the document is a well-formed Invoice.
func FuzzVerify(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		v, err := Verify(doc, VerifyOptions{PIH: initialPIH})
		if err == nil {
			if v == nil {
				t.Fatal("nil Verification without an error")
			}
			return
		}
		var vErr *VerifyError
		if !errors.As(err, &vErr) || len(vErr.Failures) == 0 {
			t.Fatalf("error %v is not a non-empty *VerifyError", err)
		}
		if (v == nil) != vErr.Has(CodeInvalidXML) {
			t.Fatalf("Verification %v with codes %v", v != nil, vErr.Codes())
		}
	})
}

// FuzzCanonicalize: the canonicaliser never panics, its output is itself
// well-formed and canonical (canonicalising it again changes nothing), and
// the invoice hash of an input is stable.
func FuzzCanonicalize(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, _, _, err := canonicalize(nil, doc, 0)
		if err != nil {
			return
		}
		again, _, _, err := canonicalize(nil, out, 0)
		if err != nil {
			t.Fatalf("canonical output does not parse: %v\n%q", err, out)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
		h1, err1 := InvoiceHash(doc)
		h2, err2 := InvoiceHash(doc)
		if h1 != h2 || (err1 == nil) != (err2 == nil) {
			t.Fatal("InvoiceHash is not deterministic")
		}
	})
}
