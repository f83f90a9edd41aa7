package ubl

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/qr"
)

// signedFixture builds and signs the fixture invoice with the SDK key.
func signedFixture(t testing.TB) (*Signed, []byte, *cert.Certificate) {
	t.Helper()
	key, crt := sdkKeyAndCert(t)
	unsigned, err := Build(fixtureInvoice(), fixtureHeader(1))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Sign(unsigned, key, crt, signingTime)
	if err != nil {
		t.Fatal(err)
	}
	return s, unsigned, crt
}

// TestSignRoundTrip: the stamped document verifies, its parts agree with
// each other, openssl independently verifies the DER signature over the raw
// 32-byte hash, and removing the inserted blocks gives back the unsigned
// bytes.
func TestSignRoundTrip(t *testing.T) {
	s, unsigned, crt := signedFixture(t)

	if got, err := InvoiceHash(s.XML); err != nil || got != s.HashRaw {
		t.Fatalf("InvoiceHash(signed) = %x, %v; Sign said %x", got, err, s.HashRaw)
	}
	if base64.StdEncoding.EncodeToString(s.HashRaw[:]) != s.Hash || len(s.Hash) != 44 {
		t.Errorf("Hash %q is not base64 of HashRaw", s.Hash)
	}
	if s.SigningTime != "2024-03-15T00:30:06" || s.IssueDateTime != "2024-03-15T00:30:05" {
		t.Errorf("SigningTime %q, IssueDateTime %q", s.SigningTime, s.IssueDateTime)
	}
	if s.CertDigest != CertDigest(crt.Base64()) || len(s.SignedPropertiesDigest) != 88 {
		t.Errorf("CertDigest %q, SignedPropertiesDigest %q", s.CertDigest, s.SignedPropertiesDigest)
	}
	if got := SignedPropertiesDigest(s.SigningTime, s.CertDigest, crt.IssuerName(), crt.SerialNumber.String()); got != s.SignedPropertiesDigest {
		t.Errorf("SignedPropertiesDigest() = %s, Sign wrote %s", got, s.SignedPropertiesDigest)
	}
	for _, want := range []string{
		"<ds:DigestValue>" + s.Hash + "</ds:DigestValue>",
		"<ds:DigestValue>" + s.SignedPropertiesDigest + "</ds:DigestValue>",
		"<ds:SignatureValue>" + s.SignatureValue + "</ds:SignatureValue>",
		`<cbc:EmbeddedDocumentBinaryObject mimeCode="text/plain">` + s.QR + "</cbc:EmbeddedDocumentBinaryObject>",
		"<xades:SigningTime>2024-03-15T00:30:06</xades:SigningTime>",
		"<ds:X509IssuerName>CN=PRZEINVOICESCA4-CA, DC=extgazt, DC=gov, DC=local</ds:X509IssuerName>",
		"<ds:X509SerialNumber>379112742831380471835263969587287663520528387</ds:X509SerialNumber>",
	} {
		if !bytes.Contains(s.XML, []byte(want)) {
			t.Errorf("signed document lacks %s", want)
		}
	}

	f, err := qr.DecodeBase64(s.QR)
	if err != nil {
		t.Fatal(err)
	}
	want := qr.Fields{
		SellerName: fixtureInvoice().Seller.RegistrationName, VATNumber: "399999999900003",
		Timestamp: "2024-03-15T00:30:05", Total: "224.98", VATTotal: "17.48",
		InvoiceHash: s.Hash, Signature: s.SignatureValue, PublicKey: crt.SPKI, CertSignature: crt.SignatureValue,
	}
	if f.SellerName != want.SellerName || f.VATNumber != want.VATNumber || f.Timestamp != want.Timestamp ||
		f.Total != want.Total || f.VATTotal != want.VATTotal || f.InvoiceHash != want.InvoiceHash ||
		f.Signature != want.Signature || !bytes.Equal(f.PublicKey, want.PublicKey) ||
		!bytes.Equal(f.CertSignature, want.CertSignature) {
		t.Errorf("QR fields\n got %+v\nwant %+v", f, want)
	}

	if _, err := Verify(s.XML, VerifyOptions{PIH: initialPIH, InvoiceHash: s.Hash, Certificate: crt}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	opensslVerify(t, crt, s)

	// Only the three blocks (and their separators) were added.
	cut := cutBlocks(t, s.XML)
	lay := "\n    <cac:AccountingSupplierParty>"
	if want := strings.Replace(string(unsigned), lay, "\n    \n    "+lay, 1); cut != want {
		t.Errorf("signed minus the blocks differs from the unsigned document at byte %d", firstDiff([]byte(cut), []byte(want)))
	}
}

// cutBlocks removes the three inserted blocks by plain string search.
func cutBlocks(t *testing.T, doc []byte) string {
	t.Helper()
	s := string(doc)
	cut := func(from, to string) {
		i := strings.Index(s, from)
		j := strings.Index(s[max(i, 0):], to)
		if i < 0 || j < 0 {
			t.Fatalf("no %s…%s", from, to)
		}
		s = s[:i] + s[i+j+len(to):]
	}
	cut("<ext:UBLExtensions>", "</ext:UBLExtensions>")
	qr := strings.Index(s, "<cbc:ID>QR</cbc:ID>")
	start := strings.LastIndex(s[:qr], "<cac:AdditionalDocumentReference>")
	end := qr + strings.Index(s[qr:], "</cac:AdditionalDocumentReference>") + len("</cac:AdditionalDocumentReference>")
	s = s[:start] + s[end:]
	cut("<cac:Signature>", "</cac:Signature>")
	return s
}

// opensslVerify checks the signature with openssl: ECDSA with SHA-256 over
// the 32 raw hash bytes, the key taken from the certificate by openssl. It
// also checks that a changed hash is refused, so the check can fail.
func opensslVerify(t *testing.T, crt *cert.Certificate, s *Signed) {
	t.Helper()
	dir := t.TempDir()
	der, err := base64.StdEncoding.DecodeString(s.SignatureValue)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certDER := write("cert.der", crt.Raw)
	pub := write("pub.pem", runTool(t, nil, "openssl", "x509", "-inform", "DER", "-in", certDER, "-pubkey", "-noout"))
	hash := write("hash.bin", s.HashRaw[:])
	sig := write("sig.der", der)
	verify := func(in string) error {
		return exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub,
			"-rawin", "-digest", "sha256", "-in", in, "-sigfile", sig).Run()
	}
	if err := verify(hash); err != nil {
		t.Errorf("openssl pkeyutl -verify over the raw hash: %v", err)
	}
	bad := bytes.Clone(s.HashRaw[:])
	bad[0] ^= 1
	if err := verify(write("bad.bin", bad)); err == nil {
		t.Error("openssl accepted the signature over a different hash")
	}
}

