package qr_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/qr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// samplesRoot is the copy of the ZATCA SDK samples in the repository (testdata/zatca).
func samplesRoot(t testing.TB) string {
	t.Helper()
	return "../../testdata/zatca/Samples"
}

type sample struct {
	name string // path relative to Samples/
	doc  *etree.Document
}

func loadSamples(t testing.TB) []sample {
	t.Helper()
	root := samplesRoot(t)
	var out []sample
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".xml") {
			return err
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromFile(p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, sample{name: filepath.ToSlash(rel), doc: doc})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("found %d samples under %s, want the 26 SDK samples", len(out), root)
	}
	return out
}

func text(t *testing.T, doc *etree.Document, path string) string {
	t.Helper()
	el := doc.FindElement(path)
	if el == nil {
		t.Fatalf("no %s", path)
	}
	return el.Text()
}

func qrText(t *testing.T, doc *etree.Document) string {
	t.Helper()
	for _, adr := range doc.FindElements("//cac:AdditionalDocumentReference") {
		if id := adr.FindElement("cbc:ID"); id != nil && id.Text() == "QR" {
			return text(t, etree.NewDocumentWithRoot(adr.Copy()), "//cbc:EmbeddedDocumentBinaryObject")
		}
	}
	t.Fatal("no QR AdditionalDocumentReference")
	return ""
}

// dump renders decoded fields for the golden files.
func dump(f qr.Fields) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "1 seller name: %s\n", f.SellerName)
	fmt.Fprintf(&sb, "2 VAT number: %s\n", f.VATNumber)
	fmt.Fprintf(&sb, "3 timestamp: %s\n", f.Timestamp)
	fmt.Fprintf(&sb, "4 total: %s\n", f.Total)
	fmt.Fprintf(&sb, "5 VAT total: %s\n", f.VATTotal)
	fmt.Fprintf(&sb, "6 invoice hash: %s\n", f.InvoiceHash)
	fmt.Fprintf(&sb, "7 signature: %s\n", f.Signature)
	fmt.Fprintf(&sb, "8 public key: %x\n", f.PublicKey)
	if len(f.CertSignature) > 0 {
		fmt.Fprintf(&sb, "9 certificate signature: %x\n", f.CertSignature)
	}
	return sb.String()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", p, got, want)
	}
}

// TestSDKSamples decodes the QR of every SDK sample, re-encodes it byte for
// byte, and checks each tag against the values in the same XML.
func TestSDKSamples(t *testing.T) {
	for _, s := range loadSamples(t) {
		t.Run(s.name, func(t *testing.T) {
			doc := s.doc
			b64 := qrText(t, doc)
			f, err := qr.DecodeBase64(b64)
			if err != nil {
				t.Fatal(err)
			}
			again, err := qr.EncodeBase64(f)
			if err != nil {
				t.Fatal(err)
			}
			if again != b64 {
				t.Fatalf("re-encoded QR differs:\n got %s\nwant %s", again, b64)
			}

			supplier := "//cac:AccountingSupplierParty/cac:Party/"
			certText := text(t, doc, "//ds:X509Certificate")
			c, err := cert.ParsePEMOrBase64([]byte(certText))
			if err != nil {
				t.Fatal(err)
			}
			simplified := strings.HasPrefix(doc.FindElement("//cbc:InvoiceTypeCode").SelectAttrValue("name", ""), "02")
			want := qr.Fields{
				SellerName: text(t, doc, supplier+"cac:PartyLegalEntity/cbc:RegistrationName"),
				VATNumber:  text(t, doc, supplier+"cac:PartyTaxScheme/cbc:CompanyID"),
				Timestamp:  text(t, doc, "/*/cbc:IssueDate") + "T" + text(t, doc, "/*/cbc:IssueTime"),
				// The SDK writes PayableAmount (SPEC §6.1); the samples differ
				// from TaxInclusiveAmount only in the rounding-adjustment one.
				Total:       text(t, doc, "//cac:LegalMonetaryTotal/cbc:PayableAmount"),
				VATTotal:    text(t, doc, "/*/cac:TaxTotal/cbc:TaxAmount"),
				InvoiceHash: text(t, doc, "//ds:Reference[@Id='invoiceSignedData']/ds:DigestValue"),
				Signature:   text(t, doc, "//ds:SignatureValue"),
				PublicKey:   c.SPKI,
			}
			if simplified {
				want.CertSignature = c.SignatureValue
			}
			if dump(f) != dump(want) {
				t.Errorf("QR fields differ from the XML:\n got:\n%s\nwant:\n%s", dump(f), dump(want))
			}
			golden(t, "samples/"+strings.ReplaceAll(strings.TrimSuffix(s.name, ".xml"), " ", "_")+".golden", []byte(dump(f)))
		})
	}
}

