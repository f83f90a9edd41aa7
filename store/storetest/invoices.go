// Package storetest holds what tests of any store implementation share: a
// generator of realistic signed documents (Invoices) and the conformance
// suite every store.Store must pass (Run).
//
// It imports store only; the invoice hash function is passed in (tests use
// agent/ubl.InvoiceHashBase64), so store keeps knowing nothing of UBL.
// Only tests import it.
package storetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/posagent/posagent/store"
)

// Invoices makes documents for tests from one signed ZATCA invoice (the
// template, e.g. the SDK's Simplified_Invoice.xml): each document gets the
// next ICV, the head's hash as PIH, a fresh UUID, an IRN and the issue
// time written into the XML, and its real invoice hash (computed by
// Rehash, and written into the signature's invoiceSignedData digest).
//
// With Foreign set, the certificate (one per generator, like a terminal's
// CSID), the signature value, the SignedProperties digest and the QR are
// replaced by random base64 of the same length: the entropy a real
// terminal's documents carry, so that storage measurements are not
// flattered by the template's own certificate and signature. The
// signature then no longer verifies; the store never checks it.
type Invoices struct {
	template []byte
	rehash   store.RehashFunc
	foreign  bool
	fields   []span // in template order
	qr       string // the template's QR text
	seller   string
	typeName string
	docType  store.DocType
	totals   [3]string // tax exclusive, VAT, tax inclusive

	mu   sync.Mutex
	rng  *rand.Rand
	cert string
}

type span struct {
	name       string
	start, end int // the value's bytes in the template
}

var templateFields = []struct {
	name string
	re   *regexp.Regexp
}{
	{"irn", regexp.MustCompile(`</cbc:ProfileID>\s*<cbc:ID>([^<]*)</cbc:ID>`)},
	{"uuid", regexp.MustCompile(`</cbc:ID>\s*<cbc:UUID>([^<]*)</cbc:UUID>\s*<cbc:IssueDate>`)},
	{"date", regexp.MustCompile(`<cbc:IssueDate>([^<]*)</cbc:IssueDate>`)},
	{"time", regexp.MustCompile(`<cbc:IssueTime>([^<]*)</cbc:IssueTime>`)},
	{"icv", regexp.MustCompile(`<cbc:ID>ICV</cbc:ID>\s*<cbc:UUID>([^<]*)</cbc:UUID>`)},
	{"pih", regexp.MustCompile(`<cbc:ID>PIH</cbc:ID>\s*<cac:Attachment>\s*<cbc:EmbeddedDocumentBinaryObject[^>]*>([^<]*)<`)},
	{"qr", regexp.MustCompile(`<cbc:ID>QR</cbc:ID>\s*<cac:Attachment>\s*<cbc:EmbeddedDocumentBinaryObject[^>]*>([^<]*)<`)},
	{"digest", regexp.MustCompile(`Id="invoiceSignedData"[^>]*>[\s\S]*?<ds:DigestValue>([^<]*)</ds:DigestValue>`)},
	{"propsdigest", regexp.MustCompile(`URI="#xadesSignedProperties"[^>]*>[\s\S]*?<ds:DigestValue>([^<]*)</ds:DigestValue>`)},
	{"signature", regexp.MustCompile(`<ds:SignatureValue>([^<]*)</ds:SignatureValue>`)},
	{"cert", regexp.MustCompile(`<ds:X509Certificate>([^<]*)</ds:X509Certificate>`)},
}

var (
	sellerRE   = regexp.MustCompile(`<cac:AccountingSupplierParty>[\s\S]*?<cbc:CompanyID>([^<]*)</cbc:CompanyID>`)
	typeRE     = regexp.MustCompile(`<cbc:InvoiceTypeCode name="([^"]*)">([^<]*)</cbc:InvoiceTypeCode>`)
	exclRE     = regexp.MustCompile(`<cbc:TaxExclusiveAmount[^>]*>([^<]*)<`)
	inclRE     = regexp.MustCompile(`<cbc:TaxInclusiveAmount[^>]*>([^<]*)<`)
	vatTotalRE = regexp.MustCompile(`<cac:TaxTotal>\s*<cbc:TaxAmount[^>]*>([^<]*)<`)
)