// rebuildQR re-encodes the document's QR with mod applied.
func rebuildQR(t *testing.T, doc []byte, s *Signed, mod func(*qr.Fields)) []byte {
	t.Helper()
	f, err := qr.DecodeBase64(s.QR)
	if err != nil {
		t.Fatal(err)
	}
	mod(&f)
	text, err := f.Base64()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Replace(doc, []byte(s.QR), []byte(text), 1)
}

func replaceOnce(t *testing.T, doc []byte, old, new string) []byte {
	t.Helper()
	if bytes.Count(doc, []byte(old)) < 1 {
		t.Fatalf("document has no %q", old)
	}
	return bytes.Replace(doc, []byte(old), []byte(new), 1)
}

// TestVerifyTampering changes one thing at a time and expects exactly the
// listed codes.
func TestVerifyTampering(t *testing.T) {
	s, _, crt := signedFixture(t)
	otherKey, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	otherSPKI, err := cert.MarshalPKIXPublicKey(otherKey.PubKey())
	if err != nil {
		t.Fatal(err)
	}
	apiCert, err := cert.ParsePEMOrBase64(readFile(t, zatcaDir+"/ApiExamples/compliance-csid-response-example.cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	otherCert := mustCreate(t, &cert.Template{
		SerialNumber: big.NewInt(7), Subject: cert.Name{{{Type: cert.OIDCommonName, Value: "Other"}}},
		NotBefore: signingTime.Add(-time.Hour), NotAfter: signingTime.Add(time.Hour), PublicKey: otherKey.PubKey(),
	}, nil, &testSigner{priv: otherKey})
	// A valid signature, by the right key, over a different hash.
	otherSig, err := (&testSigner{priv: mustSDKKey(t)}).Sign(nil, make([]byte, 32), crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	otherSigB64 := base64.StdEncoding.EncodeToString(otherSig)

	cases := []struct {
		name string
		doc  func(t *testing.T) []byte
		opts VerifyOptions
		want []Code
	}{
		{"line amount", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, `>102.00</cbc:LineExtensionAmount>`, `>103.00</cbc:LineExtensionAmount>`)
		}, VerifyOptions{}, []Code{CodeInvoiceHash, CodeQRInvoiceHash}},
		{"QR seller VAT", func(t *testing.T) []byte {
			return rebuildQR(t, s.XML, s, func(f *qr.Fields) { f.VATNumber = "399999999800003" })
		}, VerifyOptions{}, []Code{CodeQR}},
		{"QR timestamp", func(t *testing.T) []byte {
			return rebuildQR(t, s.XML, s, func(f *qr.Fields) { f.Timestamp = "2024-03-15T00:30:05Z" })
		}, VerifyOptions{}, []Code{CodeQRTimestamp}},
		{"QR total", func(t *testing.T) []byte {
			return rebuildQR(t, s.XML, s, func(f *qr.Fields) { f.Total = "224.99" })
		}, VerifyOptions{}, []Code{CodeQR}},
		{"QR hash", func(t *testing.T) []byte {
			return rebuildQR(t, s.XML, s, func(f *qr.Fields) {
				f.InvoiceHash = base64.StdEncoding.EncodeToString(make([]byte, 32))
			})
		}, VerifyOptions{}, []Code{CodeQRInvoiceHash}},
		{"QR signature", func(t *testing.T) []byte {
			return rebuildQR(t, s.XML, s, func(f *qr.Fields) { f.Signature = otherSigB64 })
		}, VerifyOptions{}, []Code{CodeQR}},
		{"QR public key", func(t *testing.T) []byte {
			return rebuildQR(t, s.XML, s, func(f *qr.Fields) { f.PublicKey = otherSPKI })
		}, VerifyOptions{}, []Code{CodeQRPublicKey}},
		{"QR certificate signature", func(t *testing.T) []byte {
			return rebuildQR(t, s.XML, s, func(f *qr.Fields) { f.CertSignature = apiCert.SignatureValue })
		}, VerifyOptions{}, []Code{CodeQRCertSignature}},
		{"QR tag 9 missing", func(t *testing.T) []byte {
			return rebuildQR(t, s.XML, s, func(f *qr.Fields) { f.CertSignature = nil })
		}, VerifyOptions{}, []Code{CodeQRCertSignature}},
		{"QR not base64", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, s.QR, "!"+s.QR[1:])
		}, VerifyOptions{}, []Code{CodeQR}},
		{"QR reference removed", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, "<cbc:ID>QR</cbc:ID>", "<cbc:ID>QR2</cbc:ID>")
		}, VerifyOptions{}, []Code{CodeInvoiceHash, CodeQR}},
		{"signed-properties whitespace", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, "\n                                        <xades:SigningTime>", "\n                                         <xades:SigningTime>")
		}, VerifyOptions{}, []Code{CodeSignedProperties}},
		{"signing time", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, "2024-03-15T00:30:06<", "2024-03-15T00:30:07<")
		}, VerifyOptions{}, []Code{CodeSignedProperties}},
		{"cert digest", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, s.CertDigest, CertDigest("x"))
		}, VerifyOptions{}, []Code{CodeSignedProperties, CodeCertificateHashing}},
		{"issuer name", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, "CN=PRZEINVOICESCA4-CA, DC=extgazt", "CN=PRZEINVOICESCA4-CA,DC=extgazt")
		}, VerifyOptions{}, []Code{CodeSignedProperties, CodeIssuerName}},
		{"serial number", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, ">379112742831380471835263969587287663520528387<", ">379112742831380471835263969587287663520528388<")
		}, VerifyOptions{}, []Code{CodeSignedProperties, CodeSerialNumber}},
		{"signature value", func(t *testing.T) []byte {
			doc := replaceOnce(t, s.XML, ">"+s.SignatureValue+"<", ">"+otherSigB64+"<")
			return rebuildQR(t, doc, s, func(f *qr.Fields) { f.Signature = otherSigB64 })
		}, VerifyOptions{}, []Code{CodeSignature}},
		{"digest value", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, "<ds:DigestValue>"+s.Hash, "<ds:DigestValue>"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
		}, VerifyOptions{}, []Code{CodeInvoiceHash, CodeSignature}},
		// ZATCA's API example certificate holds the SDK key, so the
		// signature and QR tag 8 still match; the rest does not.
		{"other certificate, same key", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, ">"+crt.Base64()+"<", ">"+apiCert.Base64()+"<")
		}, VerifyOptions{}, []Code{CodeCertificateHashing, CodeIssuerName, CodeSerialNumber, CodeQRCertSignature}},
		{"other certificate, other key", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, ">"+crt.Base64()+"<", ">"+otherCert.Base64()+"<")
		}, VerifyOptions{}, []Code{CodeCertificateHashing, CodeIssuerName, CodeSerialNumber, CodeSignature, CodeQRPublicKey, CodeQRCertSignature}},
		{"certificate not base64", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, ">"+crt.Base64()[:10], ">*"+crt.Base64()[1:10])
		}, VerifyOptions{}, []Code{CodeCertificateHashing, CodeSigningCertificate}},
		{"unexpected certificate", func(t *testing.T) []byte { return s.XML },
			VerifyOptions{Certificate: apiCert}, []Code{CodeSigningCertificate}},
		{"PIH", func(t *testing.T) []byte { return s.XML },
			VerifyOptions{PIH: s.Hash}, []Code{CodePIH}},
		{"claimed hash", func(t *testing.T) []byte { return s.XML },
			VerifyOptions{InvoiceHash: initialPIH}, []Code{CodeInvoiceHash}},
		{"cac:Signature removed", func(t *testing.T) []byte {
			i, j := bytes.Index(s.XML, []byte("<cac:Signature>")), bytes.Index(s.XML, []byte("</cac:Signature>"))
			return slices.Concat(s.XML[:i], s.XML[j+len("</cac:Signature>"):])
		}, VerifyOptions{}, []Code{CodeSignaturePresent}},
		{"signature method", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, ":dsig:enveloped:xades</cbc:SignatureMethod>", ":dsig:enveloped</cbc:SignatureMethod>")
		}, VerifyOptions{}, []Code{CodeSignatureMethodValue}},
		{"signature information ID", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, ">urn:oasis:names:specification:ubl:signature:1<", ">urn:oasis:names:specification:ubl:signature:2<")
		}, VerifyOptions{}, []Code{CodeSignatureInfoID}},
		{"ECDSA algorithm", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, "xmldsig-more#ecdsa-sha256", "xmldsig-more#ecdsa-sha384")
		}, VerifyOptions{}, []Code{CodeSignatureStructure}},
		{"transform", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, "not(//ancestor-or-self::cac:Signature)", "not(//ancestor-or-self::cac:Sig)")
		}, VerifyOptions{}, []Code{CodeSignatureStructure}},
		{"seller VAT", func(t *testing.T) []byte {
			return replaceOnce(t, s.XML, "<cbc:CompanyID>399999999900003<", "<cbc:CompanyID>399999999700003<")
		}, VerifyOptions{}, []Code{CodeInvoiceHash, CodeCertificatePermissions, CodeQR, CodeQRInvoiceHash}},
		{"not XML", func(t *testing.T) []byte { return s.XML[:len(s.XML)/2] }, VerifyOptions{}, []Code{CodeInvalidXML}},
		{"not an invoice", func(t *testing.T) []byte { return []byte("<CreditNote/>") }, VerifyOptions{}, []Code{CodeInvalidXML}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := Verify(c.doc(t), c.opts)
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *VerifyError", err)
			}
			got := ve.Codes()
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("codes %v, want %v\n%v", got, want, err)
			}
			for _, code := range c.want {
				if !errors.Is(err, code) {
					t.Errorf("errors.Is(err, %s) = false", code)
				}
			}
			if (v == nil) != slices.Contains(c.want, CodeInvalidXML) {
				t.Errorf("Verification returned = %v", v != nil)
			}
		})
	}
}

