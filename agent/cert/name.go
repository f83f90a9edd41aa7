package cert

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// OIDs of the attributes used in ZATCA names. Short names follow Java's
// sun.security.x509 keywords (used by IssuerName).
var (
	OIDCommonName         = asn1.ObjectIdentifier{2, 5, 4, 3}
	OIDSurname            = asn1.ObjectIdentifier{2, 5, 4, 4} // "SN": the EGS serial in ZATCA's SAN
	OIDSerialNumber       = asn1.ObjectIdentifier{2, 5, 4, 5}
	OIDCountry            = asn1.ObjectIdentifier{2, 5, 4, 6}
	OIDLocality           = asn1.ObjectIdentifier{2, 5, 4, 7}
	OIDState              = asn1.ObjectIdentifier{2, 5, 4, 8}
	OIDStreet             = asn1.ObjectIdentifier{2, 5, 4, 9}
	OIDOrganization       = asn1.ObjectIdentifier{2, 5, 4, 10}
	OIDOrganizationalUnit = asn1.ObjectIdentifier{2, 5, 4, 11}
	OIDTitle              = asn1.ObjectIdentifier{2, 5, 4, 12} // invoice type map "TSCZ"
	OIDBusinessCategory   = asn1.ObjectIdentifier{2, 5, 4, 15}
	OIDRegisteredAddress  = asn1.ObjectIdentifier{2, 5, 4, 26}
	OIDOrganizationID     = asn1.ObjectIdentifier{2, 5, 4, 97}
	OIDUID                = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1} // VAT number in ZATCA's SAN
	OIDDomainComponent    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	OIDEmailAddress       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

// javaKeywords maps attribute OIDs to the keywords Java's X500Name.toString
// prints (sun.security.x509.AVAKeyword, DEFAULT style). Other OIDs print as
// "OID.<dotted>".
var javaKeywords = map[string]string{
	OIDCommonName.String():         "CN",
	OIDCountry.String():            "C",
	OIDLocality.String():           "L",
	OIDState.String():              "ST",
	OIDOrganization.String():       "O",
	OIDOrganizationalUnit.String(): "OU",
	OIDTitle.String():              "T",
	OIDStreet.String():             "STREET",
	OIDDomainComponent.String():    "DC",
	OIDSurname.String():            "SURNAME",
	OIDSerialNumber.String():       "SERIALNUMBER",
	OIDUID.String():                "UID",
	OIDEmailAddress.String():       "EMAILADDRESS",
	"2.5.4.42":                     "GIVENNAME",
	"2.5.4.43":                     "INITIALS",
	"2.5.4.44":                     "GENERATION",
	"2.5.4.46":                     "DNQ",
}

// ASN.1 universal tags of the string types used in names.
const (
	TagUTF8String      = 12
	TagPrintableString = 19
	TagIA5String       = 22
	TagT61String       = 20
	TagBMPString       = 30
)

// Attribute is one AttributeTypeAndValue of a distinguished name.
type Attribute struct {
	Type asn1.ObjectIdentifier
	// Tag is the ASN.1 universal tag of the value: TagUTF8String,
	// TagPrintableString, TagIA5String, ... Zero means TagUTF8String when
	// encoding. For a value that is not a string, Tag is its tag and Value is
	// "#" followed by the hex of its whole DER encoding (Java style).
	Tag   int
	Value string
}

// RDN is one RelativeDistinguishedName (a SET of attributes; ZATCA's are
// single-valued).
type RDN []Attribute

// Name is an X.501 RDNSequence in ASN.1 (DER) order.
type Name []RDN

// Get returns the value of the first attribute of type oid, or "".
func (n Name) Get(oid asn1.ObjectIdentifier) string {
	for _, rdn := range n {
		for _, a := range rdn {
			if a.Type.Equal(oid) {
				return a.Value
			}
		}
	}
	return ""
}

