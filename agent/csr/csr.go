// Package csr owns ZATCA's PKCS#10 certificate signing requests (SPEC §1):
// the Config an EGS unit onboards with, its validation, the CSR DER exactly
// as ZATCA's example (subject C, OU, O, CN; one extensionRequest with the
// certificate template name and a SAN directoryName), its PEM and the
// base64-of-PEM form the compliance API takes, and parsing with signature
// verification (used by offline/fatoorasim).
//
// Go's crypto/x509 rejects secp256k1, so the DER is built with
// golang.org/x/crypto/cryptobyte and the shared pieces of agent/cert. The
// private key stays behind a crypto.Signer: the CSR is signed with
// key.Sign(rand, SHA-256(CertificationRequestInfo), crypto.SHA256).
//
// It imports agent/cert only; it must not import hsm or any agent package
// above it.
package csr

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/posagent/posagent/agent/cert"
)

// PEMType is the PEM block type of a CSR.
const PEMType = "CERTIFICATE REQUEST"

// Subject returns the CSR subject in ZATCA's order: C (PrintableString),
// OU, O, CN (UTF8String).
func (c Config) Subject() cert.Name {
	return cert.Name{
		{{Type: cert.OIDCountry, Tag: cert.TagPrintableString, Value: c.Country}},
		{{Type: cert.OIDOrganizationalUnit, Tag: cert.TagUTF8String, Value: c.OrganizationUnit}},
		{{Type: cert.OIDOrganization, Tag: cert.TagUTF8String, Value: c.Organization}},
		{{Type: cert.OIDCommonName, Tag: cert.TagUTF8String, Value: c.CommonName}},
	}
}

// SubjectAltName returns the SAN directoryName attributes of c.
func (c Config) SubjectAltName() cert.SubjectAltName {
	return cert.SubjectAltName{
		SerialNumber: c.SerialNumber,
		VATNumber:    c.OrganizationIdentifier,
		InvoiceType:  c.InvoiceType,
		Location:     c.Location,
		Industry:     c.Industry,
	}
}

// Create validates cfg and returns the DER of a PKCS#10 request for the
// public key of key (secp256k1 or P-256), signed ecdsa-with-SHA256 through
// key.Sign(crypto/rand, SHA-256(CertificationRequestInfo), crypto.SHA256).
// The signature is verified before Create returns.
func Create(cfg Config, key crypto.Signer) ([]byte, error) {
	return CreateWithRand(cfg, key, nil)
}

// CreateWithRand is Create with the randomness handed to key.Sign (nil
// means crypto/rand).
func CreateWithRand(cfg Config, key crypto.Signer, r io.Reader) ([]byte, error) {
	der, err := create(cfg, key, r)
	if err != nil {
		return nil, fmt.Errorf("csr create: %w", err)
	}
	return der, nil
}

func create(cfg Config, key crypto.Signer, r io.Reader) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no signing key", cert.ErrInvalidTemplate)
	}
	info, err := marshalInfo(cfg, key.Public())
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = rand.Reader
	}
	sig, err := cert.SignSHA256(key, r, info)
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(info)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(cert.OIDECDSAWithSHA256)
		})
		b.AddASN1BitString(sig)
	})
	return b.Bytes()
}

// MarshalInfo returns the DER of the CertificationRequestInfo for cfg and
// pub: what Create signs. cfg must be valid.
func MarshalInfo(cfg Config, pub crypto.PublicKey) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("csr marshal info: %w", err)
	}
	info, err := marshalInfo(cfg, pub)
	if err != nil {
		return nil, fmt.Errorf("csr marshal info: %w", err)
	}
	return info, nil
}

