package ubl

import (
	"errors"
	"fmt"
)

// signPass rides along the canonicalisation of an unsigned invoice (one
// pass over the bytes): it checks the root and its namespace declarations,
// records where Sign inserts its blocks, makes the canonical output that of
// the final layout (the separators around the blocks, and xmlns:ext on the
// root when it is missing), and collects the literal values the QR is built
// from. Paths follow the first matching child at each step, as Verify's
// lookups do. The canonicaliser itself reports any block that is already
// present (ErrAlreadySigned).
type signPass struct {
	src  []byte
	lay  layout
	v    docValues
	path []pathNode
	text []byte
	seen [pkCount]bool // first-match bookkeeping per element kind
	got  [pkCount]bool // values found
}

// layout says where Sign inserts its blocks into the unsigned bytes. The
// QR reference goes before qrAt and is followed by qrSep; cac:Signature goes
// before sigAt and is followed by sigSep. qrAt == sigAt unless the document
// has a cac:ProjectReference.
type layout struct {
	addExtNS bool // declare xmlns:ext on the root
	rootGT   int  // offset of the '>' ending the root start tag
	qrAt     int
	sigAt    int
	qrSep    string // line break and indentation at qrAt, or ""
	sigSep   string
}

// rootStart checks the root element.
func (p *signPass) rootStart(s *scanner) error {
	if string(s.local) != "Invoice" || s.uri != NSInvoice {
		return fmt.Errorf("%w: root element is {%s}%s, want {%s}Invoice", ErrNotInvoice, s.uri, s.local, NSInvoice)
	}
	var cac, cbc, ext string
	var hasExt bool
	for _, d := range s.decls {
		switch d.prefix {
		case "cac":
			cac = d.uri
		case "cbc":
			cbc = d.uri
		case "ext":
			ext, hasExt = d.uri, true
		}
	}
	switch {
	case cac != NSCAC:
		return fmt.Errorf("%w: the root must declare xmlns:cac=%q", ErrInvalidInput, NSCAC)
	case cbc != NSCBC:
		return fmt.Errorf("%w: the root must declare xmlns:cbc=%q", ErrInvalidInput, NSCBC)
	case hasExt && ext != NSEXT:
		return fmt.Errorf("%w: the root binds prefix ext to %q, want %q", ErrInvalidInput, ext, NSEXT)
	}
	p.lay = layout{addExtNS: !hasExt, rootGT: s.to - 1, qrAt: -1, sigAt: -1}
	p.path = append(p.path[:0], pathNode{kind: pkRoot})
	return nil
}

// start is called for every element below the root before its start tag is
// written; it returns the white space to write before the tag (the
// separators that will follow the inserted blocks).
func (p *signPass) start(s *scanner) string {
	parent := p.path[len(p.path)-1]
	var insert string
	if parent.kind == pkRoot && s.uri == NSCAC {
		switch {
		case string(s.local) == "ProjectReference" && p.lay.qrAt < 0 && p.lay.sigAt < 0:
			p.lay.qrAt = s.from
			p.lay.qrSep = indentBefore(p.src, s.from)
			insert = p.lay.qrSep
		case string(s.local) == "AccountingSupplierParty" && p.lay.sigAt < 0:
			p.lay.sigAt = s.from
			p.lay.sigSep = indentBefore(p.src, s.from)
			if p.lay.qrAt < 0 {
				p.lay.qrAt, p.lay.qrSep = s.from, p.lay.sigSep
				insert = p.lay.qrSep
			}
			insert += p.lay.sigSep
		}
	}
	k := nextKind(parent.kind, s.uri, string(s.local))
	if p.seen[k] {
		k = pkOther
	}
	p.seen[k] = true
	if k == pkTypeCode {
		for _, a := range s.attrs {
			if a.uri == "" && string(a.local) == "name" {
				p.v.typeName = string(a.value)
				p.got[pkTypeName] = true
			}
		}
	}
	if k.isValue() {
		p.text = p.text[:0]
	}
	p.path = append(p.path, pathNode{kind: k})
	return insert
}

func (p *signPass) textNode(s *scanner) {
	if len(p.path) > 0 && p.path[len(p.path)-1].kind.isValue() {
		p.text = append(p.text, s.text...)
	}
}

func (p *signPass) end() {
	n := p.path[len(p.path)-1]
	p.path = p.path[:len(p.path)-1]
	if dst := p.v.field(n.kind); dst != nil {
		*dst = string(p.text)
		p.got[n.kind] = true
	}
}

// indentBefore returns "\n" and the indentation when the element at off
// starts a line, else "".
func indentBefore(src []byte, off int) string {
	i := off
	for i > 0 && (src[i-1] == ' ' || src[i-1] == '\t') {
		i--
	}
	if i > 0 && (src[i-1] == '\n' || src[i-1] == '\r') {
		return "\n" + string(src[i:off])
	}
	return ""
}

