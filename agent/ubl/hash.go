package ubl

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync"
)

// bufPool recycles canonical-form buffers between hashes.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// CanonicalInvoice returns the bytes the invoice hash is computed over
// (SPEC §4): the document without ext:UBLExtensions, the Invoice's
// cac:Signature and the QR cac:AdditionalDocumentReference (white space
// around them kept), without the XML declaration, in Canonical XML 1.1 form
// without comments. The root element must be a UBL Invoice.
func CanonicalInvoice(xml []byte) ([]byte, error) {
	out, err := canonicalInvoice(nil, xml)
	if err != nil {
		return nil, fmt.Errorf("canonical invoice: %w", err)
	}
	return out, nil
}

func canonicalInvoice(dst, xml []byte) ([]byte, error) {
	out, local, uri, err := canonicalize(dst, xml, c14nExclude)
	if err != nil {
		return out, err
	}
	if string(local) != "Invoice" || uri != NSInvoice {
		return out, fmt.Errorf("%w: root element is {%s}%s, want {%s}Invoice", ErrNotInvoice, uri, local, NSInvoice)
	}
	return out, nil
}

// InvoiceHash returns the SHA-256 of the canonical invoice (SPEC §4).
func InvoiceHash(xml []byte) (raw [32]byte, err error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	out, err := canonicalInvoice((*bp)[:0], xml)
	*bp = out[:0]
	if err != nil {
		return raw, fmt.Errorf("invoice hash: %w", err)
	}
	return sha256.Sum256(out), nil
}

// InvoiceHashBase64 returns the invoice hash as base64 of the 32 raw bytes
// (44 characters), the form used in DigestValue, QR tag 6, the API and PIH.
func InvoiceHashBase64(xml []byte) (string, error) {
	h, err := InvoiceHash(xml)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(h[:]), nil
}