// NewInvoices prepares a generator from a signed invoice. seed fixes the
// random parts (UUIDs and, with foreign, the signature material).
func NewInvoices(template []byte, rehash store.RehashFunc, foreign bool, seed uint64) (*Invoices, error) {
	if rehash == nil {
		return nil, fmt.Errorf("storetest invoices: rehash is nil")
	}
	g := &Invoices{template: template, rehash: rehash, foreign: foreign,
		rng: rand.New(rand.NewChaCha8(seedBytes(seed)))}
	for _, f := range templateFields {
		all := f.re.FindAllSubmatchIndex(template, -1)
		if len(all) != 1 {
			return nil, fmt.Errorf("storetest invoices: template has %d %s fields, want 1", len(all), f.name)
		}
		g.fields = append(g.fields, span{name: f.name, start: all[0][2], end: all[0][3]})
	}
	sort.Slice(g.fields, func(i, j int) bool { return g.fields[i].start < g.fields[j].start })
	for i := 1; i < len(g.fields); i++ {
		if g.fields[i].start < g.fields[i-1].end {
			return nil, fmt.Errorf("storetest invoices: template fields %s and %s overlap", g.fields[i-1].name, g.fields[i].name)
		}
	}
	one := func(re *regexp.Regexp, group int) (string, error) {
		m := re.FindSubmatch(template)
		if m == nil {
			return "", fmt.Errorf("storetest invoices: template lacks %s", re)
		}
		return string(m[group]), nil
	}
	var err error
	for _, x := range []struct {
		dst   *string
		re    *regexp.Regexp
		group int
	}{
		{&g.qr, templateFields[6].re, 1}, {&g.seller, sellerRE, 1}, {&g.typeName, typeRE, 1},
		{&g.totals[0], exclRE, 1}, {&g.totals[1], vatTotalRE, 1}, {&g.totals[2], inclRE, 1},
	} {
		if *x.dst, err = one(x.re, x.group); err != nil {
			return nil, err
		}
	}
	code, err := one(typeRE, 2)
	if err != nil {
		return nil, err
	}
	g.docType = store.DocType(code)
	if foreign {
		g.cert = g.randomBase64Like(g.value("cert"))
	}
	return g, nil
}

func seedBytes(seed uint64) [32]byte {
	var s [32]byte
	for i := range 4 {
		for j := range 8 {
			s[i*8+j] = byte(seed >> (8 * j))
		}
		seed = seed*6364136223846793005 + 1442695040888963407
	}
	return s
}

func (g *Invoices) value(name string) string {
	for _, f := range g.fields {
		if f.name == name {
			return string(g.template[f.start:f.end])
		}
	}
	return ""
}

// randomBase64Like returns random base64 text as long as s (which must be
// base64 of whole bytes).
func (g *Invoices) randomBase64Like(s string) string {
	n := base64.StdEncoding.DecodedLen(len(s))
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		n = len(b)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (g *Invoices) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// IRN is the invoice reference number the generator gives ICV icv.
func IRN(icv uint64) string { return "SME-" + strconv.FormatUint(icv, 10) }

// Document returns the next document for head, issued at now (to the
// second, in KSA time).
func (g *Invoices) Document(head store.Head, now time.Time) (*store.Document, error) {
	icv := head.ICV + 1
	issued := now.Truncate(time.Second).In(store.KSA)
	g.mu.Lock()
	vals := map[string]string{
		"irn": IRN(icv), "uuid": g.uuid(), "date": issued.Format(time.DateOnly), "time": issued.Format(time.TimeOnly),
		"icv": strconv.FormatUint(icv, 10), "pih": head.Hash,
	}
	qr := g.qr
	if g.foreign {
		vals["cert"] = g.cert
		vals["signature"] = g.randomBase64Like(g.value("signature"))
		vals["propsdigest"] = g.randomBase64Like(g.value("propsdigest"))
		qr = g.randomBase64Like(g.qr)
		vals["qr"] = qr
	}
	g.mu.Unlock()

	xml := g.splice(vals)
	hash, err := g.rehash(xml)
	if err != nil {
		return nil, fmt.Errorf("storetest invoices: hash: %w", err)
	}
	vals["digest"] = hash // outside the hashed content (ext:UBLExtensions)
	xml = g.splice(vals)
	return &store.Document{
		ICV: icv, UUID: vals["uuid"], Type: g.docType, TypeName: g.typeName, IRN: vals["irn"], IssuedAt: issued,
		Hash: hash, PIH: head.Hash, XML: xml, QR: qr, SellerVAT: g.seller,
		TaxExclusive: g.totals[0], VATTotal: g.totals[1], TaxInclusive: g.totals[2],
	}, nil
}

func (g *Invoices) splice(vals map[string]string) []byte {
	var b bytes.Buffer
	b.Grow(len(g.template) + 256)
	last := 0
	for _, f := range g.fields {
		v, ok := vals[f.name]
		if !ok {
			continue
		}
		b.Write(g.template[last:f.start])
		b.WriteString(v)
		last = f.end
	}
	b.Write(g.template[last:])
	return b.Bytes()
}

// Build returns a store.BuildFunc that issues the next document at now.
func (g *Invoices) Build(now time.Time) store.BuildFunc {
	return func(_ context.Context, head store.Head) (*store.Document, error) {
		return g.Document(head, now)
	}
}