func mustSDKKey(t testing.TB) *secp256k1.PrivateKey {
	t.Helper()
	k, _ := sdkKeyAndCert(t)
	return k.priv
}

// stripSample turns a signed SDK sample back into an unsigned document.
func stripSample(t *testing.T, rel string) []byte {
	t.Helper()
	doc := readFile(t, filepath.Join(samplesDir, rel))
	return []byte(cutBlocks(t, doc))
}

// TestSignStandardAndNoExtNamespace: a standard document gets no QR tag 9,
// and a root without xmlns:ext gets the declaration.
func TestSignStandardAndNoExtNamespace(t *testing.T) {
	key, crt := sdkKeyAndCert(t)
	unsigned := stripSample(t, "Standard/Invoice/Standard_Invoice.xml")
	s, err := Sign(unsigned, key, crt, signingTime)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(s.XML, VerifyOptions{Certificate: crt})
	if err != nil {
		t.Fatal(err)
	}
	if v.Simplified || len(v.QR.CertSignature) != 0 {
		t.Errorf("standard document: simplified=%v, QR tag 9 = %x", v.Simplified, v.QR.CertSignature)
	}

	unsigned = stripSample(t, "Simplified/Invoice/Simplified_Invoice.xml")
	noExt := bytes.Replace(unsigned, []byte(` xmlns:ext="`+NSEXT+`"`), nil, 1)
	if bytes.Equal(noExt, unsigned) {
		t.Fatal("sample has no xmlns:ext to remove")
	}
	s, err = Sign(noExt, key, crt, signingTime)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(s.XML[:400], []byte(` xmlns:ext="`+NSEXT+`"><ext:UBLExtensions>`)) {
		t.Error("xmlns:ext was not declared on the root")
	}
	if _, err := Verify(s.XML, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

type failingSigner struct{ testSigner }

func (f *failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("device unplugged")
}

func TestSignRejects(t *testing.T) {
	key, crt := sdkKeyAndCert(t)
	unsigned, err := Build(fixtureInvoice(), fixtureHeader(1))
	if err != nil {
		t.Fatal(err)
	}
	other, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	signed := readFile(t, filepath.Join(samplesDir, "Simplified/Invoice/Simplified_Invoice.xml"))
	noCertSig, noSerial := *crt, *crt
	noCertSig.SignatureValue, noSerial.SerialNumber = nil, nil
	cases := []struct {
		name string
		doc  []byte
		key  crypto.Signer
		crt  *cert.Certificate
		when time.Time
		want error
	}{
		{"already signed", signed, key, crt, signingTime, ErrAlreadySigned},
		{"QR already there", []byte(strings.Replace(string(stripSample(t, "Simplified/Invoice/Simplified_Invoice.xml")),
			"<cac:AccountingSupplierParty>", "<cac:AdditionalDocumentReference><cbc:ID>QR</cbc:ID></cac:AdditionalDocumentReference><cac:AccountingSupplierParty>", 1)),
			key, crt, signingTime, ErrAlreadySigned},
		{"wrong key", unsigned, &testSigner{priv: other}, crt, signingTime, ErrSigner},
		{"raw r||s signature", unsigned, &testSigner{priv: key.priv, raw: true}, crt, signingTime, ErrSigner},
		{"signer error", unsigned, &failingSigner{*key}, crt, signingTime, ErrSigner},
		{"nil key", unsigned, nil, crt, signingTime, ErrSigner},
		{"nil certificate", unsigned, key, nil, signingTime, ErrCertificate},
		{"certificate without signature (QR tag 9)", unsigned, key, &noCertSig, signingTime, ErrCertificate},
		{"certificate without serial", unsigned, key, &noSerial, signingTime, ErrCertificate},
		{"zero time", unsigned, key, crt, time.Time{}, ErrInvalidInput},
		{"not XML", unsigned[:100], key, crt, signingTime, ErrInvalidInput},
		{"not an invoice", []byte(`<CreditNote xmlns="urn:x"/>`), key, crt, signingTime, ErrNotInvoice},
		{"no supplier", bytes.Replace(unsigned, []byte("AccountingSupplierParty"), []byte("SellerSupplierParty"), 2), key, crt, signingTime, ErrMissingElement},
		{"no issue time", bytes.Replace(unsigned, []byte("cbc:IssueTime"), []byte("cbc:IssueTimeX"), 2), key, crt, signingTime, ErrMissingElement},
		{"payable differs", bytes.Replace(unsigned, []byte(`>224.98</cbc:PayableAmount>`), []byte(`>225.00</cbc:PayableAmount>`), 1), key, crt, signingTime, ErrInvalidInput},
		{"cac prefix", bytes.Replace(unsigned, []byte(`xmlns:cac="`+NSCAC), []byte(`xmlns:cac="`+NSCAC+"x"), 1), key, crt, signingTime, ErrInvalidInput},
		{"ext prefix", bytes.Replace(unsigned, []byte(`xmlns:ext="`+NSEXT), []byte(`xmlns:ext="urn:x`), 1), key, crt, signingTime, ErrInvalidInput},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Sign(c.doc, c.key, c.crt, c.when)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if s != nil {
				t.Error("a result was returned with the error")
			}
		})
	}
}