// finish checks what the document must contain.
func (p *signPass) finish() error {
	if p.lay.sigAt < 0 {
		return fmt.Errorf("%w: cac:AccountingSupplierParty is missing", ErrMissingElement)
	}
	var errs []error
	for _, r := range requiredValues {
		switch {
		case !p.got[r.kind]:
			errs = append(errs, fmt.Errorf("%w: %s is missing", ErrMissingElement, r.name))
		case r.kind != pkTypeName && *p.v.field(r.kind) == "":
			errs = append(errs, fmt.Errorf("%w: %s is empty", ErrMissingElement, r.name))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if p.got[pkPayable] && p.v.payable != p.v.taxInclusive {
		return fmt.Errorf("%w: PayableAmount %q differs from TaxInclusiveAmount %q: QR tag 4 would be ambiguous (SPEC §3.2)",
			ErrInvalidInput, p.v.payable, p.v.taxInclusive)
	}
	return nil
}

// pathKind names the elements the sign pass reads.
type pathKind uint8

const (
	pkOther pathKind = iota
	pkRoot
	pkSupplier       // cac:AccountingSupplierParty
	pkSupplierParty  // …/cac:Party
	pkLegalEntity    // …/cac:PartyLegalEntity
	pkTaxScheme      // …/cac:PartyTaxScheme
	pkLMT            // cac:LegalMonetaryTotal
	pkTaxTotal       // the first cac:TaxTotal
	pkTypeName       // InvoiceTypeCode/@name (an attribute)
	pkIssueDate      // cbc:IssueDate; this and the kinds below hold text
	pkIssueTime      // cbc:IssueTime
	pkTypeCode       // cbc:InvoiceTypeCode
	pkSellerName     // …/cbc:RegistrationName
	pkSellerVAT      // …/cbc:CompanyID
	pkTaxInclusive   // cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount
	pkPayable        // cac:LegalMonetaryTotal/cbc:PayableAmount
	pkTaxTotalAmount // the first cac:TaxTotal/cbc:TaxAmount
	pkCount
)

func (k pathKind) isValue() bool { return k >= pkIssueDate && k < pkCount }

type pathNode struct{ kind pathKind }

// nextKind is the kind of a child (uri, local) of an element of kind parent.
func nextKind(parent pathKind, uri, local string) pathKind {
	switch parent {
	case pkRoot:
		switch {
		case uri == NSCAC && local == "AccountingSupplierParty":
			return pkSupplier
		case uri == NSCAC && local == "LegalMonetaryTotal":
			return pkLMT
		case uri == NSCAC && local == "TaxTotal":
			return pkTaxTotal
		case uri == NSCBC && local == "IssueDate":
			return pkIssueDate
		case uri == NSCBC && local == "IssueTime":
			return pkIssueTime
		case uri == NSCBC && local == "InvoiceTypeCode":
			return pkTypeCode
		}
	case pkSupplier:
		if uri == NSCAC && local == "Party" {
			return pkSupplierParty
		}
	case pkSupplierParty:
		switch {
		case uri == NSCAC && local == "PartyLegalEntity":
			return pkLegalEntity
		case uri == NSCAC && local == "PartyTaxScheme":
			return pkTaxScheme
		}
	case pkLegalEntity:
		if uri == NSCBC && local == "RegistrationName" {
			return pkSellerName
		}
	case pkTaxScheme:
		if uri == NSCBC && local == "CompanyID" {
			return pkSellerVAT
		}
	case pkLMT:
		switch {
		case uri == NSCBC && local == "TaxInclusiveAmount":
			return pkTaxInclusive
		case uri == NSCBC && local == "PayableAmount":
			return pkPayable
		}
	case pkTaxTotal:
		if uri == NSCBC && local == "TaxAmount" {
			return pkTaxTotalAmount
		}
	}
	return pkOther
}

var requiredValues = []struct {
	kind pathKind
	name string
}{
	{pkIssueDate, "cbc:IssueDate"},
	{pkIssueTime, "cbc:IssueTime"},
	{pkTypeCode, "cbc:InvoiceTypeCode"},
	{pkTypeName, "cbc:InvoiceTypeCode/@name"},
	{pkSellerName, "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName"},
	{pkSellerVAT, "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"},
	{pkTaxInclusive, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount"},
	{pkTaxTotalAmount, "cac:TaxTotal/cbc:TaxAmount"},
}

// docValues are the document's literal values the QR is built from.
type docValues struct {
	issueDate, issueTime string
	typeCode, typeName   string // InvoiceTypeCode and its @name
	sellerName           string
	sellerVAT            string
	taxInclusive         string
	payable              string
	taxTotal             string // the first cac:TaxTotal/cbc:TaxAmount
}

func (v *docValues) field(k pathKind) *string {
	switch k {
	case pkIssueDate:
		return &v.issueDate
	case pkIssueTime:
		return &v.issueTime
	case pkTypeCode:
		return &v.typeCode
	case pkTypeName:
		return &v.typeName
	case pkSellerName:
		return &v.sellerName
	case pkSellerVAT:
		return &v.sellerVAT
	case pkTaxInclusive:
		return &v.taxInclusive
	case pkPayable:
		return &v.payable
	case pkTaxTotalAmount:
		return &v.taxTotal
	}
	return nil
}
