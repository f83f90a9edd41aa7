// Package qr owns the ZATCA QR payload: the TLV byte string of tags 1–9
// (SPEC §6) and its base64 form, which is what goes into the invoice's QR
// AdditionalDocumentReference and what the receipt prints as the QR symbol.
//
// It encodes and strictly decodes; it does not draw QR symbols, read XML or
// compute hashes and signatures. It imports only the standard library and must
// not import any other posagent package.
//
// # Tags
//
// Tags 1–5 are UTF-8 text exactly as written in the XML (seller name, VAT
// number, IssueDate+"T"+IssueTime, TaxInclusiveAmount, first TaxAmount).
// Tags 6 and 7 are the base64 strings (as ASCII) of the invoice hash and of the
// DER ECDSA signature, as in the SDK samples. Tag 8 is the DER
// SubjectPublicKeyInfo of the certificate key; tag 9 is the certificate's own
// signatureValue and is present for simplified documents only (omitted when
// Fields.CertSignature is empty). The phase-1 QR carries tags 1–5 only
// (EncodePhase1, DecodePhase1).
//
// # Length encoding
//
// ZATCA's security standard says the length is one byte. The SDK builds the
// TLV with a BER builder (com.payneteasy BerTlvBuilder), and its validator reads
// BER lengths. This package therefore writes a value shorter than 128 bytes
// with a one-byte length, and a value of 128–255 bytes with the BER long form
// 0x81 LL, as the SDK does. A value longer than 255 bytes is an encoding error
// (ErrValueTooLong). The decoder accepts the short form and 0x81 LL; any other
// length form, and a non-minimal 0x81 for a length below 128, is ErrBadLength,
// so that decoding and re-encoding always give the same bytes. Only tag 1
// (an Arabic seller name is 2 bytes per character) can realistically reach
// 128 bytes; keep it shorter where possible.
//
// # Size
//
// BR-CL-KSA-14 limits the base64 QR to 1000 characters (750 TLV bytes); Encode,
// EncodeBase64, Decode and DecodeBase64 enforce it with ErrTooLong. ZATCA's
// security standard (SEC §4) asks for at most 700 characters; that limit is
// not enforced here, but Fields.Base64 results above SECMaxBase64Len should be
// reported to the operator. The SDK samples are 632 characters.
package qr

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Tag is a ZATCA QR TLV tag.
type Tag byte

// The QR tags of SPEC §6.1.
const (
	TagSellerName    Tag = 1 // seller name (UTF-8)
	TagVATNumber     Tag = 2 // seller VAT registration number
	TagTimestamp     Tag = 3 // IssueDate + "T" + IssueTime
	TagTotal         Tag = 4 // invoice total with VAT (literal XML text)
	TagVATTotal      Tag = 5 // VAT total (literal XML text)
	TagInvoiceHash   Tag = 6 // base64 of the raw invoice hash, as ASCII
	TagSignature     Tag = 7 // base64 of the DER ECDSA signature, as ASCII
	TagPublicKey     Tag = 8 // DER SubjectPublicKeyInfo
	TagCertSignature Tag = 9 // certificate signatureValue (simplified only)
)

var tagNames = [...]string{
	TagSellerName:    "seller name",
	TagVATNumber:     "VAT number",
	TagTimestamp:     "timestamp",
	TagTotal:         "total",
	TagVATTotal:      "VAT total",
	TagInvoiceHash:   "invoice hash",
	TagSignature:     "signature",
	TagPublicKey:     "public key",
	TagCertSignature: "certificate signature",
}

// String returns the tag number and its meaning, e.g. "tag 2 (VAT number)".
func (t Tag) String() string {
	if t >= 1 && int(t) < len(tagNames) {
		return "tag " + strconv.Itoa(int(t)) + " (" + tagNames[t] + ")"
	}
	return "tag " + strconv.Itoa(int(t))
}

