package zatca

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
)

// Credentials are a CSID as ZATCA returns it: the binarySecurityToken (base64 of the
// base64-DER certificate text, SPEC §0.1 item 7) and the API secret. They are the
// Basic-auth username and password of every authenticated call; the token is used
// verbatim, never re-encoded.
//
// The secret never leaves through formatting: String, GoString, Format, LogValue and
// MarshalJSON all omit it. Persist credentials explicitly (through a sealer), not by
// marshalling this type.
type Credentials struct {
	Token  string
	Secret string
}

// IsZero reports whether both fields are empty.
func (c Credentials) IsZero() bool { return c.Token == "" && c.Secret == "" }

// Validate checks that both fields are present and that the token decodes to base64
// certificate text.
func (c Credentials) Validate() error {
	if c.Token == "" {
		return fmt.Errorf("zatca credentials: binarySecurityToken is empty: %w", ErrInvalidCredentials)
	}
	if c.Secret == "" {
		return fmt.Errorf("zatca credentials: secret is empty: %w", ErrInvalidCredentials)
	}
	if _, err := c.CertificateDER(); err != nil {
		return err
	}
	return nil
}

// CertificateBase64 returns the certificate's base64 DER text, the value that goes into
// ds:X509Certificate: the token decoded once.
func (c Credentials) CertificateBase64() (string, error) {
	text, err := base64.StdEncoding.DecodeString(c.Token)
	if err != nil {
		return "", fmt.Errorf("zatca credentials: binarySecurityToken is not base64: %w: %w", ErrInvalidCredentials, err)
	}
	return string(text), nil
}

// CertificateDER returns the certificate's DER bytes (the token decoded twice).
func (c Credentials) CertificateDER() ([]byte, error) {
	text, err := c.CertificateBase64()
	if err != nil {
		return nil, err
	}
	der, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("zatca credentials: decoded token is not base64 certificate text: %w: %w", ErrInvalidCredentials, err)
	}
	if len(der) == 0 {
		return nil, fmt.Errorf("zatca credentials: empty certificate: %w", ErrInvalidCredentials)
	}
	return der, nil
}

// String describes the credentials without the secret.
func (c Credentials) String() string {
	tok := c.Token
	if len(tok) > 12 {
		tok = tok[:12] + "…"
	}
	secret := "<empty>"
	if c.Secret != "" {
		secret = "<redacted>"
	}
	return fmt.Sprintf("zatca.Credentials{Token: %q (%d chars), Secret: %s}", tok, len(c.Token), secret)
}

// GoString is String, so %#v does not print the secret either.
func (c Credentials) GoString() string { return c.String() }

// Format writes String for every verb, so no fmt verb (%d, %x, %+v …) can reach the
// secret field.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue keeps the secret out of slog output.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("token_len", len(c.Token)),
		slog.Bool("secret_set", c.Secret != ""),
	)
}

// MarshalJSON writes only the token: {"binarySecurityToken": "..."}.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Token string `json:"binarySecurityToken"`
	}{c.Token})
}
