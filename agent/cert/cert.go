// Package cert owns ZATCA certificates and keys in DER: it parses the
// certificates ZATCA's CA issues (CSIDs), renders the fields the XAdES block
// and the QR need (Java-style issuer name, decimal serial, SubjectPublicKeyInfo,
// the CA's signatureValue), verifies ECDSA signatures on secp256k1 and P-256,
// and issues ZATCA-shaped X.509 v3 certificates for the simulator's CA and
// for tests.
//
// Go's crypto/x509 rejects secp256k1 ("unsupported elliptic curve", SPEC
// §0.1 item 12), so everything here is our own DER code on
// golang.org/x/crypto/cryptobyte, with secp256k1 arithmetic from
// github.com/decred/dcrd/dcrec/secp256k1/v4 and P-256 from crypto/ecdsa.
//
// Public keys are *secp256k1.PublicKey for secp256k1 and *ecdsa.PublicKey
// for P-256. Functions that take a public key also accept an *ecdsa.PublicKey
// on secp256k1.S256().
//
// It must not import any other posagent package; agent/ubl, agent/csr and
// offline/fatoorasim import it.
package cert

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Sentinel errors; errors returned by this package wrap one of them.
var (
	// ErrMalformed: the input is not valid DER of the expected structure.
	ErrMalformed = errors.New("malformed")
	// ErrUnsupported: a valid structure using an algorithm or curve this
	// package does not handle.
	ErrUnsupported = errors.New("unsupported")
	// ErrBadSignature: a signature does not verify.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrInvalidTemplate: a Template (or name, key) cannot be issued.
	ErrInvalidTemplate = errors.New("invalid template")
	// ErrEncoding: text input is neither PEM nor base64 of what was expected.
	ErrEncoding = errors.New("unrecognised encoding")
)

// Object identifiers of algorithms and extensions.
var (
	OIDECPublicKey      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	OIDECDSAWithSHA256  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	OIDCurveSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	OIDCurveP256        = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	OIDExtSubjectAlt    = asn1.ObjectIdentifier{2, 5, 29, 17}
	OIDExtSubjectKeyID  = asn1.ObjectIdentifier{2, 5, 29, 14}
	OIDExtAuthKeyID     = asn1.ObjectIdentifier{2, 5, 29, 35}
	OIDExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 15}
	OIDExtBasicConstr   = asn1.ObjectIdentifier{2, 5, 29, 19}
	OIDExtExtKeyUsage   = asn1.ObjectIdentifier{2, 5, 29, 37}
	OIDExtTemplateName  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2}
	OIDEKUCodeSigning   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}
	OIDEKUClientAuth    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}
	OIDExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}
)

// KeyUsage bits (RFC 5280 §4.2.1.3), bit 0 = digitalSignature.
type KeyUsage int

// Key usages.
const (
	KeyUsageDigitalSignature KeyUsage = 1 << iota
	KeyUsageContentCommitment
	KeyUsageKeyEncipherment
	KeyUsageDataEncipherment
	KeyUsageKeyAgreement
	KeyUsageCertSign
	KeyUsageCRLSign
	KeyUsageEncipherOnly
	KeyUsageDecipherOnly
)

// Extension is one certificate extension as found in the DER.
type Extension struct {
	ID       asn1.ObjectIdentifier
	Critical bool
	Value    []byte // contents of the extnValue OCTET STRING
}

// SubjectAltName holds the attributes of ZATCA's SAN directoryName (SPEC
// §1.2), all UTF8String in certificates and CSRs ZATCA produces.
type SubjectAltName struct {
	SerialNumber string // SN, surname 2.5.4.4: "1-…|2-…|3-…"
	VATNumber    string // UID 0.9.2342.19200300.100.1.1
	InvoiceType  string // title 2.5.4.12: "TSCZ" as four 0/1 digits
	Location     string // registeredAddress 2.5.4.26
	Industry     string // businessCategory 2.5.4.15
}