// Size limits.
const (
	// MaxBase64Len is the BR-CL-KSA-14 limit on the base64 QR text.
	MaxBase64Len = 1000
	// MaxTLVLen is the largest TLV whose base64 form fits MaxBase64Len.
	MaxTLVLen = MaxBase64Len / 4 * 3
	// SECMaxBase64Len is the 700-character limit of ZATCA's security
	// standard (SEC §4). It is advisory: not enforced by this package.
	SECMaxBase64Len = 700
	// MaxValueLen is the longest value the 0x81 LL length form can carry.
	MaxValueLen = 255
)

// Sentinel errors. Errors about one tag are *TagError values wrapping one of
// these; use errors.Is for the kind and errors.As for the tag.
var (
	ErrUnknownTag   = errors.New("unknown tag")
	ErrDuplicateTag = errors.New("duplicate tag")
	ErrOutOfOrder   = errors.New("tag out of order")
	ErrTruncated    = errors.New("truncated")
	ErrBadLength    = errors.New("bad length encoding")
	ErrMissingTag   = errors.New("missing tag")
	ErrEmptyValue   = errors.New("empty value")
	ErrInvalidValue = errors.New("invalid value")
	ErrValueTooLong = errors.New("value longer than 255 bytes")
	ErrUnexpected   = errors.New("tag not allowed here")
	// ErrTooLong reports a QR over the BR-CL-KSA-14 limit of 1000 base64
	// characters. It is returned bare (wrapped with the operation name).
	ErrTooLong = errors.New("QR longer than 1000 base64 characters (BR-CL-KSA-14)")
	// ErrBase64 reports QR text that is not standard padded base64.
	ErrBase64 = errors.New("QR text is not standard base64")
)

// TagError is an error about one tag of the TLV. Offset is the byte offset
// of the tag in the TLV, or -1 when the error is not about a position (a
// missing tag, or an error at encode).
type TagError struct {
	Tag    Tag
	Offset int
	Err    error  // one of the sentinel errors above
	Detail string // optional specifics
}