// TestSimplifiedInvoiceValues pins the SPEC §6.1 table.
func TestSimplifiedInvoiceValues(t *testing.T) {
	doc := etree.NewDocument()
	if err := doc.ReadFromFile(filepath.Join(samplesRoot(t), "Simplified/Invoice/Simplified_Invoice.xml")); err != nil {
		t.Fatal(err)
	}
	b64 := qrText(t, doc)
	f, err := qr.DecodeBase64(b64)
	if err != nil {
		t.Fatal(err)
	}
	tlv, _ := base64.StdEncoding.DecodeString(b64)
	checks := []struct {
		name string
		ok   bool
	}{
		{"TLV is 473 bytes", len(tlv) == 473},
		{"base64 is 632 characters", len(b64) == 632},
		{"tag 1 is 111 bytes", len(f.SellerName) == 111},
		{"tag 2 = 399999999900003", f.VATNumber == "399999999900003"},
		{"tag 3 = 2022-08-17T17:41:08", f.Timestamp == "2022-08-17T17:41:08"},
		{"tag 4 = 231.15", f.Total == "231.15"},
		{"tag 5 = 30.15", f.VATTotal == "30.15"},
		{"tag 6 = hash", f.InvoiceHash == "Hss2gNFjBY5OJn/5CEVZSSNUMrSf4QlCMxwsioPN6fA="},
		{"tag 7 is 96 characters", len(f.Signature) == 96},
		{"tag 8 is 88-byte secp256k1 SPKI", len(f.PublicKey) == 88 &&
			hex.EncodeToString(f.PublicKey[:20]) == "3056301006072a8648ce3d020106052b8104000a"},
		{"tag 9 is 71 bytes 3045022100…", len(f.CertSignature) == 71 &&
			hex.EncodeToString(f.CertSignature[:4]) == "30450221"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: failed (fields: %s)", c.name, dump(f))
		}
	}
}

func validFields() qr.Fields {
	return qr.Fields{
		SellerName:    "Maximum Speed Tech Supply LTD",
		VATNumber:     "399999999900003",
		Timestamp:     "2022-08-17T17:41:08",
		Total:         "231.15",
		VATTotal:      "30.15",
		InvoiceHash:   "Hss2gNFjBY5OJn/5CEVZSSNUMrSf4QlCMxwsioPN6fA=",
		Signature:     "MEUCIQDbIeqYEhb2t5Tg4ZHozgPGqDAq2pb7h9bLkWvL2uNW5QIgb1eJaYZ52i2wl0dCeO9ew6SyqBuSuOJ3fvoiTZfoxWc=",
		PublicKey:     append([]byte{0x30, 0x56}, bytes.Repeat([]byte{0xAB}, 86)...),
		CertSignature: append([]byte{0x30, 0x45}, bytes.Repeat([]byte{0xCD}, 69)...),
	}
}

