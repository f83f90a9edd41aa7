package ubl

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/qr"
)

// KSA is Saudi Arabia's time zone (UTC+3, no daylight saving time). Every
// time written into a document is KSA local time (DESIGN decision 6).
var KSA = time.FixedZone("AST", 3*60*60)

// localTimeLayout is Java's yyyy-MM-dd'T'HH:mm:ss.
const localTimeLayout = "2006-01-02T15:04:05"

// Signed is a stamped document and the values derived while stamping it.
type Signed struct {
	XML []byte // the signed document, the exact bytes to journal and report
	// Hash is the invoice hash, base64 of HashRaw (44 characters): the
	// DigestValue, QR tag 6, the API invoiceHash and the next document's PIH.
	Hash    string
	HashRaw [32]byte
	// SignatureValue is base64 of the DER ECDSA signature (QR tag 7).
	SignatureValue string
	// QR is the base64 TLV written into the QR reference and printed.
	QR string
	// IssueDateTime is IssueDate+"T"+IssueTime as written (QR tag 3).
	IssueDateTime string
	// SigningTime is xades:SigningTime (KSA local time).
	SigningTime string
	// CertDigest and SignedPropertiesDigest are the two 88-character
	// digests of the XAdES block.
	CertDigest             string
	SignedPropertiesDigest string
}

// Sign stamps an unsigned invoice (SPEC §4–§6): a complete Invoice document
// without ext:UBLExtensions, the QR AdditionalDocumentReference and
// cac:Signature, as Build emits it. It inserts the three blocks at their XSD
// positions (UBLExtensions first in Invoice; the QR reference and
// cac:Signature before cac:AccountingSupplierParty, or the QR reference
// before cac:ProjectReference when there is one), computes the invoice hash
// over the final layout, signs SHA-256 of the 32 raw hash bytes with key
// (crypto.SHA256, ASN.1 DER result), fills the XAdES values and builds the
// QR (tag 9 only for simplified documents) from the document's own text.
//
// key must be the private key of c. signingTime is written in KSA time.
// Besides the three blocks, Sign adds only a line break and indentation
// after the QR reference and after cac:Signature, and xmlns:ext on the
// root when it is missing; every other byte is kept.
func Sign(unsigned []byte, key crypto.Signer, c *cert.Certificate, signingTime time.Time) (*Signed, error) {
	s, err := sign(unsigned, key, c, signingTime)
	if err != nil {
		return nil, fmt.Errorf("ubl sign: %w", err)
	}
	return s, nil
}

func sign(unsigned []byte, key crypto.Signer, c *cert.Certificate, signingTime time.Time) (*Signed, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no signing key", ErrSigner)
	}
	switch {
	case c == nil || len(c.Raw) == 0:
		return nil, fmt.Errorf("%w: no certificate", ErrCertificate)
	case len(c.SPKI) == 0 || c.SerialNumber == nil || c.SerialNumber.Sign() <= 0 || len(c.Issuer) == 0:
		return nil, fmt.Errorf("%w: the certificate lacks its key, serial number or issuer", ErrCertificate)
	}
	if signingTime.IsZero() {
		return nil, fmt.Errorf("%w: signing time is zero", ErrInvalidInput)
	}
	spki, err := cert.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("%w: signer public key: %v", ErrSigner, err)
	}
	if !bytes.Equal(spki, c.SPKI) {
		return nil, fmt.Errorf("%w: the signing key is not the certificate's key", ErrSigner)
	}

	// One pass: the canonical form of the final document without the three
	// blocks (the hash input), where the blocks go, and the QR values.
	var sp signPass
	bp := bufPool.Get().(*[]byte)
	canon, err := canonicalizeForSign((*bp)[:0], unsigned, &sp)
	*bp = canon[:0]
	if err != nil {
		bufPool.Put(bp)
		var se *SyntaxError
		if errors.As(err, &se) {
			err = fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		return nil, err
	}
	out := &Signed{HashRaw: sha256.Sum256(canon)}
	bufPool.Put(bp)
	lay, vals := &sp.lay, &sp.v
	out.Hash = base64.StdEncoding.EncodeToString(out.HashRaw[:])

	digest := sha256.Sum256(out.HashRaw[:])
	der, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigner, err)
	}
	if !isDERSignature(der) {
		return nil, fmt.Errorf("%w: signer returned %d bytes that are not an ASN.1 DER ECDSA signature", ErrSigner, len(der))
	}
	out.SignatureValue = base64.StdEncoding.EncodeToString(der)

	certB64 := c.Base64()
	issuer := c.IssuerName()
	serial := c.SerialNumber.String()
	if err := checkText(issuer); err != nil {
		return nil, fmt.Errorf("%w: issuer name: %v", ErrCertificate, err)
	}
	out.SigningTime = signingTime.In(KSA).Format(localTimeLayout)
	out.CertDigest = CertDigest(certB64)
	props := appendSignedProperties(make([]byte, 0, 1400), out.SigningTime, out.CertDigest, issuer, serial)
	out.SignedPropertiesDigest = hexDigestBase64(propsDigestInput(make([]byte, 0, 1600), props))

	out.IssueDateTime = vals.issueDate + "T" + vals.issueTime
	f := qr.Fields{
		SellerName:  vals.sellerName,
		VATNumber:   vals.sellerVAT,
		Timestamp:   out.IssueDateTime,
		Total:       vals.taxInclusive,
		VATTotal:    vals.taxTotal,
		InvoiceHash: out.Hash,
		Signature:   out.SignatureValue,
		PublicKey:   c.SPKI,
	}
	if strings.HasPrefix(vals.typeName, "02") {
		if len(c.SignatureValue) == 0 {
			return nil, fmt.Errorf("%w: the certificate has no signatureValue for QR tag 9", ErrCertificate)
		}
		f.CertSignature = c.SignatureValue
	}
	out.QR, err = f.Base64()
	if err != nil {
		return nil, fmt.Errorf("%w: QR: %w", ErrInvalidInput, err)
	}

	ext := appendUBLExtensions(make([]byte, 0, 5200), out.Hash, out.SignedPropertiesDigest, out.SignatureValue, certB64, props)
	qrBlock := lay.qrBlock(out.QR)
	sigBlock := lay.signatureBlock()
	out.XML = lay.assemble(make([]byte, 0, len(unsigned)+len(extNSDecl)+len(ext)+len(qrBlock)+len(sigBlock)+32), unsigned, ext, qrBlock, sigBlock)
	return out, nil
}