func (e *TagError) Error() string {
	s := e.Tag.String() + ": " + e.Err.Error()
	if e.Offset >= 0 {
		s += " at offset " + strconv.Itoa(e.Offset)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *TagError) Unwrap() error { return e.Err }

// Fields are the values of the phase-2 QR. Text fields are written exactly as
// given; callers pass the literal XML text.
type Fields struct {
	SellerName  string // tag 1
	VATNumber   string // tag 2
	Timestamp   string // tag 3, e.g. "2022-08-17T17:41:08"
	Total       string // tag 4
	VATTotal    string // tag 5
	InvoiceHash string // tag 6, the 44-character base64 text
	Signature   string // tag 7, the base64 text of the DER signature
	PublicKey   []byte // tag 8, DER SubjectPublicKeyInfo
	// CertSignature is tag 9, the certificate's signatureValue. Set it for
	// simplified documents only; it is omitted when empty.
	CertSignature []byte
}

// value returns the bytes of tag t.
func (f *Fields) value(t Tag) []byte {
	switch t {
	case TagSellerName:
		return []byte(f.SellerName)
	case TagVATNumber:
		return []byte(f.VATNumber)
	case TagTimestamp:
		return []byte(f.Timestamp)
	case TagTotal:
		return []byte(f.Total)
	case TagVATTotal:
		return []byte(f.VATTotal)
	case TagInvoiceHash:
		return []byte(f.InvoiceHash)
	case TagSignature:
		return []byte(f.Signature)
	case TagPublicKey:
		return f.PublicKey
	case TagCertSignature:
		return f.CertSignature
	}
	return nil
}

// set stores v as the value of tag t.
func (f *Fields) set(t Tag, v []byte) {
	switch t {
	case TagSellerName:
		f.SellerName = string(v)
	case TagVATNumber:
		f.VATNumber = string(v)
	case TagTimestamp:
		f.Timestamp = string(v)
	case TagTotal:
		f.Total = string(v)
	case TagVATTotal:
		f.VATTotal = string(v)
	case TagInvoiceHash:
		f.InvoiceHash = string(v)
	case TagSignature:
		f.Signature = string(v)
	case TagPublicKey:
		f.PublicKey = bytes.Clone(v)
	case TagCertSignature:
		f.CertSignature = bytes.Clone(v)
	}
}

// checkValue validates the content of one value (not its presence).
func checkValue(t Tag, v []byte) error {
	switch {
	case t <= TagVATTotal:
		if !utf8.Valid(v) {
			return &TagError{Tag: t, Offset: -1, Err: ErrInvalidValue, Detail: "not valid UTF-8"}
		}
	case t == TagInvoiceHash || t == TagSignature:
		raw, err := base64.StdEncoding.Strict().DecodeString(string(v))
		if err != nil {
			return &TagError{Tag: t, Offset: -1, Err: ErrInvalidValue, Detail: "not standard base64"}
		}
		if t == TagInvoiceHash && len(raw) != 32 {
			return &TagError{Tag: t, Offset: -1, Err: ErrInvalidValue,
				Detail: fmt.Sprintf("decodes to %d bytes, want a 32-byte SHA-256", len(raw))}
		}
	}
	return nil
}

// Encode returns the phase-2 TLV: tags 1–8, all required, then tag 9 when
// f.CertSignature is set.
func (f Fields) Encode() ([]byte, error) { return Encode(f) }

// Base64 returns the base64 QR text (the content of the QR symbol).
func (f Fields) Base64() (string, error) { return EncodeBase64(f) }

// Encode returns the phase-2 TLV of f: tags 1–8, all required, then tag 9
// when f.CertSignature is set. Tags 6 and 7 must be standard base64 and tag 6
// must decode to 32 bytes.
func Encode(f Fields) ([]byte, error) {
	b, err := encode(&f, TagPublicKey, true)
	if err != nil {
		return nil, fmt.Errorf("qr encode: %w", err)
	}
	return b, nil
}

// EncodeBase64 returns the base64 text of Encode(f).
func EncodeBase64(f Fields) (string, error) {
	b, err := Encode(f)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// EncodePhase1 returns the phase-1 TLV (tags 1–5, all required). Tags 6–9
// must be empty: the phase-1 QR has no place for them.
func EncodePhase1(f Fields) ([]byte, error) {
	for t := TagInvoiceHash; t <= TagCertSignature; t++ {
		if len(f.value(t)) != 0 {
			return nil, fmt.Errorf("qr encode phase 1: %w",
				&TagError{Tag: t, Offset: -1, Err: ErrUnexpected, Detail: "the phase-1 QR has tags 1-5 only"})
		}
	}
	b, err := encode(&f, TagVATTotal, false)
	if err != nil {
		return nil, fmt.Errorf("qr encode phase 1: %w", err)
	}
	return b, nil
}

func encode(f *Fields, last Tag, optional9 bool) ([]byte, error) {
	out := make([]byte, 0, 512)
	for t := TagSellerName; t <= TagCertSignature; t++ {
		v := f.value(t)
		if t > last {
			if !(optional9 && t == TagCertSignature && len(v) > 0) {
				continue
			}
		} else if len(v) == 0 {
			return nil, &TagError{Tag: t, Offset: -1, Err: ErrMissingTag}
		}
		if err := checkValue(t, v); err != nil {
			return nil, err
		}
		switch n := len(v); {
		case n < 0x80:
			out = append(out, byte(t), byte(n))
		case n <= MaxValueLen:
			out = append(out, byte(t), 0x81, byte(n))
		default:
			return nil, &TagError{Tag: t, Offset: -1, Err: ErrValueTooLong, Detail: strconv.Itoa(n) + " bytes"}
		}
		out = append(out, v...)
	}
	if len(out) > MaxTLVLen {
		return nil, fmt.Errorf("%w: %d TLV bytes give %d characters", ErrTooLong,
			len(out), base64.StdEncoding.EncodedLen(len(out)))
	}
	return out, nil
}

// Decode parses a phase-2 TLV strictly: tags 1–8 present, non-empty and in
// order, tag 9 optional, each at most once, nothing else, no trailing bytes.
// Tags 1–5 must be UTF-8, tags 6 and 7 standard base64 (tag 6 of 32 bytes).
func Decode(tlv []byte) (Fields, error) {
	f, err := decode(tlv, TagPublicKey, TagCertSignature)
	if err != nil {
		return Fields{}, fmt.Errorf("qr decode: %w", err)
	}
	return f, nil
}

// DecodePhase1 parses a phase-1 TLV strictly: exactly tags 1–5, in order.
func DecodePhase1(tlv []byte) (Fields, error) {
	f, err := decode(tlv, TagVATTotal, TagVATTotal)
	if err != nil {
		return Fields{}, fmt.Errorf("qr decode phase 1: %w", err)
	}
	return f, nil
}

// DecodeBase64 decodes the base64 QR text (standard alphabet, padded) and
// then the phase-2 TLV, as Decode.
func DecodeBase64(s string) (Fields, error) {
	tlv, err := decodeText(s)
	if err != nil {
		return Fields{}, fmt.Errorf("qr decode: %w", err)
	}
	return Decode(tlv)
}

func decodeText(s string) ([]byte, error) {
	if len(s) > MaxBase64Len {
		return nil, fmt.Errorf("%w: %d characters", ErrTooLong, len(s))
	}
	tlv, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBase64, err)
	}
	return tlv, nil
}