func marshalInfo(cfg Config, pub crypto.PublicKey) ([]byte, error) {
	subject, err := cert.MarshalName(cfg.Subject())
	if err != nil {
		return nil, err
	}
	spki, err := cert.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	tmpl, err := cert.MarshalTemplateNameExtension(cfg.Environment.TemplateName())
	if err != nil {
		return nil, err
	}
	san, err := cert.MarshalSANExtension(cfg.SubjectAltName())
	if err != nil {
		return nil, err
	}
	exts, err := cert.MarshalExtensions([]cert.Extension{
		{ID: cert.OIDExtTemplateName, Value: tmpl},
		{ID: cert.OIDExtSubjectAlt, Value: san},
	})
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0) // version v1
		b.AddBytes(subject)
		b.AddBytes(spki)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(cert.OIDExtensionRequest)
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(exts) })
			})
		})
	})
	return b.Bytes()
}

// PEM returns der as a "CERTIFICATE REQUEST" PEM block.
func PEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: PEMType, Bytes: der})
}

// Base64PEM returns the base64 of the whole PEM text: the value of the
// "csr" field of ZATCA's compliance and renewal APIs (SPEC §1.4).
func Base64PEM(der []byte) string {
	return base64.StdEncoding.EncodeToString(PEM(der))
}

// Request is a parsed CSR whose signature has been verified.
type Request struct {
	Raw     []byte // the whole DER
	RawInfo []byte // DER of CertificationRequestInfo (what was signed)

	Subject    cert.Name
	RawSubject []byte

	SPKI      []byte
	PublicKey crypto.PublicKey // *secp256k1.PublicKey or *ecdsa.PublicKey (P-256)
	Curve     cert.Curve

	// Extensions are the extensionRequest extensions in order.
	Extensions []cert.Extension
	// SubjectAltName holds the SAN directoryName attributes; nil if absent.
	SubjectAltName   *cert.SubjectAltName
	SANDirectoryName cert.Name
	TemplateName     string
	// OtherAttributes are the types of attributes other than
	// extensionRequest (ZATCA's CSRs have none).
	OtherAttributes []asn1.ObjectIdentifier

	Signature []byte // DER ECDSA
}

// Config reconstructs the Config the request was made from. It fails when
// the request lacks the SAN directoryName or has an unknown template name;
// it does not validate the values (call Validate).
func (r *Request) Config() (Config, error) {
	if r.SubjectAltName == nil {
		return Config{}, fmt.Errorf("csr config: %w: no SAN directoryName", cert.ErrMalformed)
	}
	env, ok := EnvForTemplate(r.TemplateName)
	if !ok {
		return Config{}, fmt.Errorf("csr config: %w: unknown template name %q", ErrInvalidConfig, r.TemplateName)
	}
	s := r.SubjectAltName
	return Config{
		CommonName:             r.Subject.Get(cert.OIDCommonName),
		SerialNumber:           s.SerialNumber,
		OrganizationIdentifier: s.VATNumber,
		OrganizationUnit:       r.Subject.Get(cert.OIDOrganizationalUnit),
		Organization:           r.Subject.Get(cert.OIDOrganization),
		Country:                r.Subject.Get(cert.OIDCountry),
		InvoiceType:            s.InvoiceType,
		Location:               s.Location,
		Industry:               s.Industry,
		Environment:            env,
	}, nil
}

// Parse parses a CSR given as DER, PEM, base64 of the PEM text (ZATCA's
// JSON form) or base64 of the DER, and verifies its ecdsa-with-SHA256
// signature. Errors wrap cert.ErrEncoding, cert.ErrMalformed,
// cert.ErrUnsupported or cert.ErrBadSignature.
func Parse(data []byte) (*Request, error) {
	der, err := cert.DecodeText(data, PEMType, "NEW "+PEMType)
	if err != nil {
		return nil, fmt.Errorf("csr parse: %w", err)
	}
	r, err := parse(der)
	if err != nil {
		return nil, fmt.Errorf("csr parse: %w", err)
	}
	return r, nil
}

func malformed(what string) error { return fmt.Errorf("%w: %s", cert.ErrMalformed, what) }

