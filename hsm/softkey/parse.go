package softkey

import (
	"bytes"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// ErrBadKeyFile is wrapped by every ParseKey error.
var ErrBadKeyFile = errors.New("softkey: bad key file")

var (
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
)

// sec1Key is RFC 5915's ECPrivateKey.
type sec1Key struct {
	Version    int
	PrivateKey []byte
	Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// pkcs8Key is RFC 5208's PrivateKeyInfo, limited to what an EC key needs.
type pkcs8Key struct {
	Version    int
	Algorithm  pkcs8Algorithm
	PrivateKey []byte
}

type pkcs8Algorithm struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.ObjectIdentifier
}

// ParseKey reads a secp256k1 private key into locked memory. It accepts SEC1
// ("EC PRIVATE KEY") or PKCS#8 ("PRIVATE KEY") DER, either PEM-armoured, as bare base64
// (the form of the ZATCA SDK's ec-secp256k1-priv-key.pem) or raw. A curve other than
// secp256k1, or an embedded public key that does not match the scalar, is an error
// wrapping ErrBadKeyFile. The caller should zero data afterwards.
func ParseKey(data []byte) (*Key, error) {
	der, err := keyDER(data)
	if err != nil {
		return nil, err
	}
	defer clear(der)

	var sk sec1Key
	var p8 pkcs8Key
	if rest, err := asn1.Unmarshal(der, &p8); err == nil && len(rest) == 0 && p8.Algorithm.Algorithm.Equal(oidECPublicKey) {
		defer clear(p8.PrivateKey)
		if !p8.Algorithm.Parameters.Equal(oidSecp256k1) {
			return nil, fmt.Errorf("softkey parse: PKCS#8 curve %v is not secp256k1 (%v): %w", p8.Algorithm.Parameters, oidSecp256k1, ErrBadKeyFile)
		}
		if err := parseSEC1(p8.PrivateKey, &sk, false); err != nil {
			return nil, err
		}
	} else if err := parseSEC1(der, &sk, true); err != nil {
		return nil, err
	}
	defer clear(sk.PrivateKey)

	scalar := sk.PrivateKey
	if len(scalar) > ScalarSize {
		return nil, fmt.Errorf("softkey parse: private key is %d bytes, want at most %d: %w", len(scalar), ScalarSize, ErrBadKeyFile)
	}
	var padded [ScalarSize]byte
	defer clear(padded[:])
	copy(padded[ScalarSize-len(scalar):], scalar)
	k, err := FromBytes(padded[:])
	if err != nil {
		if errors.Is(err, errScalarRange) {
			return nil, fmt.Errorf("softkey parse: private key %w: %w", err, ErrBadKeyFile)
		}
		return nil, fmt.Errorf("softkey parse: %w", err)
	}
	if len(sk.PublicKey.Bytes) > 0 {
		pub, err := secp256k1.ParsePubKey(sk.PublicKey.Bytes)
		if err != nil || !pub.IsEqual(k.pub) {
			_ = k.Close()
			return nil, fmt.Errorf("softkey parse: embedded public key does not match the private key: %w", ErrBadKeyFile)
		}
	}
	return k, nil
}

// parseSEC1 decodes an ECPrivateKey. When curveRequired is false (inside PKCS#8) the
// curve may be absent, but if present it must be secp256k1.
func parseSEC1(der []byte, sk *sec1Key, curveRequired bool) error {
	rest, err := asn1.Unmarshal(der, sk)
	if err != nil {
		return fmt.Errorf("softkey parse: neither SEC1 nor PKCS#8 EC key DER: %v: %w", err, ErrBadKeyFile)
	}
	if len(rest) != 0 {
		return fmt.Errorf("softkey parse: %d trailing bytes after the key: %w", len(rest), ErrBadKeyFile)
	}
	if sk.Version != 1 {
		return fmt.Errorf("softkey parse: SEC1 version %d, want 1: %w", sk.Version, ErrBadKeyFile)
	}
	switch {
	case len(sk.Curve) == 0 && curveRequired:
		return fmt.Errorf("softkey parse: SEC1 key names no curve: %w", ErrBadKeyFile)
	case len(sk.Curve) != 0 && !sk.Curve.Equal(oidSecp256k1):
		return fmt.Errorf("softkey parse: curve %v is not secp256k1 (%v): %w", sk.Curve, oidSecp256k1, ErrBadKeyFile)
	}
	return nil
}

// keyDER returns the DER inside PEM armour or bare base64, or data itself when it already
// looks like DER (a SEQUENCE). The result is a fresh slice the caller zeroes.
func keyDER(data []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("softkey parse: empty input: %w", ErrBadKeyFile)
	}
	if trimmed[0] == 0x30 {
		return bytes.Clone(trimmed), nil
	}
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		block, _ := pem.Decode(trimmed)
		if block == nil {
			return nil, fmt.Errorf("softkey parse: malformed PEM: %w", ErrBadKeyFile)
		}
		defer clear(block.Bytes)
		if block.Type != "EC PRIVATE KEY" && block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("softkey parse: PEM block %q, want \"EC PRIVATE KEY\" or \"PRIVATE KEY\": %w", block.Type, ErrBadKeyFile)
		}
		return bytes.Clone(block.Bytes), nil
	}
	compact := bytes.Join(bytes.Fields(trimmed), nil)
	defer clear(compact)
	der := make([]byte, base64.StdEncoding.DecodedLen(len(compact)))
	n, err := base64.StdEncoding.Decode(der, compact)
	if err != nil {
		clear(der)
		return nil, fmt.Errorf("softkey parse: not PEM, DER or base64: %v: %w", err, ErrBadKeyFile)
	}
	return der[:n], nil
}