// decode reads tags in increasing order; tags 1..required must be present,
// tags up to max are allowed.
func decode(tlv []byte, required, max Tag) (Fields, error) {
	var f Fields
	if len(tlv) > MaxTLVLen {
		return f, fmt.Errorf("%w: %d TLV bytes", ErrTooLong, len(tlv))
	}
	var prev Tag
	for off := 0; off < len(tlv); {
		t := Tag(tlv[off])
		switch {
		case t < 1 || t > max:
			return f, &TagError{Tag: t, Offset: off, Err: ErrUnknownTag}
		case t == prev:
			return f, &TagError{Tag: t, Offset: off, Err: ErrDuplicateTag}
		case t < prev:
			return f, &TagError{Tag: t, Offset: off, Err: ErrOutOfOrder, Detail: "after " + prev.String()}
		case t != prev+1 && t <= required:
			return f, &TagError{Tag: prev + 1, Offset: -1, Err: ErrMissingTag}
		}
		if off+1 >= len(tlv) {
			return f, &TagError{Tag: t, Offset: off, Err: ErrTruncated, Detail: "no length byte"}
		}
		n, hdr := int(tlv[off+1]), 2
		switch {
		case n == 0x81:
			if off+2 >= len(tlv) {
				return f, &TagError{Tag: t, Offset: off, Err: ErrTruncated, Detail: "no second length byte"}
			}
			n, hdr = int(tlv[off+2]), 3
			if n < 0x80 {
				return f, &TagError{Tag: t, Offset: off, Err: ErrBadLength,
					Detail: fmt.Sprintf("0x81 long form for length %d", n)}
			}
		case n >= 0x80:
			return f, &TagError{Tag: t, Offset: off, Err: ErrBadLength,
				Detail: fmt.Sprintf("length byte 0x%02x (only short form and 0x81 LL are allowed)", n)}
		}
		start := off + hdr
		if start+n > len(tlv) {
			return f, &TagError{Tag: t, Offset: off, Err: ErrTruncated,
				Detail: fmt.Sprintf("length %d, %d bytes left", n, len(tlv)-start)}
		}
		v := tlv[start : start+n]
		if n == 0 {
			return f, &TagError{Tag: t, Offset: off, Err: ErrEmptyValue}
		}
		if err := checkValue(t, v); err != nil {
			var te *TagError
			if errors.As(err, &te) {
				te.Offset = off
			}
			return f, err
		}
		f.set(t, v)
		prev = t
		off = start + n
	}
	if prev < required {
		return f, &TagError{Tag: prev + 1, Offset: -1, Err: ErrMissingTag}
	}
	return f, nil
}
