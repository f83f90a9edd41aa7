package ubl

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/qr"
)

// MaxDocumentSize is the largest document Verify accepts, ZATCA's request
// size limit (SPEC §2.3).
const MaxDocumentSize = 10 << 20

// Algorithm identifiers of the signature block (SPEC §5.1).
const (
	AlgC14N11      = "http://www.w3.org/2006/12/xml-c14n11"
	AlgECDSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	AlgSHA256      = "http://www.w3.org/2001/04/xmlenc#sha256"
	AlgXPath       = "http://www.w3.org/TR/1999/REC-xpath-19991116"
	TypeSignedProp = "http://www.w3.org/2000/09/xmldsig#SignatureProperties"
)

var invoiceTransforms = [...]string{
	"not(//ancestor-or-self::ext:UBLExtensions)",
	"not(//ancestor-or-self::cac:Signature)",
	"not(//ancestor-or-self::cac:AdditionalDocumentReference[cbc:ID='QR'])",
}

// VerifyOptions are the optional expectations of a verifier.
type VerifyOptions struct {
	// PIH, when set, is the previous invoice hash the document must carry.
	PIH string
	// InvoiceHash, when set, is the hash the submitter claims (the API
	// body's invoiceHash); it must equal the recomputed hash.
	InvoiceHash string
	// Certificate, when set, is the only certificate the document may be
	// signed with.
	Certificate *cert.Certificate
}

// Verification is what Verify read and recomputed. Its fields are filled as
// far as the document allowed, also when checks failed.
type Verification struct {
	// Hash and HashRaw are the recomputed invoice hash.
	Hash    string
	HashRaw [32]byte

	IRN             string // cbc:ID
	UUID            string
	ICV             string
	PIH             string
	IssueDate       string
	IssueTime       string
	TypeCode        string // 388, 381, 383, …
	TransactionCode string // InvoiceTypeCode/@name, e.g. 0200000
	Simplified      bool   // TransactionCode starts with "02"

	SigningTime    string
	SignatureValue string
	Certificate    *cert.Certificate // the embedded certificate, nil if unreadable

	QRText string
	QR     qr.Fields
}

// Verify checks a signed document (SPEC §4–§6): the invoice hash against the
// invoiceSignedData DigestValue, CertDigest, the SignedProperties digest
// (as ZATCA's validator serialises it), the ECDSA signature over the raw
// hash with the embedded certificate's key (secp256k1 or P-256), issuer
// name and serial against the certificate, the certificate's VAT number and
// invoice types against the document, the signature identifiers
// (BR-KSA-28/29/30/60), and every QR tag against the XML and the
// certificate. Options add the PIH, the claimed hash and the expected
// certificate.
//
// On failure the error is a *VerifyError listing every failed check with its
// Code (wrapped; use errors.As or errors.Is with a Code). The Verification
// is returned whenever the document parsed as an Invoice.
func Verify(signed []byte, opts VerifyOptions) (*Verification, error) {
	v, fails := verify(signed, opts)
	if len(fails) > 0 {
		return v, fmt.Errorf("ubl verify: %w", &VerifyError{Failures: fails})
	}
	return v, nil
}

type checker struct {
	fails []Failure
}

func (c *checker) fail(code Code, format string, args ...any) {
	c.fails = append(c.fails, Failure{Code: code, Message: fmt.Sprintf(format, args...)})
}

