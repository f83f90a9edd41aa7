package ubl

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/qr"
)

// TestSamplesGolden is the gate on the official SDK samples: for every
// sample the recomputed invoice hash equals its DigestValue (read with a
// regular expression, not this package's parser), CertDigest and the
// SignedProperties digest are reproduced from our template, the signature
// verifies with the sample certificate, every QR tag decodes and matches,
// and Verify passes. Canonical forms and digests are golden files.
func TestSamplesGolden(t *testing.T) {
	var summary bytes.Buffer
	for _, rel := range sampleFiles(t) {
		t.Run(rel, func(t *testing.T) {
			doc := readFile(t, filepath.Join(samplesDir, rel))
			signed := bytes.Contains(doc, []byte(`Id="invoiceSignedData"`))
			if signed == unsignedSamples[rel] {
				t.Fatalf("signed=%v but unsignedSamples lists it as %v: update the list", signed, unsignedSamples[rel])
			}
			canon, err := CanonicalInvoice(doc)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "samples/"+goldenName(rel)+".c14n", canon)
			sum := sha256.Sum256(canon)
			hash := base64.StdEncoding.EncodeToString(sum[:])
			if got, err := InvoiceHashBase64(doc); err != nil || got != hash {
				t.Fatalf("InvoiceHashBase64 = %q, %v; want %q", got, err, hash)
			}
			if !signed {
				return
			}

			want := textOfTag(t, doc, `Id="invoiceSignedData"`, "ds:DigestValue")
			if hash != want {
				t.Errorf("invoice hash %s, DigestValue %s", hash, want)
			}
			certText := textOfTag(t, doc, "<ds:X509Data>", "ds:X509Certificate")
			certDigest := textOfTag(t, doc, "<xades:CertDigest>", "ds:DigestValue")
			if got := CertDigest(certText); got != certDigest {
				t.Errorf("CertDigest = %s, sample has %s", got, certDigest)
			}
			propsDigest := textOfTag(t, doc, `URI="#xadesSignedProperties"`, "ds:DigestValue")
			signingTime := textOfTag(t, doc, "<xades:SignedSignatureProperties>", "xades:SigningTime")
			issuer := textOfTag(t, doc, "<xades:IssuerSerial>", "ds:X509IssuerName")
			serial := textOfTag(t, doc, "<xades:IssuerSerial>", "ds:X509SerialNumber")
			if got := SignedPropertiesDigest(signingTime, certDigest, issuer, serial); got != propsDigest {
				t.Errorf("SignedPropertiesDigest from our template = %s, sample has %s", got, propsDigest)
			}
			// SPEC §5.3 applied to the sample's own text, and our template
			// rendering the same values, give the same bytes.
			i := bytes.Index(doc, []byte("<xades:SignedProperties"))
			j := bytes.Index(doc, []byte("</xades:SignedProperties>")) + len("</xades:SignedProperties>")
			written := doc[i:j]
			if got := hexDigestBase64(propsDigestInput(nil, written)); got != propsDigest {
				t.Errorf("SPEC §5.3 digest of the sample text = %s, want %s", got, propsDigest)
			}
			if ours := appendSignedProperties(nil, signingTime, certDigest, issuer, serial); !bytes.Equal(ours, written) {
				t.Errorf("our SignedProperties template differs from the sample at byte %d", firstDiff(ours, written))
			}

			crt, err := cert.ParsePEMOrBase64([]byte(certText))
			if err != nil {
				t.Fatal(err)
			}
			if crt.IssuerName() != issuer || crt.SerialNumber.String() != serial {
				t.Errorf("certificate issuer/serial %q/%s, sample %q/%s", crt.IssuerName(), crt.SerialNumber, issuer, serial)
			}
			sigText := textOfTag(t, doc, "<ds:SignedInfo>", "ds:SignatureValue")
			der, err := base64.StdEncoding.DecodeString(sigText)
			if err != nil {
				t.Fatal(err)
			}
			digest := sha256.Sum256(sum[:])
			if !cert.VerifySignature(crt.PublicKey, digest[:], der) {
				t.Error("the sample signature does not verify over SHA-256(raw invoice hash)")
			}

			qrText := textOfTag(t, doc, "<cbc:ID>QR</cbc:ID>", "cbc:EmbeddedDocumentBinaryObject")
			f, err := qr.DecodeBase64(qrText)
			if err != nil {
				t.Fatal(err)
			}
			checks := []struct{ tag, got, want string }{
				{"1", f.SellerName, textOfTag(t, doc, "<cac:AccountingSupplierParty>", "cbc:RegistrationName")},
				{"2", f.VATNumber, textOfTag(t, doc, "<cac:AccountingSupplierParty>", "cbc:CompanyID")},
				{"3", f.Timestamp, textOfTag(t, doc, "<cbc:UUID>", "cbc:IssueDate") + "T" + textOfTag(t, doc, "<cbc:UUID>", "cbc:IssueTime")},
				{"4", f.Total, textOfTag(t, doc, "<cac:LegalMonetaryTotal>", "cbc:PayableAmount")},
				{"5", f.VATTotal, textOfTag(t, doc, "<cac:TaxTotal>", "cbc:TaxAmount")},
				{"6", f.InvoiceHash, hash},
				{"7", f.Signature, sigText},
				{"8", string(f.PublicKey), string(crt.SPKI)},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("QR tag %s = %q, want %q", c.tag, c.got, c.want)
				}
			}
			simplified := bytes.Contains(doc, []byte(`name="02`))
			if simplified != (len(f.CertSignature) > 0) {
				t.Errorf("simplified=%v but QR tag 9 present=%v", simplified, len(f.CertSignature) > 0)
			}
			if simplified && !bytes.Equal(f.CertSignature, crt.SignatureValue) {
				t.Error("QR tag 9 is not the certificate's signatureValue")
			}

			v, err := Verify(doc, VerifyOptions{Certificate: crt})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if v.Hash != hash || v.Simplified != simplified || v.SigningTime != signingTime {
				t.Errorf("Verification = %+v", v)
			}
			summary.WriteString(rel + "\t" + hash + "\t" + certDigest + "\t" + propsDigest + "\n")
		})
	}
	golden(t, "samples/digests.golden", summary.Bytes())
}

