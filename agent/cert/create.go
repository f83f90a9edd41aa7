package cert

import (
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Template describes a certificate for Create.
type Template struct {
	// SerialNumber must be positive and at most 20 bytes.
	SerialNumber *big.Int
	// Subject in ASN.1 order. ZATCA's CSIDs use C, OU, O, CN; ZATCA's CA
	// names use DC=local, DC=gov, DC=extgazt, CN=… (IA5String DCs).
	Subject             Name
	NotBefore, NotAfter time.Time
	// PublicKey is the subject key: *secp256k1.PublicKey, or *ecdsa.PublicKey
	// on P-256 or secp256k1.S256().
	PublicKey crypto.PublicKey
	// SubjectAltName, when set, becomes a SAN extension with one
	// directoryName (SN, UID, title, registeredAddress, businessCategory).
	SubjectAltName *SubjectAltName
	// TemplateName, when set, becomes extension 1.3.6.1.4.1.311.20.2
	// (UTF8String).
	TemplateName string
	// IsCA makes a CA certificate: basicConstraints cA=TRUE (critical) and
	// key usage keyCertSign|cRLSign. Otherwise the certificate is an EGS
	// certificate like ZATCA's: basicConstraints cA=FALSE (critical), key
	// usage digitalSignature (critical), EKU codeSigning and clientAuth
	// unless ExtKeyUsage says otherwise.
	IsCA        bool
	ExtKeyUsage []asn1.ObjectIdentifier
	// ExtraExtensions are appended as given; their IDs must not collide
	// with the extensions Create writes.
	ExtraExtensions []Extension
	// Rand is the randomness handed to the signer; nil means crypto/rand.
	Rand io.Reader
}

func (t *Template) validate() error {
	switch {
	case t == nil:
		return fmt.Errorf("%w: nil template", ErrInvalidTemplate)
	case t.SerialNumber == nil || t.SerialNumber.Sign() <= 0:
		return fmt.Errorf("%w: SerialNumber must be positive", ErrInvalidTemplate)
	case len(t.SerialNumber.Bytes()) > 20:
		return fmt.Errorf("%w: SerialNumber longer than 20 bytes", ErrInvalidTemplate)
	case len(t.Subject) == 0:
		return fmt.Errorf("%w: empty Subject", ErrInvalidTemplate)
	case t.NotBefore.IsZero() || t.NotAfter.IsZero():
		return fmt.Errorf("%w: NotBefore and NotAfter are required", ErrInvalidTemplate)
	case !t.NotAfter.After(t.NotBefore):
		return fmt.Errorf("%w: NotAfter is not after NotBefore", ErrInvalidTemplate)
	case t.PublicKey == nil:
		return fmt.Errorf("%w: no PublicKey", ErrInvalidTemplate)
	}
	if s := t.SubjectAltName; s != nil {
		for _, f := range []struct{ name, v string }{
			{"SerialNumber", s.SerialNumber}, {"VATNumber", s.VATNumber}, {"InvoiceType", s.InvoiceType},
			{"Location", s.Location}, {"Industry", s.Industry},
		} {
			if f.v == "" {
				return fmt.Errorf("%w: SubjectAltName.%s is empty", ErrInvalidTemplate, f.name)
			}
		}
	}
	return nil
}

// Create issues an X.509 v3 certificate from t, signed ecdsa-with-SHA256 by
// issuerKey: issuerKey.Sign(rand, SHA-256(tbsCertificate), crypto.SHA256)
// must return a DER ECDSA signature (secp256k1 or P-256). With issuer nil the
// certificate is self-signed: its issuer is t.Subject and issuerKey must be
// the key of t.PublicKey. The signature is verified before Create returns.
func Create(t *Template, issuer *Certificate, issuerKey crypto.Signer) ([]byte, error) {
	der, err := create(t, issuer, issuerKey)
	if err != nil {
		return nil, fmt.Errorf("cert create: %w", err)
	}
	return der, nil
}

func create(t *Template, issuer *Certificate, issuerKey crypto.Signer) ([]byte, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	if issuerKey == nil {
		return nil, fmt.Errorf("%w: no issuer key", ErrInvalidTemplate)
	}
	subjectPoint, subjectCurve, err := pointBytes(t.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("subject key: %w", err)
	}
	signerPub := issuerKey.Public()
	signerPoint, _, err := pointBytes(signerPub)
	if err != nil {
		return nil, fmt.Errorf("issuer key: %w", err)
	}
	subjectDER, err := MarshalName(t.Subject)
	if err != nil {
		return nil, err
	}
	var issuerDER, authKeyID []byte
	if issuer == nil {
		if string(signerPoint) != string(subjectPoint) {
			return nil, fmt.Errorf("%w: self-signed certificate but the issuer key is not the subject key", ErrInvalidTemplate)
		}
		issuerDER = subjectDER
		authKeyID = keyID(subjectPoint)
	} else {
		issuerPoint, _, err := pointBytes(issuer.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("issuer certificate key: %w", err)
		}
		if string(signerPoint) != string(issuerPoint) {
			return nil, fmt.Errorf("%w: issuer key does not match the issuer certificate", ErrInvalidTemplate)
		}
		issuerDER = issuer.RawSubject
		authKeyID = issuer.SubjectKeyID
		if len(authKeyID) == 0 {
			authKeyID = keyID(issuerPoint)
		}
	}

	exts, err := t.extensions(subjectPoint, authKeyID)
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1Int64(2)
		})
		b.AddASN1BigInt(t.SerialNumber)
		addAlgorithm(b)
		b.AddBytes(issuerDER)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addTime(b, t.NotBefore)
			addTime(b, t.NotAfter)
		})
		b.AddBytes(subjectDER)
		addSPKI(b, subjectPoint, subjectCurve)
		b.AddASN1(cbasn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, e := range exts {
					addExtension(b, e)
				}
			})
		})
	})
	tbs, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("build tbsCertificate: %w", err)
	}
	sig, err := signSHA256(issuerKey, t.Rand, tbs)
	if err != nil {
		return nil, err
	}
	var cb cryptobyte.Builder
	cb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		addAlgorithm(b)
		b.AddASN1BitString(sig)
	})
	return cb.Bytes()
}