// JavaString renders the name as Java's X500Name.toString (what
// X509Certificate.getIssuerDN().getName() returns and what ZATCA expects in
// ds:X509IssuerName): RDNs in reverse ASN.1 order joined by ", ", the
// attributes of a multi-valued RDN joined by " + ", keyword=value with the
// value quoted when it has special characters (SPEC §5.2). Example:
// "CN=PRZEINVOICESCA4-CA, DC=extgazt, DC=gov, DC=local".
func (n Name) JavaString() string {
	var sb strings.Builder
	for i := len(n) - 1; i >= 0; i-- {
		if i != len(n)-1 {
			sb.WriteString(", ")
		}
		for j, a := range n[i] {
			if j > 0 {
				sb.WriteString(" + ")
			}
			kw, ok := javaKeywords[a.Type.String()]
			if !ok {
				kw = "OID." + a.Type.String()
			}
			sb.WriteString(kw)
			sb.WriteByte('=')
			if a.Tag != 0 && !isStringTag(a.Tag) {
				sb.WriteString(a.Value) // already "#hex"
				continue
			}
			sb.WriteString(javaQuote(a.Value))
		}
	}
	return sb.String()
}

// javaQuote follows sun.security.x509.AVA.toKeywordValueString for string
// values: the value is wrapped in double quotes when it contains one of
// ,+=\n<>#;\" or starts, ends or has a run of spaces; '"' and '\' are
// backslash-escaped.
func javaQuote(v string) string {
	const special = ",+=\n<>#;\\\""
	var sb strings.Builder
	quote, prevWhite := false, false
	for _, c := range v {
		if strings.ContainsRune(special, c) {
			quote = true
		}
		if c == ' ' || c == '\n' {
			if sb.Len() == 0 || prevWhite {
				quote = true
			}
			prevWhite = true
		} else {
			if c == '"' || c == '\\' {
				sb.WriteByte('\\')
			}
			prevWhite = false
		}
		sb.WriteRune(c)
	}
	if strings.HasSuffix(v, " ") || strings.HasSuffix(v, "\n") {
		quote = true
	}
	if quote {
		return `"` + sb.String() + `"`
	}
	return sb.String()
}

func isStringTag(tag int) bool {
	switch tag {
	case TagUTF8String, TagPrintableString, TagIA5String, TagT61String, TagBMPString,
		26 /* VisibleString */, 28 /* UniversalString */ :
		return true
	}
	return false
}

// parseName reads an RDNSequence from its full DER (SEQUENCE header
// included).
func parseName(der cryptobyte.String) (Name, error) {
	var seq cryptobyte.String
	if !der.ReadASN1(&seq, cbasn1.SEQUENCE) || !der.Empty() {
		return nil, fmt.Errorf("%w: name is not a SEQUENCE", ErrMalformed)
	}
	var n Name
	for !seq.Empty() {
		var set cryptobyte.String
		if !seq.ReadASN1(&set, cbasn1.SET) {
			return nil, fmt.Errorf("%w: RDN is not a SET", ErrMalformed)
		}
		var rdn RDN
		for !set.Empty() {
			var atv cryptobyte.String
			var oid asn1.ObjectIdentifier
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) || !atv.ReadASN1ObjectIdentifier(&oid) {
				return nil, fmt.Errorf("%w: bad AttributeTypeAndValue", ErrMalformed)
			}
			var full cryptobyte.String
			var tag cbasn1.Tag
			var val cryptobyte.String
			if !atv.ReadAnyASN1Element(&full, &tag) || !atv.Empty() {
				return nil, fmt.Errorf("%w: bad value of attribute %s", ErrMalformed, oid)
			}
			f := full
			f.ReadAnyASN1(&val, &tag)
			s, err := decodeString(int(tag), val)
			if err != nil {
				if isStringTag(int(tag)) {
					return nil, fmt.Errorf("%w: attribute %s: %v", ErrMalformed, oid, err)
				}
				s = "#" + hex.EncodeToString(full)
			}
			rdn = append(rdn, Attribute{Type: oid, Tag: int(tag), Value: s})
		}
		if len(rdn) == 0 {
			return nil, fmt.Errorf("%w: empty RDN", ErrMalformed)
		}
		n = append(n, rdn)
	}
	return n, nil
}