func verify(src []byte, opts VerifyOptions) (*Verification, []Failure) {
	var c checker
	if len(src) > MaxDocumentSize {
		c.fail(CodeInvalidXML, "document is %d bytes, the limit is %d", len(src), MaxDocumentSize)
		return nil, c.fails
	}
	d, err := parseDocument(src)
	if err != nil {
		c.fail(CodeInvalidXML, "%v", err)
		return nil, c.fails
	}
	if root := d.els[0]; string(root.local) != "Invoice" || root.uri != NSInvoice {
		c.fail(CodeInvalidXML, "root element is {%s}%s, want {%s}Invoice", root.uri, root.local, NSInvoice)
		return nil, c.fails
	}
	v := &Verification{}
	v.HashRaw, err = InvoiceHash(src)
	if err != nil { // cannot happen after parseDocument succeeded; kept for safety
		c.fail(CodeInvalidXML, "%v", err)
		return nil, c.fails
	}
	v.Hash = base64.StdEncoding.EncodeToString(v.HashRaw[:])

	v.IRN = d.textOf(d.child(0, NSCBC, "ID"))
	v.UUID = d.textOf(d.child(0, NSCBC, "UUID"))
	v.IssueDate = d.textOf(d.child(0, NSCBC, "IssueDate"))
	v.IssueTime = d.textOf(d.child(0, NSCBC, "IssueTime"))
	tc := d.child(0, NSCBC, "InvoiceTypeCode")
	v.TypeCode = d.textOf(tc)
	v.TransactionCode, _ = d.attr(tc, "name")
	v.Simplified = strings.HasPrefix(v.TransactionCode, "02")
	qrRef := int32(-1)
	for _, k := range d.els[0].kids {
		e := &d.els[k]
		if e.uri != NSCAC || string(e.local) != "AdditionalDocumentReference" {
			continue
		}
		switch id := d.textOf(d.child(k, NSCBC, "ID")); {
		case id == "ICV" && v.ICV == "":
			v.ICV = d.textOf(d.child(k, NSCBC, "UUID"))
		case id == "PIH" && v.PIH == "":
			v.PIH = d.textOf(d.path(k, NSCAC, "Attachment", NSCBC, "EmbeddedDocumentBinaryObject"))
		case d.isQRReference(k) && qrRef < 0:
			qrRef = k
		}
	}

	if opts.InvoiceHash != "" && opts.InvoiceHash != v.Hash {
		c.fail(CodeInvoiceHash, "the claimed invoice hash %s does not match the hash of the XML %s", opts.InvoiceHash, v.Hash)
	}
	if opts.PIH != "" && opts.PIH != v.PIH {
		c.fail(CodePIH, "PIH is %q, want %q", v.PIH, opts.PIH)
	}

	c.signatureIDs(d)
	sig := c.signatureBlock(d, v)
	if sig != nil {
		c.crypto(d, v, sig, opts)
	}
	c.qrCode(d, v, qrRef)
	return v, c.fails
}

// sigBlock holds the located parts of ds:Signature.
type sigBlock struct {
	invoiceDigest string // Reference invoiceSignedData DigestValue
	propsDigest   string // Reference #xadesSignedProperties DigestValue
	signedProps   int32
	certDigest    string
	issuerName    string
	serial        string
	certText      string
}

// signatureIDs checks cac:Signature and the SignatureInformation IDs.
func (c *checker) signatureIDs(d *document) {
	s := d.child(0, NSCAC, "Signature")
	switch {
	case s < 0:
		c.fail(CodeSignaturePresent, "cac:Signature is missing")
	case d.textOf(d.child(s, NSCBC, "ID")) != SignatureID:
		c.fail(CodeSignaturePresent, "cac:Signature/cbc:ID is %q, want %q", d.textOf(d.child(s, NSCBC, "ID")), SignatureID)
	}
	if s >= 0 {
		if m := d.textOf(d.child(s, NSCBC, "SignatureMethod")); m != SignatureMethod {
			c.fail(CodeSignatureMethodValue, "cac:Signature/cbc:SignatureMethod is %q, want %q", m, SignatureMethod)
		}
	}
	info := sigInfo(d)
	if info < 0 {
		return // reported by signatureBlock
	}
	if id := d.textOf(d.child(info, NSCBC, "ID")); id != SignatureInformationID {
		c.fail(CodeSignatureInfoID, "SignatureInformation/cbc:ID is %q, want %q", id, SignatureInformationID)
	}
	if id := d.textOf(d.child(info, NSSBC, "ReferencedSignatureID")); id != SignatureID {
		c.fail(CodeReferencedSignature, "ReferencedSignatureID is %q, want %q", id, SignatureID)
	}
}

func sigInfo(d *document) int32 {
	return d.path(0, NSEXT, "UBLExtensions", NSEXT, "UBLExtension", NSEXT, "ExtensionContent",
		NSSIG, "UBLDocumentSignatures", NSSAC, "SignatureInformation")
}