// TestLengthForms pins the encoding of values of 127, 128 and 255 bytes
// (short form, 0x81 LL) and rejects 256.
func TestLengthForms(t *testing.T) {
	var all bytes.Buffer
	for _, n := range []int{1, 127, 128, 255} {
		f := validFields()
		f.SellerName = strings.Repeat("x", n)
		tlv, err := qr.Encode(f)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		hdr := tlv[:3]
		if n < 128 && !bytes.Equal(hdr[:2], []byte{1, byte(n)}) || n >= 128 && !bytes.Equal(hdr, []byte{1, 0x81, byte(n)}) {
			t.Errorf("n=%d: header % x", n, hdr)
		}
		back, err := qr.Decode(tlv)
		if err != nil || back.SellerName != f.SellerName {
			t.Errorf("n=%d: round trip: %v", n, err)
		}
		fmt.Fprintf(&all, "%d: %x\n", n, tlv)
	}
	golden(t, "lengths.golden", all.Bytes())

	f := validFields()
	f.SellerName = strings.Repeat("x", 256)
	_, err := qr.Encode(f)
	var te *qr.TagError
	if !errors.Is(err, qr.ErrValueTooLong) || !errors.As(err, &te) || te.Tag != qr.TagSellerName {
		t.Errorf("256-byte seller name: got %v, want ErrValueTooLong on tag 1", err)
	}
	// Arabic: 2 bytes per character; 64 characters need the long form.
	f.SellerName = strings.Repeat("ش", 64)
	tlv, err := qr.Encode(f)
	if err != nil || !bytes.Equal(tlv[:3], []byte{1, 0x81, 128}) {
		t.Errorf("128-byte Arabic name: % x, %v", tlv[:3], err)
	}
}

func TestEncodeGolden(t *testing.T) {
	f := validFields()
	b64, err := f.Base64()
	if err != nil {
		t.Fatal(err)
	}
	f.CertSignature = nil // a standard document: no tag 9
	std, err := qr.EncodeBase64(f)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := qr.EncodePhase1(qr.Fields{SellerName: "Bobs Records", VATNumber: "310122393500003",
		Timestamp: "2022-04-25T15:30:00Z", Total: "1000.00", VATTotal: "150.00"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "encode.golden", fmt.Appendf(nil, "simplified: %s\nstandard: %s\nphase1: %s\n",
		b64, std, base64.StdEncoding.EncodeToString(p1)))
	if back, err := qr.DecodeBase64(std); err != nil || back.CertSignature != nil {
		t.Errorf("standard QR decodes with tag 9 %x, %v", back.CertSignature, err)
	}
	back, err := qr.DecodePhase1(p1)
	if err != nil || back.SellerName != "Bobs Records" || back.VATTotal != "150.00" {
		t.Errorf("phase 1 round trip: %+v, %v", back, err)
	}
	if _, err := qr.Decode(p1); !errors.Is(err, qr.ErrMissingTag) {
		t.Errorf("phase-2 decode of a phase-1 QR: %v, want ErrMissingTag", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*qr.Fields)
		tag    qr.Tag
		want   error
	}{
		{"no seller name", func(f *qr.Fields) { f.SellerName = "" }, qr.TagSellerName, qr.ErrMissingTag},
		{"no VAT number", func(f *qr.Fields) { f.VATNumber = "" }, qr.TagVATNumber, qr.ErrMissingTag},
		{"no timestamp", func(f *qr.Fields) { f.Timestamp = "" }, qr.TagTimestamp, qr.ErrMissingTag},
		{"no total", func(f *qr.Fields) { f.Total = "" }, qr.TagTotal, qr.ErrMissingTag},
		{"no VAT total", func(f *qr.Fields) { f.VATTotal = "" }, qr.TagVATTotal, qr.ErrMissingTag},
		{"no hash", func(f *qr.Fields) { f.InvoiceHash = "" }, qr.TagInvoiceHash, qr.ErrMissingTag},
		{"no signature", func(f *qr.Fields) { f.Signature = "" }, qr.TagSignature, qr.ErrMissingTag},
		{"no public key", func(f *qr.Fields) { f.PublicKey = nil }, qr.TagPublicKey, qr.ErrMissingTag},
		{"seller name not UTF-8", func(f *qr.Fields) { f.SellerName = "\xff" }, qr.TagSellerName, qr.ErrInvalidValue},
		{"hash not base64", func(f *qr.Fields) { f.InvoiceHash = "not base64!" }, qr.TagInvoiceHash, qr.ErrInvalidValue},
		{"hash as hex", func(f *qr.Fields) {
			f.InvoiceHash = "1ecb3680d1630596394e7ff908455921235432b49fe1094233"
		}, qr.TagInvoiceHash, qr.ErrInvalidValue},
		{"raw hash of 32 bytes", func(f *qr.Fields) { f.InvoiceHash = strings.Repeat("A", 43) + "=" + "AAAA" }, qr.TagInvoiceHash, qr.ErrInvalidValue},
		{"signature not base64", func(f *qr.Fields) { f.Signature = "MEUC IQ==" }, qr.TagSignature, qr.ErrInvalidValue},
		{"tag 8 too long", func(f *qr.Fields) { f.PublicKey = make([]byte, 300) }, qr.TagPublicKey, qr.ErrValueTooLong},
		{"tag 9 too long", func(f *qr.Fields) { f.CertSignature = make([]byte, 256) }, qr.TagCertSignature, qr.ErrValueTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := validFields()
			tt.mutate(&f)
			_, err := qr.Encode(f)
			var te *qr.TagError
			if !errors.Is(err, tt.want) || !errors.As(err, &te) || te.Tag != tt.tag {
				t.Fatalf("got %v, want %v on %v", err, tt.want, tt.tag)
			}
			if !strings.Contains(err.Error(), tt.tag.String()) {
				t.Errorf("message %q does not name %v", err, tt.tag)
			}
		})
	}
	f := validFields()
	f.InvoiceHash = ""
	if _, err := qr.EncodePhase1(validFields()); !errors.Is(err, qr.ErrUnexpected) {
		t.Errorf("phase 1 with tags 6-9: %v, want ErrUnexpected", err)
	}
}

