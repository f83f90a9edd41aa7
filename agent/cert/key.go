package cert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	decredecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Curve is an elliptic curve this package handles.
type Curve int

// Curves.
const (
	CurveUnknown Curve = iota
	Secp256k1          // 1.3.132.0.10, what ZATCA uses
	P256               // 1.2.840.10045.3.1.7 (prime256v1), the TPM-native curve
)

// String returns the curve's SEC name.
func (c Curve) String() string {
	switch c {
	case Secp256k1:
		return "secp256k1"
	case P256:
		return "P-256"
	}
	return "unknown curve"
}

// OID returns the named-curve object identifier, nil for CurveUnknown.
func (c Curve) OID() asn1.ObjectIdentifier {
	switch c {
	case Secp256k1:
		return OIDCurveSecp256k1
	case P256:
		return OIDCurveP256
	}
	return nil
}

// CurveOf reports the curve of a public key accepted by this package
// (*secp256k1.PublicKey, *ecdsa.PublicKey on P-256 or on secp256k1.S256()).
func CurveOf(pub crypto.PublicKey) Curve {
	switch k := pub.(type) {
	case *secp256k1.PublicKey:
		if k != nil {
			return Secp256k1
		}
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return CurveUnknown
		}
		switch k.Curve.Params().Name {
		case elliptic.P256().Params().Name:
			return P256
		case secp256k1.S256().Params().Name:
			return Secp256k1
		}
	}
	return CurveUnknown
}

// toSecp256k1 converts an *ecdsa.PublicKey on secp256k1.S256() to decred's
// type.
func toSecp256k1(k *ecdsa.PublicKey) (*secp256k1.PublicKey, error) {
	if k.X == nil || k.Y == nil || k.X.BitLen() > 256 || k.Y.BitLen() > 256 {
		return nil, fmt.Errorf("%w: secp256k1 point out of range", ErrMalformed)
	}
	var x, y secp256k1.FieldVal
	if x.SetByteSlice(k.X.Bytes()) || y.SetByteSlice(k.Y.Bytes()) {
		return nil, fmt.Errorf("%w: secp256k1 coordinate overflows the field", ErrMalformed)
	}
	pub := secp256k1.NewPublicKey(&x, &y)
	if !pub.IsOnCurve() {
		return nil, fmt.Errorf("%w: point not on secp256k1", ErrMalformed)
	}
	return pub, nil
}

// pointBytes returns the uncompressed point (65 bytes) and curve of pub.
func pointBytes(pub crypto.PublicKey) ([]byte, Curve, error) {
	switch k := pub.(type) {
	case *secp256k1.PublicKey:
		if k == nil {
			break
		}
		return k.SerializeUncompressed(), Secp256k1, nil
	case *ecdsa.PublicKey:
		switch CurveOf(k) {
		case P256:
			b, err := k.Bytes()
			if err != nil {
				return nil, CurveUnknown, fmt.Errorf("%w: P-256 key: %v", ErrMalformed, err)
			}
			return b, P256, nil
		case Secp256k1:
			sk, err := toSecp256k1(k)
			if err != nil {
				return nil, CurveUnknown, err
			}
			return sk.SerializeUncompressed(), Secp256k1, nil
		}
	}
	return nil, CurveUnknown, fmt.Errorf("%w: public key type %T (want secp256k1 or P-256 EC key)", ErrUnsupported, pub)
}

// MarshalPKIXPublicKey returns the DER SubjectPublicKeyInfo of pub:
// id-ecPublicKey with the named curve and the uncompressed point (88 bytes
// for secp256k1, 91 for P-256).
func MarshalPKIXPublicKey(pub crypto.PublicKey) ([]byte, error) {
	point, curve, err := pointBytes(pub)
	if err != nil {
		return nil, fmt.Errorf("cert marshal public key: %w", err)
	}
	var b cryptobyte.Builder
	addSPKI(&b, point, curve)
	return b.BytesOrPanic(), nil
}