// signatureBlock locates and structurally checks ds:Signature.
func (c *checker) signatureBlock(d *document, v *Verification) *sigBlock {
	ds := d.child(sigInfo(d), NSDS, "Signature")
	if ds < 0 {
		c.fail(CodeSignatureStructure, "ext:UBLExtensions/…/sac:SignatureInformation/ds:Signature is missing")
		return nil
	}
	before := len(c.fails)
	bad := func(format string, args ...any) { c.fail(CodeSignatureStructure, format, args...) }
	si := d.child(ds, NSDS, "SignedInfo")
	if si < 0 {
		bad("ds:SignedInfo is missing")
		return nil
	}
	if a, _ := d.attr(d.child(si, NSDS, "CanonicalizationMethod"), "Algorithm"); a != AlgC14N11 {
		bad("CanonicalizationMethod is %q, want %q", a, AlgC14N11)
	}
	if a, _ := d.attr(d.child(si, NSDS, "SignatureMethod"), "Algorithm"); a != AlgECDSASHA256 {
		bad("SignatureMethod is %q, want %q", a, AlgECDSASHA256)
	}
	var b sigBlock
	invRef, propRef := int32(-1), int32(-1)
	for _, k := range d.els[si].kids {
		if d.els[k].uri != NSDS || string(d.els[k].local) != "Reference" {
			continue
		}
		id, _ := d.attr(k, "Id")
		uri, _ := d.attr(k, "URI")
		switch {
		case id == "invoiceSignedData" && invRef < 0:
			invRef = k
			if uri != "" {
				bad("Reference invoiceSignedData has URI %q, want \"\"", uri)
			}
		case uri == "#xadesSignedProperties" && propRef < 0:
			propRef = k
			if t, _ := d.attr(k, "Type"); t != TypeSignedProp {
				bad("SignedProperties Reference has Type %q, want %q", t, TypeSignedProp)
			}
		}
	}
	if invRef < 0 {
		bad("Reference Id=\"invoiceSignedData\" is missing")
	} else {
		var got []string
		for _, t := range d.kidsOf(d.child(invRef, NSDS, "Transforms")) {
			if d.els[t].uri != NSDS || string(d.els[t].local) != "Transform" {
				continue
			}
			a, _ := d.attr(t, "Algorithm")
			if a == AlgXPath {
				a = strings.TrimSpace(d.textOf(d.child(t, NSDS, "XPath")))
			}
			got = append(got, a)
		}
		want := append(slices.Clone(invoiceTransforms[:]), AlgC14N11)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			bad("the invoiceSignedData transforms are %q, want %q", got, want)
		}
		if a, _ := d.attr(d.child(invRef, NSDS, "DigestMethod"), "Algorithm"); a != AlgSHA256 {
			bad("invoiceSignedData DigestMethod is %q, want %q", a, AlgSHA256)
		}
		b.invoiceDigest = d.textOf(d.child(invRef, NSDS, "DigestValue"))
	}
	if propRef < 0 {
		bad("Reference URI=\"#xadesSignedProperties\" is missing")
	} else {
		if a, _ := d.attr(d.child(propRef, NSDS, "DigestMethod"), "Algorithm"); a != AlgSHA256 {
			bad("SignedProperties DigestMethod is %q, want %q", a, AlgSHA256)
		}
		b.propsDigest = d.textOf(d.child(propRef, NSDS, "DigestValue"))
	}
	v.SignatureValue = strings.TrimSpace(d.textOf(d.child(ds, NSDS, "SignatureValue")))
	if v.SignatureValue == "" {
		bad("ds:SignatureValue is missing or empty")
	}
	b.certText = d.textOf(d.path(ds, NSDS, "KeyInfo", NSDS, "X509Data", NSDS, "X509Certificate"))
	if b.certText == "" {
		c.fail(CodeSigningCertificate, "ds:X509Certificate is missing or empty")
	}
	b.signedProps = d.path(ds, NSDS, "Object", NSXAdES, "QualifyingProperties", NSXAdES, "SignedProperties")
	if b.signedProps < 0 {
		bad("xades:SignedProperties is missing")
	} else {
		if id, _ := d.attr(b.signedProps, "Id"); id != "xadesSignedProperties" {
			bad("xades:SignedProperties has Id %q, want \"xadesSignedProperties\"", id)
		}
		ssp := d.child(b.signedProps, NSXAdES, "SignedSignatureProperties")
		v.SigningTime = d.textOf(d.child(ssp, NSXAdES, "SigningTime"))
		xc := d.path(ssp, NSXAdES, "SigningCertificate", NSXAdES, "Cert")
		b.certDigest = d.textOf(d.path(xc, NSXAdES, "CertDigest", NSDS, "DigestValue"))
		b.issuerName = d.textOf(d.path(xc, NSXAdES, "IssuerSerial", NSDS, "X509IssuerName"))
		b.serial = d.textOf(d.path(xc, NSXAdES, "IssuerSerial", NSDS, "X509SerialNumber"))
		if xc < 0 {
			bad("xades:SigningCertificate/xades:Cert is missing")
		}
	}
	if len(c.fails) > before && (b.invoiceDigest == "" || v.SignatureValue == "") {
		return nil
	}
	return &b
}

