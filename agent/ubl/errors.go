package ubl

import (
	"errors"
	"slices"
	"strings"
)

// Sentinel errors of Build and Sign; match them with errors.Is.
var (
	// ErrNotInvoice: the document's root is not a UBL Invoice.
	ErrNotInvoice = errors.New("not a UBL Invoice document")
	// ErrInvalidInput: the input document or value cannot be used (the
	// message names the field and the rule).
	ErrInvalidInput = errors.New("invalid input")
	// ErrMissingElement: an element the operation needs is absent or empty.
	ErrMissingElement = errors.New("missing element")
	// ErrAlreadySigned: Sign was given a document that already carries a
	// signature block, QR reference or cac:Signature.
	ErrAlreadySigned = errors.New("document is already signed")
	// ErrSigner: the signer failed, returned a non-DER signature, or does
	// not hold the certificate's key.
	ErrSigner = errors.New("signer")
	// ErrCertificate: the certificate is missing or unusable.
	ErrCertificate = errors.New("certificate")
)

// Code is the stable identifier of one failed verification check. Codes use
// ZATCA's own names where ZATCA has one (API validationResults codes and
// BR-KSA rule IDs); the others are this package's and say so below.
// A Code is an error, so errors.Is(err, CodeInvoiceHash) tells whether a
// verification error contains that failure.
type Code string

func (c Code) Error() string { return string(c) }

// Verification failure codes.
const (
	// CodeInvalidXML: not well-formed XML, not UTF-8, or not a UBL Invoice
	// (this package's code).
	CodeInvalidXML Code = "invalid-xml"
	// CodeInvoiceHash: the recomputed invoice hash differs from the
	// invoiceSignedData DigestValue or from the expected hash.
	CodeInvoiceHash Code = "invalid-invoice-hash"
	// CodeCertificateHashing: xades:CertDigest is not the digest of the
	// embedded certificate text.
	CodeCertificateHashing Code = "certificate-hashing"
	// CodeSignedProperties: the SignedProperties digest does not match.
	CodeSignedProperties Code = "signed-properties-hashing"
	// CodeSignature: the ECDSA signature does not verify over the invoice
	// hash with the certificate's key.
	CodeSignature Code = "invalid-digital-signature"
	// CodeSigningCertificate: the embedded certificate is missing, cannot be
	// parsed, or is not the certificate the verifier expects.
	CodeSigningCertificate Code = "invalid-signing-certificate"
	// CodeCertificatePermissions: the certificate's VAT number or
	// invoice-type map does not allow this document.
	CodeCertificatePermissions Code = "certificate-permissions"
	// CodeIssuerName: ds:X509IssuerName is not the certificate's issuer in
	// Java form.
	CodeIssuerName Code = "X-509-Issuer-Name"
	// CodeSerialNumber: ds:X509SerialNumber is not the certificate's serial
	// (this package's code, named after ZATCA's issuer-name code).
	CodeSerialNumber Code = "X-509-Serial-Number"
	// CodeSignatureStructure: the ds:Signature block is missing or does not
	// have the required algorithms, references and transforms (this
	// package's code).
	CodeSignatureStructure Code = "invalid-signature-structure"
	// CodePIH: the PIH reference differs from the expected previous invoice
	// hash (this package's code).
	CodePIH Code = "invalid-previous-invoice-hash"

	// Signature identifiers (KSA business rules).
	CodeSignaturePresent     Code = "BR-KSA-60" // cac:Signature present with its ID
	CodeSignatureInfoID      Code = "BR-KSA-28" // SignatureInformation/cbc:ID
	CodeReferencedSignature  Code = "BR-KSA-29" // ReferencedSignatureID
	CodeSignatureMethodValue Code = "BR-KSA-30" // cac:Signature/cbc:SignatureMethod

	// QR checks.
	CodeQR              Code = "QRCODE_INVALID"                       // QR missing, undecodable, or tag 1, 2, 4, 5 or 7 wrong
	CodeQRInvoiceHash   Code = "invoiceHash_QRCODE_INVALID"           // tag 6
	CodeQRTimestamp     Code = "invoiceTimeStamp_QRCODE_INVALID"      // tag 3
	CodeQRPublicKey     Code = "publicKey_QRCODE_INVALID"             // tag 8
	CodeQRCertSignature Code = "CERTIFICATE_SIGNATURE_QRCODE_INVALID" // tag 9
)

// Failure is one failed check with a human-readable message.
type Failure struct {
	Code    Code
	Message string
}

// VerifyError lists every failed check of one Verify call.
type VerifyError struct {
	Failures []Failure
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	for i, f := range e.Failures {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(string(f.Code))
		b.WriteString(": ")
		b.WriteString(f.Message)
	}
	return b.String()
}

// Is reports whether target is a Code among the failures.
func (e *VerifyError) Is(target error) bool {
	c, ok := target.(Code)
	return ok && e.Has(c)
}

// Has reports whether code is among the failures.
func (e *VerifyError) Has(code Code) bool {
	for _, f := range e.Failures {
		if f.Code == code {
			return true
		}
	}
	return false
}

// Codes returns the failure codes in the order they were found, each once.
func (e *VerifyError) Codes() []Code {
	var out []Code
	for _, f := range e.Failures {
		if !slices.Contains(out, f.Code) {
			out = append(out, f.Code)
		}
	}
	return out
}