const extNSDecl = ` xmlns:ext="` + NSEXT + `"`

// assemble writes the unsigned document with the blocks and their
// separators inserted.
func (l *layout) assemble(b, src, ext, qrBlock, sigBlock []byte) []byte {
	b = append(b, src[:l.rootGT]...)
	if l.addExtNS {
		b = append(b, extNSDecl...)
	}
	b = append(b, '>')
	b = append(b, ext...)
	b = append(b, src[l.rootGT+1:l.qrAt]...)
	b = append(b, qrBlock...)
	b = append(b, l.qrSep...)
	b = append(b, src[l.qrAt:l.sigAt]...)
	b = append(b, sigBlock...)
	b = append(b, l.sigSep...)
	return append(b, src[l.sigAt:]...)
}

// qrBlock is the QR reference, indented like the element it precedes.
func (l *layout) qrBlock(qrText string) []byte {
	ind := l.qrSep
	in1, in2 := ind+indentOf(ind), ind+indentOf(ind)+indentOf(ind)
	var b []byte
	b = append(b, "<cac:AdditionalDocumentReference>"...)
	b = append(b, in1+"<cbc:ID>QR</cbc:ID>"...)
	b = append(b, in1+"<cac:Attachment>"...)
	b = append(b, in2+`<cbc:EmbeddedDocumentBinaryObject mimeCode="text/plain">`...)
	b = append(b, qrText...)
	b = append(b, "</cbc:EmbeddedDocumentBinaryObject>"...)
	b = append(b, in1+"</cac:Attachment>"...)
	b = append(b, ind+"</cac:AdditionalDocumentReference>"...)
	return b
}

// signatureBlock is cac:Signature, indented like the element it precedes.
func (l *layout) signatureBlock() []byte {
	ind := l.sigSep
	in1 := ind + indentOf(ind)
	var b []byte
	b = append(b, "<cac:Signature>"...)
	b = append(b, in1+"<cbc:ID>"+SignatureID+"</cbc:ID>"...)
	b = append(b, in1+"<cbc:SignatureMethod>"+SignatureMethod+"</cbc:SignatureMethod>"...)
	b = append(b, ind+"</cac:Signature>"...)
	return b
}

// indentOf is one indentation step for a separator "\n"+indent: the
// indent itself (root children sit one step deep), "" for compact documents.
func indentOf(sep string) string {
	if sep == "" {
		return ""
	}
	return sep[1:]
}

// Identifiers of the signature (BR-KSA-28/29/30).
const (
	SignatureInformationID = "urn:oasis:names:specification:ubl:signature:1"
	SignatureID            = "urn:oasis:names:specification:ubl:signature:Invoice"
	SignatureMethod        = "urn:oasis:names:specification:ubl:dsig:enveloped:xades"
)

// isDERSignature reports whether b is SEQUENCE { INTEGER r, INTEGER s } in
// DER with nothing after it.
func isDERSignature(b []byte) bool {
	in := cryptobyte.String(b)
	var seq, r, s cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return false
	}
	if !seq.ReadASN1(&r, cbasn1.INTEGER) || !seq.ReadASN1(&s, cbasn1.INTEGER) || !seq.Empty() {
		return false
	}
	return len(r) > 0 && len(s) > 0 && r[0]&0x80 == 0 && s[0]&0x80 == 0
}

// checkText rejects text XML cannot carry unchanged: invalid UTF-8,
// characters outside XML 1.0's Char production, and CR (a parser reads it
// back as LF).
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	for i, r := range s {
		if !isXMLChar(r) || r == '\r' {
			return fmt.Errorf("character %U at byte %d is not allowed in XML text", r, i)
		}
	}
	return nil
}