// crypto checks the digests, the certificate and the signature.
func (c *checker) crypto(d *document, v *Verification, b *sigBlock, opts VerifyOptions) {
	if b.invoiceDigest != v.Hash {
		c.fail(CodeInvoiceHash, "invoiceSignedData DigestValue is %s, the hash of the XML is %s", b.invoiceDigest, v.Hash)
	}
	if b.signedProps >= 0 {
		sp := d.dom4jXML(nil, b.signedProps)
		if got := hexDigestBase64(sp); got != b.propsDigest {
			c.fail(CodeSignedProperties, "SignedProperties digest is %s, computed %s", b.propsDigest, got)
		}
	}
	if b.certText == "" {
		return
	}
	if got := CertDigest(b.certText); got != b.certDigest {
		c.fail(CodeCertificateHashing, "CertDigest is %s, the digest of the certificate text is %s", b.certDigest, got)
	}
	der, err := base64.StdEncoding.DecodeString(b.certText)
	if err != nil {
		c.fail(CodeSigningCertificate, "ds:X509Certificate is not base64: %v", err)
		return
	}
	crt, err := cert.Parse(der)
	if err != nil {
		c.fail(CodeSigningCertificate, "ds:X509Certificate: %v", err)
		return
	}
	v.Certificate = crt
	if opts.Certificate != nil && !bytes.Equal(opts.Certificate.Raw, crt.Raw) {
		c.fail(CodeSigningCertificate, "signed with certificate serial %s of %s, want serial %s of %s",
			crt.SerialNumber, crt.IssuerName(), opts.Certificate.SerialNumber, opts.Certificate.IssuerName())
	}
	if got := crt.IssuerName(); got != b.issuerName {
		c.fail(CodeIssuerName, "X509IssuerName is %q, the certificate's issuer is %q", b.issuerName, got)
	}
	if got := crt.SerialNumber.String(); got != b.serial {
		c.fail(CodeSerialNumber, "X509SerialNumber is %q, the certificate's serial is %s", b.serial, got)
	}
	if san := crt.SubjectAltName; san != nil {
		vat := d.textOf(d.path(0, NSCAC, "AccountingSupplierParty", NSCAC, "Party", NSCAC, "PartyTaxScheme", NSCBC, "CompanyID"))
		if san.VATNumber != "" && san.VATNumber != vat {
			c.fail(CodeCertificatePermissions, "the certificate is for VAT number %s, the seller's is %q", san.VATNumber, vat)
		}
		if t := san.InvoiceType; len(t) == 4 {
			if v.Simplified && t[1] != '1' {
				c.fail(CodeCertificatePermissions, "the certificate's invoice types %q do not include simplified documents", t)
			}
			if strings.HasPrefix(v.TransactionCode, "01") && t[0] != '1' {
				c.fail(CodeCertificatePermissions, "the certificate's invoice types %q do not include standard documents", t)
			}
		}
	}
	sig, err := base64.StdEncoding.DecodeString(v.SignatureValue)
	if err != nil {
		c.fail(CodeSignature, "ds:SignatureValue is not base64: %v", err)
		return
	}
	// The signature covers the hash the signer stated (the DigestValue);
	// whether that is the document's hash is the invalid-invoice-hash check.
	raw, err := base64.StdEncoding.DecodeString(b.invoiceDigest)
	if err != nil || len(raw) != sha256.Size {
		c.fail(CodeInvoiceHash, "invoiceSignedData DigestValue %q is not base64 of 32 bytes", b.invoiceDigest)
		return
	}
	digest := sha256.Sum256(raw)
	if !cert.VerifySignature(crt.PublicKey, digest[:], sig) {
		c.fail(CodeSignature, "the signature does not verify over the invoice hash with the certificate's %s key", crt.Curve)
	}
}

