package ubl

import (
	"path/filepath"
	"testing"
)

// BenchmarkInvoiceHash: C14N 1.1 with the exclusions plus SHA-256 of the
// official simplified sample (the bulk of the issue path).
func BenchmarkInvoiceHash(b *testing.B) {
	doc := readFile(b, filepath.Join(samplesDir, "Simplified/Invoice/Simplified_Invoice.xml"))
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := InvoiceHash(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuild: Document to unsigned XML.
func BenchmarkBuild(b *testing.B) {
	doc, h := fixtureInvoice(), fixtureHeader(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(doc, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign: hash, secp256k1 signature (decred, as hsm/softkey), XAdES
// block and QR for the fixture invoice.
func BenchmarkSign(b *testing.B) {
	key, crt := sdkKeyAndCert(b)
	unsigned, err := Build(fixtureInvoice(), fixtureHeader(1))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(unsigned, key, crt, signingTime); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssue: Build then Sign, the agent/ubl part of one sale.
func BenchmarkIssue(b *testing.B) {
	key, crt := sdkKeyAndCert(b)
	doc, h := fixtureInvoice(), fixtureHeader(1)
	b.ReportAllocs()
	for b.Loop() {
		unsigned, err := Build(doc, h)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Sign(unsigned, key, crt, signingTime); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify: every check of a signed document.
func BenchmarkVerify(b *testing.B) {
	s, _, _ := signedFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(s.XML, VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