// signSHA256 signs SHA-256(msg) with key and checks the DER signature
// against key.Public().
func signSHA256(key crypto.Signer, r io.Reader, msg []byte) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	digest := sha256.Sum256(msg)
	sig, err := key.Sign(r, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if !VerifySignature(key.Public(), digest[:], sig) {
		return nil, fmt.Errorf("sign: %w: the signer's output does not verify under its public key (not DER ECDSA?)", ErrBadSignature)
	}
	return sig, nil
}

// SignSHA256 is the signing step shared with agent/csr: it signs
// SHA-256(msg) through key (crypto.SHA256 as the hash option) and verifies
// the returned DER ECDSA signature under key.Public(). r nil means
// crypto/rand.
func SignSHA256(key crypto.Signer, r io.Reader, msg []byte) ([]byte, error) {
	sig, err := signSHA256(key, r, msg)
	if err != nil {
		return nil, fmt.Errorf("cert sign: %w", err)
	}
	return sig, nil
}

// keyID is the RFC 5280 method-1 key identifier: SHA-1 of the public key
// bits.
func keyID(point []byte) []byte {
	h := sha1.Sum(point)
	return h[:]
}

func (t *Template) extensions(subjectPoint, authKeyID []byte) ([]Extension, error) {
	var exts []Extension
	add := func(id asn1.ObjectIdentifier, critical bool, value []byte) {
		exts = append(exts, Extension{ID: id, Critical: critical, Value: value})
	}
	if t.SubjectAltName != nil {
		v, err := MarshalSANExtension(*t.SubjectAltName)
		if err != nil {
			return nil, err
		}
		add(OIDExtSubjectAlt, false, v)
	}
	add(OIDExtSubjectKeyID, false, derOf(func(b *cryptobyte.Builder) { b.AddASN1OctetString(keyID(subjectPoint)) }))
	add(OIDExtAuthKeyID, false, derOf(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(authKeyID) })
		})
	}))
	ku := KeyUsageDigitalSignature
	if t.IsCA {
		ku = KeyUsageCertSign | KeyUsageCRLSign
	}
	add(OIDExtKeyUsage, true, marshalKeyUsage(ku))
	add(OIDExtBasicConstr, true, derOf(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			if t.IsCA {
				b.AddASN1Boolean(true)
			}
		})
	}))
	eku := t.ExtKeyUsage
	if eku == nil && !t.IsCA {
		eku = []asn1.ObjectIdentifier{OIDEKUCodeSigning, OIDEKUClientAuth}
	}
	if len(eku) > 0 {
		add(OIDExtExtKeyUsage, false, derOf(func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, o := range eku {
					b.AddASN1ObjectIdentifier(o)
				}
			})
		}))
	}
	if t.TemplateName != "" {
		v, err := MarshalTemplateNameExtension(t.TemplateName)
		if err != nil {
			return nil, err
		}
		add(OIDExtTemplateName, false, v)
	}
	seen := map[string]bool{}
	for _, e := range exts {
		seen[e.ID.String()] = true
	}
	for _, e := range t.ExtraExtensions {
		if len(e.ID) < 2 || seen[e.ID.String()] {
			return nil, fmt.Errorf("%w: extra extension %s is invalid or duplicated", ErrInvalidTemplate, e.ID)
		}
		seen[e.ID.String()] = true
		exts = append(exts, e)
	}
	return exts, nil
}