func addSPKI(b *cryptobyte.Builder, point []byte, curve Curve) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(OIDECPublicKey)
			b.AddASN1ObjectIdentifier(curve.OID())
		})
		b.AddASN1BitString(point)
	})
}

// ParsePKIXPublicKey parses a DER SubjectPublicKeyInfo holding an EC key on
// secp256k1 (returned as *secp256k1.PublicKey) or P-256 (*ecdsa.PublicKey).
// The point must be on the curve; trailing bytes are an error.
func ParsePKIXPublicKey(der []byte) (crypto.PublicKey, Curve, error) {
	pub, curve, err := parseSPKI(der)
	if err != nil {
		return nil, CurveUnknown, fmt.Errorf("cert parse public key: %w", err)
	}
	return pub, curve, nil
}

func parseSPKI(der cryptobyte.String) (crypto.PublicKey, Curve, error) {
	var spki, alg cryptobyte.String
	var algOID, curveOID asn1.ObjectIdentifier
	if !der.ReadASN1(&spki, cbasn1.SEQUENCE) || !der.Empty() ||
		!spki.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&algOID) {
		return nil, CurveUnknown, malformed("SubjectPublicKeyInfo")
	}
	if !algOID.Equal(OIDECPublicKey) {
		return nil, CurveUnknown, fmt.Errorf("%w: public key algorithm %s (want id-ecPublicKey)", ErrUnsupported, algOID)
	}
	if !alg.ReadASN1ObjectIdentifier(&curveOID) || !alg.Empty() {
		return nil, CurveUnknown, malformed("EC parameters (want a named curve)")
	}
	var point asn1.BitString
	if !spki.ReadASN1BitString(&point) || !spki.Empty() || point.BitLength%8 != 0 {
		return nil, CurveUnknown, malformed("subjectPublicKey BIT STRING")
	}
	return parsePoint(curveOID, point.Bytes)
}

func parsePoint(curveOID asn1.ObjectIdentifier, point []byte) (crypto.PublicKey, Curve, error) {
	switch {
	case curveOID.Equal(OIDCurveSecp256k1):
		if len(point) != 65 || point[0] != 4 {
			return nil, CurveUnknown, malformed("secp256k1 point is not 65-byte uncompressed")
		}
		pub, err := secp256k1.ParsePubKey(point)
		if err != nil {
			return nil, CurveUnknown, fmt.Errorf("%w: secp256k1 point: %v", ErrMalformed, err)
		}
		return pub, Secp256k1, nil
	case curveOID.Equal(OIDCurveP256):
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, CurveUnknown, fmt.Errorf("%w: P-256 point: %v", ErrMalformed, err)
		}
		return pub, P256, nil
	}
	return nil, CurveUnknown, fmt.Errorf("%w: curve %s (want secp256k1 or P-256)", ErrUnsupported, curveOID)
}

// VerifySignature reports whether derSig, an ASN.1 DER ECDSA signature,
// is valid for digest under pub (secp256k1 or P-256). digest is the hash
// the signer was given (for SHA256withECDSA, SHA-256 of the message).
func VerifySignature(pub crypto.PublicKey, digest, derSig []byte) bool {
	switch k := pub.(type) {
	case *secp256k1.PublicKey:
		if k == nil {
			return false
		}
		return verifySecp256k1(k, digest, derSig)
	case *ecdsa.PublicKey:
		switch CurveOf(k) {
		case P256:
			return ecdsa.VerifyASN1(k, digest, derSig)
		case Secp256k1:
			sk, err := toSecp256k1(k)
			return err == nil && verifySecp256k1(sk, digest, derSig)
		}
	}
	return false
}

func verifySecp256k1(pub *secp256k1.PublicKey, digest, derSig []byte) bool {
	sig, err := decredecdsa.ParseDERSignature(derSig)
	if err != nil {
		return false
	}
	return sig.Verify(digest, pub)
}

// PEM block types.
const (
	pemTypeECPrivateKey = "EC PRIVATE KEY"
	pemTypePKCS8        = "PRIVATE KEY"
	pemTypeCertificate  = "CERTIFICATE"
)