func parse(der []byte) (*Request, error) {
	r := &Request{Raw: append([]byte(nil), der...)}
	in := cryptobyte.String(r.Raw)
	var outer, info, alg cryptobyte.String
	if !in.ReadASN1(&outer, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, malformed("CSR is not one SEQUENCE")
	}
	if !outer.ReadASN1Element(&info, cbasn1.SEQUENCE) {
		return nil, malformed("CertificationRequestInfo")
	}
	r.RawInfo = info
	var algOID asn1.ObjectIdentifier
	if !outer.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&algOID) {
		return nil, malformed("signatureAlgorithm")
	}
	if alg.PeekASN1Tag(cbasn1.NULL) {
		alg.SkipASN1(cbasn1.NULL)
	}
	if !alg.Empty() {
		return nil, malformed("signatureAlgorithm parameters")
	}
	var sig asn1.BitString
	if !outer.ReadASN1BitString(&sig) || sig.BitLength%8 != 0 || !outer.Empty() {
		return nil, malformed("signature BIT STRING")
	}
	r.Signature = sig.Bytes

	var body cryptobyte.String
	var version int64
	info.ReadASN1(&body, cbasn1.SEQUENCE)
	if !body.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) || version != 0 {
		return nil, malformed("version (want 0)")
	}
	var subject, spki cryptobyte.String
	if !body.ReadASN1Element(&subject, cbasn1.SEQUENCE) {
		return nil, malformed("subject")
	}
	r.RawSubject = subject
	var err error
	if r.Subject, err = cert.ParseName(subject); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	if !body.ReadASN1Element(&spki, cbasn1.SEQUENCE) {
		return nil, malformed("subjectPKInfo")
	}
	r.SPKI = spki
	if r.PublicKey, r.Curve, err = cert.ParsePKIXPublicKey(spki); err != nil {
		return nil, err
	}
	var attrs cryptobyte.String
	if !body.ReadASN1(&attrs, cbasn1.Tag(0).Constructed().ContextSpecific()) || !body.Empty() {
		return nil, malformed("attributes [0]")
	}
	if err := r.parseAttributes(attrs); err != nil {
		return nil, err
	}

	if !algOID.Equal(cert.OIDECDSAWithSHA256) {
		return nil, fmt.Errorf("%w: signature algorithm %s (want ecdsa-with-SHA256)", cert.ErrUnsupported, algOID)
	}
	digest := sha256.Sum256(r.RawInfo)
	if !cert.VerifySignature(r.PublicKey, digest[:], r.Signature) {
		return nil, fmt.Errorf("%w: CSR self-signature", cert.ErrBadSignature)
	}
	return r, nil
}

func (r *Request) parseAttributes(attrs cryptobyte.String) error {
	seenExtReq := false
	for !attrs.Empty() {
		var attr, values cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) ||
			!attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return malformed("attribute")
		}
		if !oid.Equal(cert.OIDExtensionRequest) {
			r.OtherAttributes = append(r.OtherAttributes, oid)
			continue
		}
		if seenExtReq {
			return malformed("more than one extensionRequest attribute")
		}
		seenExtReq = true
		var extsDER cryptobyte.String
		if !values.ReadASN1Element(&extsDER, cbasn1.SEQUENCE) || !values.Empty() {
			return malformed("extensionRequest must hold one SEQUENCE OF Extension")
		}
		exts, err := cert.ParseExtensions(extsDER)
		if err != nil {
			return err
		}
		r.Extensions = exts
		for _, e := range exts {
			switch {
			case e.ID.Equal(cert.OIDExtSubjectAlt):
				san, dn, err := cert.ParseSANExtension(e.Value)
				if err != nil {
					return err
				}
				r.SubjectAltName, r.SANDirectoryName = san, dn
			case e.ID.Equal(cert.OIDExtTemplateName):
				if r.TemplateName, err = cert.ParseTemplateNameExtension(e.Value); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