// Name returns the directoryName in ZATCA's order: SN, UID, title,
// registeredAddress, businessCategory, one UTF8String attribute per RDN.
func (s SubjectAltName) Name() Name {
	return Name{
		{{Type: OIDSurname, Tag: TagUTF8String, Value: s.SerialNumber}},
		{{Type: OIDUID, Tag: TagUTF8String, Value: s.VATNumber}},
		{{Type: OIDTitle, Tag: TagUTF8String, Value: s.InvoiceType}},
		{{Type: OIDRegisteredAddress, Tag: TagUTF8String, Value: s.Location}},
		{{Type: OIDBusinessCategory, Tag: TagUTF8String, Value: s.Industry}},
	}
}

// Certificate is a parsed X.509 certificate. All byte slices are owned by
// the Certificate.
type Certificate struct {
	Raw    []byte // the whole certificate DER
	RawTBS []byte // the DER of tbsCertificate, what the CA signed

	Version      int // 1, 2 or 3
	SerialNumber *big.Int
	// SignatureAlgorithm is the OID of the CA's signature algorithm
	// (ecdsa-with-SHA256 for ZATCA).
	SignatureAlgorithm asn1.ObjectIdentifier

	Issuer, Subject       Name
	RawIssuer, RawSubject []byte // DER of the names

	NotBefore, NotAfter time.Time

	// SPKI is the raw SubjectPublicKeyInfo DER: QR tag 8.
	SPKI []byte
	// PublicKey is *secp256k1.PublicKey or *ecdsa.PublicKey (P-256).
	PublicKey crypto.PublicKey
	Curve     Curve

	// SignatureValue is the CA's DER ECDSA signature (the signatureValue BIT
	// STRING contents): QR tag 9.
	SignatureValue []byte

	Extensions []Extension
	// SubjectAltName holds the ZATCA directoryName attributes of the SAN
	// extension; nil when the certificate has no SAN directoryName.
	SubjectAltName *SubjectAltName
	// SANDirectoryName is that directoryName as found (nil when absent).
	SANDirectoryName Name
	// TemplateName is the value of extension 1.3.6.1.4.1.311.20.2, if any.
	TemplateName string

	KeyUsage              KeyUsage // zero when the extension is absent
	ExtKeyUsage           []asn1.ObjectIdentifier
	BasicConstraintsValid bool
	IsCA                  bool
	SubjectKeyID          []byte
	AuthorityKeyID        []byte
}

// Base64 returns the standard base64 of the DER on one line: the exact text
// of ds:X509Certificate (and the text whose digest is xades:CertDigest).
func (c *Certificate) Base64() string { return base64.StdEncoding.EncodeToString(c.Raw) }

// IssuerName returns the issuer as Java's getIssuerDN().getName(), the
// ds:X509IssuerName text, e.g. "CN=PRZEINVOICESCA4-CA, DC=extgazt, DC=gov,
// DC=local".
func (c *Certificate) IssuerName() string { return c.Issuer.JavaString() }

// SubjectName returns the subject rendered as IssuerName does.
func (c *Certificate) SubjectName() string { return c.Subject.JavaString() }

// CheckSignatureFrom verifies that parent's key signed c (ecdsa-with-SHA256)
// and that c's issuer is parent's subject. It does not check validity
// periods or CA flags.
func (c *Certificate) CheckSignatureFrom(parent *Certificate) error {
	if parent == nil {
		return fmt.Errorf("cert check signature: %w: no parent certificate", ErrInvalidTemplate)
	}
	if !bytes.Equal(c.RawIssuer, parent.RawSubject) {
		return fmt.Errorf("cert check signature: %w: issuer %q is not the parent's subject %q",
			ErrBadSignature, c.IssuerName(), parent.SubjectName())
	}
	if !c.SignatureAlgorithm.Equal(OIDECDSAWithSHA256) {
		return fmt.Errorf("cert check signature: %w: signature algorithm %s", ErrUnsupported, c.SignatureAlgorithm)
	}
	digest := sha256.Sum256(c.RawTBS)
	if !VerifySignature(parent.PublicKey, digest[:], c.SignatureValue) {
		return fmt.Errorf("cert check signature: %w", ErrBadSignature)
	}
	return nil
}

// Parse parses one DER certificate. Trailing bytes are an error. The
// signature algorithm must be the same inside and outside tbsCertificate;
// the key must be EC on secp256k1 or P-256.
func Parse(der []byte) (*Certificate, error) {
	c, err := parse(der)
	if err != nil {
		return nil, fmt.Errorf("cert parse: %w", err)
	}
	return c, nil
}

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