// TestSignP256: a P-256 key and certificate (the TPM-native backend) sign
// and verify through crypto/ecdsa; a certificate whose invoice-type map
// excludes simplified documents is reported.
func TestSignP256(t *testing.T) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := mustCreate(t, &cert.Template{
		SerialNumber: big.NewInt(1), Subject: cert.Name{{{Type: cert.OIDCommonName, Value: "Test & <CA>"}}},
		NotBefore: signingTime.Add(-time.Hour), NotAfter: signingTime.Add(time.Hour), PublicKey: caKey.Public(), IsCA: true,
	}, nil, caKey)
	egsKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	egs := func(types string) *cert.Certificate {
		return mustCreate(t, &cert.Template{
			SerialNumber: big.NewInt(0).Lsh(big.NewInt(1), 150), Subject: cert.Name{{{Type: cert.OIDCommonName, Value: "EGS"}}},
			NotBefore: signingTime.Add(-time.Hour), NotAfter: signingTime.Add(time.Hour), PublicKey: egsKey.Public(),
			SubjectAltName: &cert.SubjectAltName{SerialNumber: "1-a|2-b|3-c", VATNumber: "399999999900003",
				InvoiceType: types, Location: "RRRD2929", Industry: "Retail"},
		}, ca, caKey)
	}
	unsigned, err := Build(fixtureInvoice(), fixtureHeader(1))
	if err != nil {
		t.Fatal(err)
	}
	crt := egs("0100")
	s, err := Sign(unsigned, egsKey, crt, signingTime)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(s.XML, VerifyOptions{Certificate: crt})
	if err != nil {
		t.Fatal(err)
	}
	if v.Certificate.Curve != cert.P256 || len(v.QR.PublicKey) != 91 {
		t.Errorf("curve %v, SPKI %d bytes", v.Certificate.Curve, len(v.QR.PublicKey))
	}
	// The issuer name needs escaping inside SignedProperties; the digest
	// of the written text (dom4j view) and of the template agree.
	issuer := crt.IssuerName()
	if !strings.Contains(issuer, "&") || !bytes.Contains(s.XML, []byte("<ds:X509IssuerName>"+strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(issuer)+"</ds:X509IssuerName>")) {
		t.Errorf("issuer %q is not escaped in the document", issuer)
	}

	s, err = Sign(unsigned, egsKey, egs("1000"), signingTime)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(s.XML, VerifyOptions{})
	var ve *VerifyError
	if !errors.As(err, &ve) || !slices.Equal(ve.Codes(), []Code{CodeCertificatePermissions}) {
		t.Errorf("standard-only certificate on a simplified invoice: %v", err)
	}
}

func mustCreate(t *testing.T, tmpl *cert.Template, issuer *cert.Certificate, key crypto.Signer) *cert.Certificate {
	t.Helper()
	der, err := cert.Create(tmpl, issuer, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cert.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