// decodeString decodes the contents of a DER string of the given tag.
func decodeString(tag int, b []byte) (string, error) {
	switch tag {
	case TagUTF8String:
		if !utf8.Valid(b) {
			return "", fmt.Errorf("UTF8String is not valid UTF-8")
		}
		return string(b), nil
	case TagPrintableString:
		for _, c := range b {
			if !isPrintable(c) {
				return "", fmt.Errorf("PrintableString has character %q", c)
			}
		}
		return string(b), nil
	case TagT61String:
		// Read as Latin-1, as most decoders do; T61 proper is not used by
		// ZATCA.
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r), nil
	case TagIA5String, 26 /* VisibleString */ :
		for _, c := range b {
			if c >= 0x80 {
				return "", fmt.Errorf("string type %d has a non-ASCII byte", tag)
			}
		}
		return string(b), nil
	case TagBMPString:
		if len(b)%2 != 0 {
			return "", fmt.Errorf("BMPString of odd length")
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return string(utf16.Decode(u)), nil
	case 28: // UniversalString, UCS-4
		if len(b)%4 != 0 {
			return "", fmt.Errorf("UniversalString length not a multiple of 4")
		}
		var sb strings.Builder
		for i := 0; i < len(b); i += 4 {
			r := rune(b[i])<<24 | rune(b[i+1])<<16 | rune(b[i+2])<<8 | rune(b[i+3])
			if !utf8.ValidRune(r) {
				return "", fmt.Errorf("UniversalString has invalid code point")
			}
			sb.WriteRune(r)
		}
		return sb.String(), nil
	}
	return "", fmt.Errorf("not a string (tag %d)", tag)
}

func isPrintable(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte(" '()+,-./:=?", c) >= 0
}

// MarshalName returns the DER of n. Attributes with Tag 0 are written as
// UTF8String. Values must be valid for their string type; names with
// non-string ("#hex") values cannot be marshalled.
func MarshalName(n Name) ([]byte, error) {
	var b cryptobyte.Builder
	if err := addName(&b, n); err != nil {
		return nil, fmt.Errorf("cert marshal name: %w", err)
	}
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("cert marshal name: %w", err)
	}
	return der, nil
}

func addName(b *cryptobyte.Builder, n Name) error {
	for _, rdn := range n {
		if len(rdn) == 0 {
			return fmt.Errorf("%w: empty RDN", ErrInvalidTemplate)
		}
		for _, a := range rdn {
			if err := checkAttribute(a); err != nil {
				return err
			}
		}
	}
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, rdn := range n {
			// A SET OF must be sorted in DER; ZATCA's RDNs are
			// single-valued, multi-valued RDNs are sorted by encoding.
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
				for _, enc := range sortedATVs(rdn) {
					b.AddBytes(enc)
				}
			})
		}
	})
	return nil
}

func checkAttribute(a Attribute) error {
	if len(a.Type) < 2 {
		return fmt.Errorf("%w: attribute with no type", ErrInvalidTemplate)
	}
	if _, err := encodeString(a.Tag, a.Value); err != nil {
		return fmt.Errorf("%w: attribute %s: %v", ErrInvalidTemplate, a.Type, err)
	}
	return nil
}

// encodeString returns the contents of a DER string of tag (0 = UTF8String).
func encodeString(tag int, v string) ([]byte, error) {
	switch tag {
	case 0, TagUTF8String:
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("value is not valid UTF-8")
		}
		return []byte(v), nil
	case TagPrintableString:
		for i := 0; i < len(v); i++ {
			if !isPrintable(v[i]) {
				return nil, fmt.Errorf("character %q not allowed in PrintableString", v[i])
			}
		}
		return []byte(v), nil
	case TagIA5String:
		for i := 0; i < len(v); i++ {
			if v[i] >= 0x80 {
				return nil, fmt.Errorf("non-ASCII character in IA5String")
			}
		}
		return []byte(v), nil
	case TagBMPString:
		var out []byte
		for _, u := range utf16.Encode([]rune(v)) {
			out = append(out, byte(u>>8), byte(u))
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported string tag %d", tag)
}

func sortedATVs(rdn RDN) [][]byte {
	encs := make([][]byte, 0, len(rdn))
	for _, a := range rdn {
		var b cryptobyte.Builder
		addATV(&b, a)
		encs = append(encs, b.BytesOrPanic())
	}
	sortDER(encs)
	return encs
}

func addATV(b *cryptobyte.Builder, a Attribute) {
	tag := a.Tag
	if tag == 0 {
		tag = TagUTF8String
	}
	content, _ := encodeString(tag, a.Value) // checked by checkAttribute
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(a.Type)
		b.AddASN1(cbasn1.Tag(tag), func(b *cryptobyte.Builder) { b.AddBytes(content) })
	})
}

// sortDER sorts encodings as DER requires for SET OF.
func sortDER(encs [][]byte) { slices.SortFunc(encs, bytes.Compare) }