func parse(der []byte) (*Certificate, error) {
	c := &Certificate{Raw: bytes.Clone(der)}
	input := cryptobyte.String(c.Raw)
	var certSeq cryptobyte.String
	if !input.ReadASN1(&certSeq, cbasn1.SEQUENCE) {
		return nil, malformed("certificate is not a SEQUENCE")
	}
	if !input.Empty() {
		return nil, malformed("trailing data after certificate")
	}
	var tbsFull cryptobyte.String
	if !certSeq.ReadASN1Element(&tbsFull, cbasn1.SEQUENCE) {
		return nil, malformed("tbsCertificate")
	}
	c.RawTBS = tbsFull
	var outerAlg asn1.ObjectIdentifier
	if err := readAlgorithm(&certSeq, &outerAlg); err != nil {
		return nil, fmt.Errorf("signatureAlgorithm: %w", err)
	}
	c.SignatureAlgorithm = outerAlg
	sig, err := readBitString(&certSeq)
	if err != nil {
		return nil, fmt.Errorf("signatureValue: %w", err)
	}
	c.SignatureValue = sig
	if !certSeq.Empty() {
		return nil, malformed("trailing data in certificate SEQUENCE")
	}

	var tbs cryptobyte.String
	tbsFull.ReadASN1(&tbs, cbasn1.SEQUENCE)
	c.Version = 1
	var hasVersion bool
	var versionEl cryptobyte.String
	if !tbs.ReadOptionalASN1(&versionEl, &hasVersion, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, malformed("version")
	}
	if hasVersion {
		var v int64
		if !versionEl.ReadASN1Int64WithTag(&v, cbasn1.INTEGER) || !versionEl.Empty() || v < 0 || v > 2 {
			return nil, malformed("version")
		}
		c.Version = int(v) + 1
	}
	c.SerialNumber = new(big.Int)
	if !tbs.ReadASN1Integer(c.SerialNumber) {
		return nil, malformed("serialNumber")
	}
	var innerAlg asn1.ObjectIdentifier
	if err := readAlgorithm(&tbs, &innerAlg); err != nil {
		return nil, fmt.Errorf("tbsCertificate.signature: %w", err)
	}
	if !innerAlg.Equal(outerAlg) {
		return nil, malformed("signature algorithms inside and outside tbsCertificate differ")
	}
	var issuer, subject cryptobyte.String
	if !tbs.ReadASN1Element(&issuer, cbasn1.SEQUENCE) {
		return nil, malformed("issuer")
	}
	c.RawIssuer = issuer
	if c.Issuer, err = parseName(issuer); err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	var validity cryptobyte.String
	if !tbs.ReadASN1(&validity, cbasn1.SEQUENCE) {
		return nil, malformed("validity")
	}
	if c.NotBefore, err = readTime(&validity); err != nil {
		return nil, fmt.Errorf("notBefore: %w", err)
	}
	if c.NotAfter, err = readTime(&validity); err != nil {
		return nil, fmt.Errorf("notAfter: %w", err)
	}
	if !validity.Empty() {
		return nil, malformed("trailing data in validity")
	}
	if !tbs.ReadASN1Element(&subject, cbasn1.SEQUENCE) {
		return nil, malformed("subject")
	}
	c.RawSubject = subject
	if c.Subject, err = parseName(subject); err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	var spki cryptobyte.String
	if !tbs.ReadASN1Element(&spki, cbasn1.SEQUENCE) {
		return nil, malformed("subjectPublicKeyInfo")
	}
	c.SPKI = spki
	if c.PublicKey, c.Curve, err = ParsePKIXPublicKey(spki); err != nil {
		return nil, fmt.Errorf("subjectPublicKeyInfo: %w", err)
	}
	// issuerUniqueID [1] and subjectUniqueID [2] are skipped.
	for _, t := range []cbasn1.Tag{cbasn1.Tag(1).ContextSpecific(), cbasn1.Tag(2).ContextSpecific()} {
		if !tbs.SkipOptionalASN1(t) || !tbs.SkipOptionalASN1(t.Constructed()) {
			return nil, malformed("unique identifier")
		}
	}
	var extsEl cryptobyte.String
	var hasExts bool
	if !tbs.ReadOptionalASN1(&extsEl, &hasExts, cbasn1.Tag(3).Constructed().ContextSpecific()) {
		return nil, malformed("extensions")
	}
	if !tbs.Empty() {
		return nil, malformed("trailing data in tbsCertificate")
	}
	if hasExts {
		var exts cryptobyte.String
		if !extsEl.ReadASN1(&exts, cbasn1.SEQUENCE) || !extsEl.Empty() {
			return nil, malformed("extensions")
		}
		if c.Extensions, err = parseExtensions(exts); err != nil {
			return nil, err
		}
		if err := c.interpretExtensions(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parseExtensions reads a SEQUENCE OF Extension body; duplicates are an
// error.
func parseExtensions(exts cryptobyte.String) ([]Extension, error) {
	var out []Extension
	seen := map[string]bool{}
	for !exts.Empty() {
		var ext cryptobyte.String
		var e Extension
		if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&e.ID) {
			return nil, malformed("extension")
		}
		if !readOptionalBool(&ext, &e.Critical) {
			return nil, malformed("extension " + e.ID.String() + " critical flag")
		}
		var val cryptobyte.String
		if !ext.ReadASN1(&val, cbasn1.OCTET_STRING) || !ext.Empty() {
			return nil, malformed("extension " + e.ID.String() + " value")
		}
		e.Value = val
		if seen[e.ID.String()] {
			return nil, malformed("duplicate extension " + e.ID.String())
		}
		seen[e.ID.String()] = true
		out = append(out, e)
	}
	return out, nil
}

func (c *Certificate) interpretExtensions() error {
	for _, e := range c.Extensions {
		v := cryptobyte.String(e.Value)
		switch {
		case e.ID.Equal(OIDExtSubjectAlt):
			dn, err := parseSANDirectoryName(v)
			if err != nil {
				return err
			}
			if dn != nil {
				c.SANDirectoryName = dn
				c.SubjectAltName = sanFromName(dn)
			}
		case e.ID.Equal(OIDExtTemplateName):
			s, err := parseTemplateName(v)
			if err != nil {
				return err
			}
			c.TemplateName = s
		case e.ID.Equal(OIDExtKeyUsage):
			var bits asn1.BitString
			if !v.ReadASN1BitString(&bits) || !v.Empty() {
				return malformed("key usage extension")
			}
			for i := 0; i < 9; i++ {
				if bits.At(i) != 0 {
					c.KeyUsage |= 1 << i
				}
			}
		case e.ID.Equal(OIDExtExtKeyUsage):
			var seq cryptobyte.String
			if !v.ReadASN1(&seq, cbasn1.SEQUENCE) || !v.Empty() {
				return malformed("extended key usage extension")
			}
			for !seq.Empty() {
				var oid asn1.ObjectIdentifier
				if !seq.ReadASN1ObjectIdentifier(&oid) {
					return malformed("extended key usage extension")
				}
				c.ExtKeyUsage = append(c.ExtKeyUsage, oid)
			}
		case e.ID.Equal(OIDExtBasicConstr):
			var seq cryptobyte.String
			if !v.ReadASN1(&seq, cbasn1.SEQUENCE) || !v.Empty() ||
				!readOptionalBool(&seq, &c.IsCA) ||
				!seq.SkipOptionalASN1(cbasn1.INTEGER) || !seq.Empty() {
				return malformed("basic constraints extension")
			}
			c.BasicConstraintsValid = true
		case e.ID.Equal(OIDExtSubjectKeyID):
			var id cryptobyte.String
			if !v.ReadASN1(&id, cbasn1.OCTET_STRING) || !v.Empty() {
				return malformed("subject key identifier extension")
			}
			c.SubjectKeyID = id
		case e.ID.Equal(OIDExtAuthKeyID):
			var seq, id cryptobyte.String
			var has bool
			if !v.ReadASN1(&seq, cbasn1.SEQUENCE) || !v.Empty() ||
				!seq.ReadOptionalASN1(&id, &has, cbasn1.Tag(0).ContextSpecific()) {
				return malformed("authority key identifier extension")
			}
			if has {
				c.AuthorityKeyID = id
			}
		}
	}
	return nil
}

// parseSANDirectoryName returns the first directoryName of a SAN extension
// value, or nil if there is none.
func parseSANDirectoryName(v cryptobyte.String) (Name, error) {
	var seq cryptobyte.String
	if !v.ReadASN1(&seq, cbasn1.SEQUENCE) || !v.Empty() {
		return nil, malformed("subject alternative name extension")
	}
	var first Name
	for !seq.Empty() {
		var gn cryptobyte.String
		var tag cbasn1.Tag
		if !seq.ReadAnyASN1(&gn, &tag) {
			return nil, malformed("subject alternative name entry")
		}
		if tag == cbasn1.Tag(4).Constructed().ContextSpecific() && first == nil {
			dn, err := parseName(gn)
			if err != nil {
				return nil, fmt.Errorf("subject alternative name directoryName: %w", err)
			}
			first = dn
		}
	}
	return first, nil
}

func sanFromName(n Name) *SubjectAltName {
	return &SubjectAltName{
		SerialNumber: n.Get(OIDSurname),
		VATNumber:    n.Get(OIDUID),
		InvoiceType:  n.Get(OIDTitle),
		Location:     n.Get(OIDRegisteredAddress),
		Industry:     n.Get(OIDBusinessCategory),
	}
}

// ParseSANExtension parses the value (extnValue contents) of a
// subjectAltName extension and returns its first directoryName as ZATCA
// attributes and as the name found. It returns ErrMalformed when there is
// no directoryName.
func ParseSANExtension(value []byte) (*SubjectAltName, Name, error) {
	dn, err := parseSANDirectoryName(value)
	if err != nil {
		return nil, nil, fmt.Errorf("cert parse SAN: %w", err)
	}
	if dn == nil {
		return nil, nil, fmt.Errorf("cert parse SAN: %w", malformed("no directoryName"))
	}
	return sanFromName(dn), dn, nil
}

// ParseTemplateNameExtension parses the value of extension
// 1.3.6.1.4.1.311.20.2 (a DER string; UTF8String in ZATCA's CSRs, BMPString
// in Microsoft's).
func ParseTemplateNameExtension(value []byte) (string, error) {
	s, err := parseTemplateName(value)
	if err != nil {
		return "", fmt.Errorf("cert parse template name: %w", err)
	}
	return s, nil
}

func parseTemplateName(v cryptobyte.String) (string, error) {
	var val cryptobyte.String
	var tag cbasn1.Tag
	if !v.ReadAnyASN1(&val, &tag) || !v.Empty() {
		return "", malformed("template name extension")
	}
	s, err := decodeString(int(tag), val)
	if err != nil {
		return "", malformed("template name extension: " + err.Error())
	}
	return s, nil
}

func readAlgorithm(s *cryptobyte.String, oid *asn1.ObjectIdentifier) error {
	var alg cryptobyte.String
	if !s.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(oid) {
		return malformed("AlgorithmIdentifier")
	}
	// ECDSA identifiers have absent parameters; tolerate NULL.
	if alg.PeekASN1Tag(cbasn1.NULL) {
		alg.SkipASN1(cbasn1.NULL)
	}
	if !alg.Empty() {
		return malformed("AlgorithmIdentifier parameters")
	}
	return nil
}

func readBitString(s *cryptobyte.String) ([]byte, error) {
	var bs asn1.BitString
	if !s.ReadASN1BitString(&bs) || bs.BitLength%8 != 0 {
		return nil, malformed("BIT STRING")
	}
	return bs.Bytes, nil
}

func readTime(s *cryptobyte.String) (time.Time, error) {
	var t time.Time
	switch {
	case s.PeekASN1Tag(cbasn1.UTCTime):
		if !s.ReadASN1UTCTime(&t) {
			return t, malformed("UTCTime")
		}
	case s.PeekASN1Tag(cbasn1.GeneralizedTime):
		if !s.ReadASN1GeneralizedTime(&t) {
			return t, malformed("GeneralizedTime")
		}
	default:
		return t, malformed("time")
	}
	return t, nil
}

// readOptionalBool reads a BOOLEAN DEFAULT FALSE. DER forbids encoding the
// default, so an explicit FALSE is rejected.
func readOptionalBool(s *cryptobyte.String, out *bool) bool {
	*out = false
	if !s.PeekASN1Tag(cbasn1.BOOLEAN) {
		return true
	}
	return s.ReadASN1Boolean(out) && *out
}