// qrCode decodes the QR reference and compares every tag.
func (c *checker) qrCode(d *document, v *Verification, ref int32) {
	if ref < 0 {
		c.fail(CodeQR, "the QR AdditionalDocumentReference is missing")
		return
	}
	v.QRText = d.textOf(d.path(ref, NSCAC, "Attachment", NSCBC, "EmbeddedDocumentBinaryObject"))
	f, err := qr.DecodeBase64(v.QRText)
	if err != nil {
		code := CodeQR
		var te *qr.TagError
		if errors.As(err, &te) {
			code = qrCodeFor(te.Tag)
		}
		c.fail(code, "%v", err)
		return
	}
	v.QR = f
	supplier := d.path(0, NSCAC, "AccountingSupplierParty", NSCAC, "Party")
	text := func(e int32) string { return d.textOf(e) }
	check := func(tag qr.Tag, got, want, what string) {
		if got != want {
			c.fail(qrCodeFor(tag), "QR %s is %q, %s is %q", tag, got, what, want)
		}
	}
	check(qr.TagSellerName, f.SellerName, text(d.path(supplier, NSCAC, "PartyLegalEntity", NSCBC, "RegistrationName")), "the seller's RegistrationName")
	check(qr.TagVATNumber, f.VATNumber, text(d.path(supplier, NSCAC, "PartyTaxScheme", NSCBC, "CompanyID")), "the seller's CompanyID")
	check(qr.TagTimestamp, f.Timestamp, v.IssueDate+"T"+v.IssueTime, "IssueDate+T+IssueTime")
	// Tag 4 is the total with VAT. The standard names TaxInclusiveAmount, the
	// current SDK writes PayableAmount; either literal text is accepted.
	lmt := d.child(0, NSCAC, "LegalMonetaryTotal")
	incl, pay := text(d.child(lmt, NSCBC, "TaxInclusiveAmount")), text(d.child(lmt, NSCBC, "PayableAmount"))
	if f.Total != incl && f.Total != pay {
		c.fail(CodeQR, "QR %s is %q, TaxInclusiveAmount is %q and PayableAmount %q", qr.TagTotal, f.Total, incl, pay)
	}
	check(qr.TagVATTotal, f.VATTotal, text(d.path(0, NSCAC, "TaxTotal", NSCBC, "TaxAmount")), "the first TaxTotal/TaxAmount")
	check(qr.TagInvoiceHash, f.InvoiceHash, v.Hash, "the invoice hash")
	check(qr.TagSignature, f.Signature, v.SignatureValue, "ds:SignatureValue")
	if crt := v.Certificate; crt != nil {
		if !bytes.Equal(f.PublicKey, crt.SPKI) {
			c.fail(CodeQRPublicKey, "QR %s is not the certificate's SubjectPublicKeyInfo", qr.TagPublicKey)
		}
		switch {
		case v.Simplified && len(f.CertSignature) == 0:
			c.fail(CodeQRCertSignature, "QR %s is missing; simplified documents carry the certificate signature", qr.TagCertSignature)
		case len(f.CertSignature) > 0 && !bytes.Equal(f.CertSignature, crt.SignatureValue):
			c.fail(CodeQRCertSignature, "QR %s is not the certificate's signatureValue", qr.TagCertSignature)
		}
	}
}

func qrCodeFor(t qr.Tag) Code {
	switch t {
	case qr.TagTimestamp:
		return CodeQRTimestamp
	case qr.TagInvoiceHash:
		return CodeQRInvoiceHash
	case qr.TagPublicKey:
		return CodeQRPublicKey
	case qr.TagCertSignature:
		return CodeQRCertSignature
	}
	return CodeQR
}