// TestC14NMatchesXmllint compares the whole-document canonical form (with
// comments, no exclusions) of every sample with libxml2's C14N 1.1.
func TestC14NMatchesXmllint(t *testing.T) {
	for _, rel := range sampleFiles(t) {
		p := filepath.Join(samplesDir, rel)
		got, _, _, err := canonicalize(nil, readFile(t, p), c14nComments)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		want := runTool(t, nil, "xmllint", "--c14n11", p)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: canonical form differs from xmllint --c14n11 at byte %d", rel, firstDiff(got, want))
		}
	}
}

// edgeDocs exercise the corners of C14N 1.1 that the samples do not.
var edgeDocs = map[string]string{
	"namespaces":         `<r xmlns="urn:a" xmlns:b="urn:b" b:z="1" a="2" b:a="3"><b:c xmlns:b="urn:b" xmlns:c="urn:c" c:x="&lt;&amp;&gt;&quot;'"/><d xmlns:b="urn:other"/></r>`,
	"default-undeclared": `<r xmlns="urn:a"><s xmlns=""><t xmlns=""/></s><u xmlns="urn:a"/><v xmlns="urn:b"><w xmlns="urn:a"/></v></r>`,
	"text":               "<r>\r\n a&#xD;b &#9;c\tx\r y<![CDATA[ <&> ]]]]> &gt; ] ' \" </r>",
	"attributes":         "<r a=\"x\ty\nz\r\nq\" b=\"&#9;&#10;&#13;\" c=\"A&amp;B&lt;C>D\" d='single \"quoted\"' e=\"]]>\"/>",
	"outside":            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<?pi one?>\n<!--c1-->\n<r><?pi2  data  ?><!-- in\r\n --><?empty?></r>\n<!--c2-->\n<?pi3 x?>\n",
	"xml-prefix":         `<r xml:lang="ar" xmlns:xml="http://www.w3.org/XML/1998/namespace"><s xml:space="preserve" a="1"/></r>`,
	"arabic":             "\uFEFF<r a=\"عربي\">نص &#x627;&#x10000;&#65;</r>",
	"attr-order":         `<r xmlns:z="urn:a" xmlns:a="urn:z" z:b="1" a:a="2" c="3" b="4"/>`,
	"tag-spaces":         "<r  a = '1'\n\tb=\"2\" ><s\n/></r  >",
	"redeclare":          `<r xmlns:p="urn:1"><p:s xmlns:p="urn:2"><p:t xmlns:p="urn:1"/></p:s><q xmlns:p="urn:1"/></r>`,
	"empty-root":         `<r/>`,
	"unused-ns":          `<r xmlns:unused="urn:u" xmlns:x="urn:x"><x:y xmlns:unused="urn:u"/></r>`,
	"ubl-like":           `<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"><cbc:Note languageID="ar">&amp; &lt;ملاحظة&gt;</cbc:Note><cbc:X/></Invoice>`,
	"deep-mixed":         `<a><b>1<c>2<d>3</d>4</c>5</b>6<e/></a>`,
	"numeric-ref":        `<r a="&#x20;&#32;">&#x3C;&#x26;&#x3E;&#xA;</r>`,
}