// TestTooLong checks BR-CL-KSA-14: more than 1000 base64 characters.
func TestTooLong(t *testing.T) {
	f := validFields()
	f.SellerName = strings.Repeat("a", 255)
	f.PublicKey = make([]byte, 255)
	f.CertSignature = make([]byte, 35) // 750 TLV bytes: exactly 1000 characters
	s, err := qr.EncodeBase64(f)
	if err != nil || len(s) != qr.MaxBase64Len {
		t.Fatalf("%d characters, %v; want exactly %d", len(s), err, qr.MaxBase64Len)
	}
	if _, err := qr.DecodeBase64(s); err != nil {
		t.Errorf("decode of 1000 characters: %v", err)
	}
	f.CertSignature = make([]byte, 36) // 751 bytes: 1004 characters
	if _, err := qr.EncodeBase64(f); !errors.Is(err, qr.ErrTooLong) {
		t.Fatalf("751 TLV bytes: got %v, want ErrTooLong", err)
	}
	if _, err := qr.DecodeBase64(s + "AAAA"); !errors.Is(err, qr.ErrTooLong) {
		t.Errorf("decode of 1004 characters: %v, want ErrTooLong", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := qr.Encode(validFields())
	if err != nil {
		t.Fatal(err)
	}
	tag1 := []byte{1, 3, 'a', 'b', 'c'}
	// splice returns good with its first TLV (tag 1, 29 bytes) replaced.
	rest := good[2+len(validFields().SellerName):]
	splice := func(head ...byte) []byte { return append(head, rest...) }
	tests := []struct {
		name   string
		in     []byte
		tag    qr.Tag
		offset int
		want   error
	}{
		{"empty", nil, qr.TagSellerName, -1, qr.ErrMissingTag},
		{"unknown tag 0", append([]byte{0, 1, 'x'}, good...), 0, 0, qr.ErrUnknownTag},
		{"unknown tag 10", append(bytes.Clone(good), 10, 1, 'x'), 10, len(good), qr.ErrUnknownTag},
		{"duplicate tag 1", append(append([]byte{}, tag1...), good...), qr.TagSellerName, 5, qr.ErrDuplicateTag},
		{"duplicate tag 9", append(bytes.Clone(good), good[len(good)-73:]...), qr.TagCertSignature, len(good), qr.ErrDuplicateTag},
		{"out of order", append(bytes.Clone(good[:len(good)-73]), 2, 1, '3'), qr.TagVATNumber, len(good) - 73, qr.ErrOutOfOrder},
		{"gap: tag 2 missing", append([]byte{1, 1, 'a'}, good[2+29+2+15:]...), qr.TagVATNumber, -1, qr.ErrMissingTag},
		{"truncated value", good[:len(good)-1], qr.TagCertSignature, len(good) - 73, qr.ErrTruncated},
		{"truncated length", append(bytes.Clone(good[:len(good)-73]), 9), qr.TagCertSignature, len(good) - 73, qr.ErrTruncated},
		{"truncated long form", []byte{1, 0x81}, qr.TagSellerName, 0, qr.ErrTruncated},
		{"0x82 length form", splice(1, 0x82, 0, 3, 'a', 'b', 'c'), qr.TagSellerName, 0, qr.ErrBadLength},
		{"indefinite length", splice(1, 0x80, 'a', 0, 0), qr.TagSellerName, 0, qr.ErrBadLength},
		{"non-minimal 0x81", splice(1, 0x81, 3, 'a', 'b', 'c'), qr.TagSellerName, 0, qr.ErrBadLength},
		{"empty value", splice(1, 0), qr.TagSellerName, 0, qr.ErrEmptyValue},
		{"bad UTF-8", splice(1, 2, 0xc3, 0x28), qr.TagSellerName, 0, qr.ErrInvalidValue},
		{"tags 1-8 only up to 7", good[:len(good)-73-90], qr.TagPublicKey, -1, qr.ErrMissingTag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := qr.Decode(tt.in)
			var te *qr.TagError
			if !errors.Is(err, tt.want) || !errors.As(err, &te) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if te.Tag != tt.tag || te.Offset != tt.offset {
				t.Errorf("got tag %v offset %d, want %v offset %d (%v)", te.Tag, te.Offset, tt.tag, tt.offset, err)
			}
		})
	}
	if _, err := qr.DecodeBase64("AQNhYmM"); !errors.Is(err, qr.ErrBase64) {
		t.Errorf("unpadded base64: %v, want ErrBase64", err)
	}
	if _, err := qr.DecodePhase1(good); !errors.Is(err, qr.ErrUnknownTag) {
		t.Errorf("phase-1 decode of a phase-2 QR: %v, want ErrUnknownTag", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range loadSamples(f) {
		for _, adr := range s.doc.FindElements("//cac:AdditionalDocumentReference") {
			if id := adr.FindElement("cbc:ID"); id != nil && id.Text() == "QR" {
				b, _ := base64.StdEncoding.DecodeString(adr.FindElement(".//cbc:EmbeddedDocumentBinaryObject").Text())
				f.Add(b)
			}
		}
	}
	good, _ := qr.Encode(validFields())
	f.Add(good)
	f.Add([]byte{1, 0x81, 0x80})
	f.Fuzz(func(t *testing.T, tlv []byte) {
		fields, err := qr.Decode(tlv)
		if err != nil {
			var te *qr.TagError
			if !errors.As(err, &te) && !errors.Is(err, qr.ErrTooLong) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// The decoder is strict: what it accepts re-encodes to the same bytes.
		again, err := qr.Encode(fields)
		if err != nil {
			t.Fatalf("accepted input does not re-encode: %v", err)
		}
		if !bytes.Equal(again, tlv) {
			t.Fatalf("re-encoding differs:\n in % x\nout % x", tlv, again)
		}
	})
}

func BenchmarkEncodeBase64(b *testing.B) {
	f := validFields()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := qr.EncodeBase64(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBase64(b *testing.B) {
	s, err := qr.EncodeBase64(validFields())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := qr.DecodeBase64(s); err != nil {
			b.Fatal(err)
		}
	}
}
