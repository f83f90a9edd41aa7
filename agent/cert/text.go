package cert

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"slices"
)

// ParsePEMOrBase64 parses a certificate given as text in any of the forms
// ZATCA material comes in:
//   - a PEM "CERTIFICATE" block;
//   - the bare base64 of the DER, on one line or several (the SDK's
//     Certificates/cert.pem, and the ds:X509Certificate text);
//   - ZATCA's binarySecurityToken: base64 of that base64 text (SPEC §0.1
//     item 7);
//   - the raw DER itself.
func ParsePEMOrBase64(data []byte) (*Certificate, error) {
	der, _, err := decodeText(data, pemTypeCertificate)
	if err != nil {
		return nil, fmt.Errorf("cert parse text: %w", err)
	}
	return Parse(der)
}

// DecodeText returns the DER inside text in the forms ParsePEMOrBase64
// accepts: a PEM block of one of pemTypes, bare base64 of the DER (possibly
// wrapped), base64 of that base64 text, base64 of the PEM text (ZATCA's JSON
// "csr" form), or the DER itself. agent/csr uses it for CSRs.
func DecodeText(data []byte, pemTypes ...string) ([]byte, error) {
	der, _, err := decodeText(data, pemTypes...)
	if err != nil {
		return nil, fmt.Errorf("cert decode text: %w", err)
	}
	return der, nil
}

// decodeText turns PEM (of one of types), bare base64 of DER, base64 of
// base64 of DER, base64 of PEM, or raw DER into DER. It returns the PEM type
// found ("" when there was no PEM armour).
func decodeText(data []byte, types ...string) ([]byte, string, error) {
	for depth := 0; depth < 3; depth++ {
		if depth == 0 && len(data) > 0 && data[0] == 0x30 {
			// DER (a SEQUENCE): base64 of DER starts with 'M', PEM with '-'.
			return data, "", nil
		}
		trimmed := bytes.TrimSpace(data)
		if len(trimmed) == 0 {
			return nil, "", fmt.Errorf("%w: empty input", ErrEncoding)
		}
		if bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
			block, rest := pem.Decode(trimmed)
			if block == nil {
				return nil, "", fmt.Errorf("%w: broken PEM armour", ErrEncoding)
			}
			if !slices.Contains(types, block.Type) {
				return nil, "", fmt.Errorf("%w: PEM block %q (want %q)", ErrEncoding, block.Type, types)
			}
			if len(bytes.TrimSpace(rest)) != 0 {
				return nil, "", fmt.Errorf("%w: data after the PEM block", ErrEncoding)
			}
			return block.Bytes, block.Type, nil
		}
		raw, err := decodeBase64(trimmed)
		if err != nil {
			return nil, "", err
		}
		if len(raw) > 0 && raw[0] == 0x30 {
			return raw, "", nil
		}
		data = raw // base64 of base64 text, or base64 of PEM
	}
	return nil, "", fmt.Errorf("%w: neither PEM, base64 nor DER", ErrEncoding)
}

// decodeBase64 decodes standard base64, ignoring line breaks and spaces.
func decodeBase64(b []byte) ([]byte, error) {
	clean := make([]byte, 0, len(b))
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			clean = append(clean, c)
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Strict().Decode(out, clean)
	if err != nil {
		return nil, fmt.Errorf("%w: not PEM and not base64: %v", ErrEncoding, err)
	}
	return out[:n], nil
}