func TestC14NEdgeCasesMatchXmllint(t *testing.T) {
	dir := t.TempDir()
	for name, doc := range edgeDocs {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".xml")
			if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			got, _, _, err := canonicalize(nil, []byte(doc), c14nComments)
			if err != nil {
				t.Fatal(err)
			}
			want := runTool(t, nil, "xmllint", "--c14n11", p)
			if !bytes.Equal(got, want) {
				t.Errorf("canonical form\n got %q\nwant %q", got, want)
			}
			// Without comments: the same minus the comment nodes, and
			// canonicalisation is idempotent.
			plain, _, _, err := canonicalize(nil, []byte(doc), 0)
			if err != nil {
				t.Fatal(err)
			}
			again, _, _, err := canonicalize(nil, plain, 0)
			if err != nil || !bytes.Equal(again, plain) {
				t.Errorf("not idempotent: %q → %q (%v)", plain, again, err)
			}
		})
	}
}

// exclusionDoc puts the excluded elements, and look-alikes that must stay,
// in every position the SDK stylesheet distinguishes.
const exclusionDoc = `<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" xmlns:ext="urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"><ext:UBLExtensions><x a="1"/></ext:UBLExtensions>
  <cbc:ID>1</cbc:ID>
  <cac:AdditionalDocumentReference><cbc:ID>PIH</cbc:ID></cac:AdditionalDocumentReference>
  <cac:AdditionalDocumentReference><cbc:ID>
     QR </cbc:ID><cbc:UUID>u</cbc:UUID></cac:AdditionalDocumentReference>
  <cac:AdditionalDocumentReference><cbc:ID>QRX</cbc:ID></cac:AdditionalDocumentReference>
  <cac:AdditionalDocumentReference><cbc:UUID>x</cbc:UUID><cbc:ID>QR</cbc:ID></cac:AdditionalDocumentReference>
  <cac:Signature><cbc:ID>s</cbc:ID></cac:Signature>
  <cac:Foo><cac:Signature>kept</cac:Signature><cac:AdditionalDocumentReference><cbc:ID>QR</cbc:ID></cac:AdditionalDocumentReference><ext:UBLExtensions>gone</ext:UBLExtensions></cac:Foo>
  <cac:AdditionalDocumentReference><ID xmlns="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">QR</ID></cac:AdditionalDocumentReference>
  <cac:AdditionalDocumentReference><ID>QR</ID></cac:AdditionalDocumentReference>
</Invoice>
`