// MarshalSANExtension returns the extnValue contents of a subjectAltName
// extension holding one directoryName with s's five attributes
// (SubjectAltName.Name). Every attribute must be non-empty UTF-8.
func MarshalSANExtension(s SubjectAltName) ([]byte, error) {
	for _, rdn := range s.Name() {
		if rdn[0].Value == "" {
			return nil, fmt.Errorf("cert marshal SAN: %w: attribute %s is empty", ErrInvalidTemplate, rdn[0].Type)
		}
	}
	var b cryptobyte.Builder
	var nameErr error
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(4).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			nameErr = addName(b, s.Name())
		})
	})
	if nameErr != nil {
		return nil, fmt.Errorf("cert marshal SAN: %w", nameErr)
	}
	v, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("cert marshal SAN: %w", err)
	}
	return v, nil
}

// MarshalTemplateNameExtension returns the extnValue contents of extension
// 1.3.6.1.4.1.311.20.2: the name as a DER UTF8String (as in ZATCA's CSRs).
func MarshalTemplateNameExtension(name string) ([]byte, error) {
	content, err := encodeString(TagUTF8String, name)
	if err != nil || name == "" {
		return nil, fmt.Errorf("cert marshal template name: %w: %q", ErrInvalidTemplate, name)
	}
	return derOf(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes(content) })
	}), nil
}

// MarshalExtensions returns the DER of a SEQUENCE OF Extension (as in a
// CSR's extensionRequest attribute).
func MarshalExtensions(exts []Extension) ([]byte, error) {
	for _, e := range exts {
		if len(e.ID) < 2 {
			return nil, fmt.Errorf("cert marshal extensions: %w: extension with no ID", ErrInvalidTemplate)
		}
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, e := range exts {
			addExtension(b, e)
		}
	})
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("cert marshal extensions: %w", err)
	}
	return der, nil
}

// ParseExtensions parses the DER of a SEQUENCE OF Extension (as in a CSR's
// extensionRequest attribute). Duplicate extensions are an error.
func ParseExtensions(der []byte) ([]Extension, error) {
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() {
		return nil, fmt.Errorf("cert parse extensions: %w", malformed("not a SEQUENCE"))
	}
	exts, err := parseExtensions(seq)
	if err != nil {
		return nil, fmt.Errorf("cert parse extensions: %w", err)
	}
	return exts, nil
}

func addExtension(b *cryptobyte.Builder, e Extension) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(e.ID)
		if e.Critical {
			b.AddASN1Boolean(true)
		}
		b.AddASN1OctetString(e.Value)
	})
}

func marshalKeyUsage(ku KeyUsage) []byte {
	var bits [2]byte
	n := 0
	for i := 0; i < 9; i++ {
		if ku&(1<<i) != 0 {
			bits[i/8] |= 0x80 >> (i % 8)
			n = i + 1
		}
	}
	nbytes := (n + 7) / 8
	unused := nbytes*8 - n
	return derOf(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
			b.AddUint8(uint8(unused))
			b.AddBytes(bits[:nbytes])
		})
	})
}

// addAlgorithm writes AlgorithmIdentifier ecdsa-with-SHA256 (no
// parameters).
func addAlgorithm(b *cryptobyte.Builder) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(OIDECDSAWithSHA256)
	})
}

// ParseName parses the DER of a Name (RDNSequence).
func ParseName(der []byte) (Name, error) {
	n, err := parseName(der)
	if err != nil {
		return nil, fmt.Errorf("cert parse name: %w", err)
	}
	return n, nil
}

// addTime writes UTCTime for years 1950–2049 and GeneralizedTime otherwise
// (RFC 5280 §4.1.2.5), in UTC with whole seconds.
func addTime(b *cryptobyte.Builder, t time.Time) {
	t = t.UTC().Truncate(time.Second)
	if y := t.Year(); y >= 1950 && y < 2050 {
		b.AddASN1UTCTime(t)
		return
	}
	b.AddASN1GeneralizedTime(t)
}

func derOf(f cryptobyte.BuilderContinuation) []byte {
	var b cryptobyte.Builder
	f(&b)
	return b.BytesOrPanic()
}
