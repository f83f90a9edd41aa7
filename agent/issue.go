// Package agent owns posagent's sale pipeline: it turns a POS sale into a stamped ZATCA
// document (compute totals → build UBL → invoice hash → sign → QR), assigns the document's
// place in the terminal's single chain, and (in the daemon) journals, prints and reports it.
//
// agent is the top of the import graph: it may import agent/*, hsm, store, printer, offline
// and board; nothing below it imports agent.
package agent

import (
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/agent/ubl"
)

// Stamp is the stamping identity: the private key (normally an hsm.Signer) and the
// ZATCA certificate (CSID) issued for it.
type Stamp struct {
	Key  crypto.Signer
	Cert *cert.Certificate
}

// Validate reports whether the stamp can sign.
func (s Stamp) Validate() error {
	if s.Key == nil {
		return errors.New("stamp: no signing key")
	}
	if s.Cert == nil {
		return errors.New("stamp: no certificate")
	}
	return nil
}

// Issue builds the UBL document for doc with the chain header h and stamps it with st.
// The signing time is h.Issued: one instant is the issue time and the signing time.
// Issue does no I/O; the caller journals the result.
func Issue(doc *invoice.Document, h ubl.Header, st Stamp) (*ubl.Signed, error) {
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	if h.IRN == "" && doc.RefNumber == "" {
		h.IRN = DefaultIRN(doc.Type, h.ICV)
	}
	unsigned, err := ubl.Build(doc, h)
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	signed, err := ubl.Sign(unsigned, st.Key, st.Cert, h.Issued)
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	return signed, nil
}

// DefaultIRN is the invoice reference number (cbc:ID) of a document whose POS gave none:
// a prefix for the document type and the ICV, e.g. "INV-000042", "CRN-000043".
func DefaultIRN(t invoice.DocType, icv uint64) string {
	prefix := "INV"
	switch t {
	case invoice.TypeCreditNote:
		prefix = "CRN"
	case invoice.TypeDebitNote:
		prefix = "DBN"
	}
	return fmt.Sprintf("%s-%06d", prefix, icv)
}

// NewUUID returns a random RFC 4122 version 4 UUID in its canonical lower-case form
// (BR-KSA-03: letters, digits and dashes).
func NewUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new uuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