func TestExclusions(t *testing.T) {
	got, err := CanonicalInvoice([]byte(exclusionDoc))
	if err != nil {
		t.Fatal(err)
	}
	want := `<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2" xmlns:ext="urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2">
  <cbc:ID>1</cbc:ID>
  <cac:AdditionalDocumentReference><cbc:ID>PIH</cbc:ID></cac:AdditionalDocumentReference>
  
  <cac:AdditionalDocumentReference><cbc:ID>QRX</cbc:ID></cac:AdditionalDocumentReference>
  
  
  <cac:Foo><cac:Signature>kept</cac:Signature></cac:Foo>
  
  <cac:AdditionalDocumentReference><ID>QR</ID></cac:AdditionalDocumentReference>
</Invoice>`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestExclusionsMatchSDKStylesheet runs the SDK's invoice.xsl with xsltproc
// and canonicalises the result with xmllint, on every sample and on
// exclusionDoc, and compares with CanonicalInvoice (comments kept on both
// sides, since xmllint's C14N keeps them).
func TestExclusionsMatchSDKStylesheet(t *testing.T) {
	dir := t.TempDir()
	docs := map[string]string{"exclusionDoc": filepath.Join(dir, "exclusion.xml")}
	if err := os.WriteFile(docs["exclusionDoc"], []byte(exclusionDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, rel := range sampleFiles(t) {
		docs[rel] = filepath.Join(samplesDir, rel)
	}
	for name, p := range docs {
		transformed := runTool(t, nil, "xsltproc", "testdata/invoice.xsl", p)
		want := runTool(t, transformed, "xmllint", "--c14n11", "-")
		got, _, _, err := canonicalize(nil, readFile(t, p), c14nExclude|c14nComments)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: differs from invoice.xsl + xmllint at byte %d:\n got …%q\nwant …%q", name, firstDiff(got, want),
				got[max(0, firstDiff(got, want)-40):min(len(got), firstDiff(got, want)+40)],
				want[max(0, firstDiff(got, want)-40):min(len(want), firstDiff(got, want)+40)])
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := map[string]string{
		"empty":              "",
		"only-space":         " \n",
		"doctype":            `<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>`,
		"mismatched":         `<r><a></b></r>`,
		"unclosed":           `<r><a>`,
		"two-roots":          `<r/><s/>`,
		"text-outside":       `x<r/>`,
		"text-after":         `<r/>x`,
		"undeclared-prefix":  `<p:r/>`,
		"undeclared-attr-ns": `<r p:a="1"/>`,
		"duplicate-attr":     `<r a="1" a="2"/>`,
		"duplicate-expanded": `<r xmlns:p="urn:x" xmlns:q="urn:x" p:a="1" q:a="2"/>`,
		"undefined-entity":   `<r>&nbsp;</r>`,
		"bad-char-ref":       `<r>&#0;</r>`,
		"surrogate-ref":      `<r>&#xD800;</r>`,
		"huge-char-ref":      `<r>&#x110000;</r>`,
		"invalid-utf8":       "<r>\xff</r>",
		"control-char":       "<r>\x01</r>",
		"lt-in-attr":         `<r a="<"/>`,
		"unquoted-attr":      `<r a=1/>`,
		"no-space-attrs":     `<r a="1"b="2"/>`,
		"comment-dashes":     `<r><!-- a -- b --></r>`,
		"comment-unclosed":   `<r><!-- a </r>`,
		"cdata-outside":      `<![CDATA[x]]><r/>`,
		"cdata-unclosed":     `<r><![CDATA[x</r>`,
		"cdata-end-in-text":  `<r>a]]>b</r>`,
		"latin1":             `<?xml version="1.0" encoding="ISO-8859-1"?><r/>`,
		"xml-1.1":            `<?xml version="1.1"?><r/>`,
		"late-xml-decl":      `<r/><?xml version="1.0"?>`,
		"xmlns-prefix":       `<xmlns:r/>`,
		"bind-xmlns":         `<r xmlns:xmlns="urn:x"/>`,
		"rebind-xml":         `<r xmlns:xml="urn:x"/>`,
		"empty-prefix-uri":   `<r xmlns:p=""/>`,
		"bad-qname":          `<r:/>`,
		"two-colons":         `<a:b:c xmlns:a="urn:a"/>`,
		"end-without-start":  `</r>`,
		"bad-name":           `<1r/>`,
		"unterminated-tag":   `<r a="1"`,
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, _, err := canonicalize(nil, []byte(doc), c14nExclude)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *SyntaxError", err)
			}
			if se.Msg == "" || se.Line < 1 || se.Offset < 0 || se.Offset > len(doc) {
				t.Errorf("poor error %+v", se)
			}
			if _, err := InvoiceHash([]byte(doc)); !errors.As(err, &se) {
				t.Errorf("InvoiceHash err = %v, want a *SyntaxError", err)
			}
		})
	}
	deep := strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1)
	if _, _, _, err := canonicalize(nil, []byte(deep), 0); err == nil || !strings.Contains(err.Error(), "deeper") {
		t.Errorf("nesting beyond %d: err = %v", maxDepth, err)
	}
}

func TestInvoiceHashNeedsInvoiceRoot(t *testing.T) {
	for _, doc := range []string{
		`<Invoice/>`,
		`<CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"/>`,
		`<x:Invoice xmlns:x="urn:other"/>`,
	} {
		if _, err := InvoiceHash([]byte(doc)); !errors.Is(err, ErrNotInvoice) {
			t.Errorf("%s: err = %v, want ErrNotInvoice", doc, err)
		}
	}
	if _, err := InvoiceHash([]byte(`<Invoice xmlns="` + NSInvoice + `"/>`)); err != nil {
		t.Errorf("minimal invoice: %v", err)
	}
}
