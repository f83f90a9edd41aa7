package ubl

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
)

// Namespace URIs of the UBL and signature vocabularies.
const (
	NSInvoice = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
	NSCAC     = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
	NSCBC     = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
	NSEXT     = "urn:oasis:names:specification:ubl:schema:xsd:CommonExtensionComponents-2"
	NSSIG     = "urn:oasis:names:specification:ubl:schema:xsd:CommonSignatureComponents-2"
	NSSAC     = "urn:oasis:names:specification:ubl:schema:xsd:SignatureAggregateComponents-2"
	NSSBC     = "urn:oasis:names:specification:ubl:schema:xsd:SignatureBasicComponents-2"
	NSDS      = "http://www.w3.org/2000/09/xmldsig#"
	NSXAdES   = "http://uri.etsi.org/01903/v1.3.2#"
)

// c14nFrame is the canonicaliser's view of one open element.
type c14nFrame struct {
	qname     []byte
	local     []byte
	inInvoice bool // this element or an ancestor is named Invoice
	isInvoice bool
	skip      bool // inside an excluded subtree
	adrMark   int  // output length before a candidate QR reference, or -1
	adrQR     bool // a cbc:ID child of this candidate reads "QR"
	qrID      bool // this is a cbc:ID child of a candidate reference
}

// canonicalizer writes the Canonical XML 1.1 form (without comments) of a
// whole document. With exclude set it first drops, as ZATCA's invoice.xsl
// does, every UBLExtensions element below an Invoice element, every
// Signature child of an Invoice element and every AdditionalDocumentReference
// with a cbc:ID child whose normalised text is "QR"; the white space around
// them stays.
type canonicalizer struct {
	sc     scanner
	frames []c14nFrame
	idText []byte
	nsTmp  []nsDecl
	atTmp  []*attr

	rootLocal []byte
	rootURI   string

	sp *signPass // set while canonicalising for Sign
}

var c14nPool = sync.Pool{New: func() any { return new(canonicalizer) }}

// c14nMode selects what canonicalize does besides plain C14N 1.1.
type c14nMode uint8

const (
	c14nExclude  c14nMode = 1 << iota // drop the invoice-hash exclusions
	c14nComments                      // keep comments (C14N 1.1 with comments)
)

// canonicalize appends the canonical form of src to dst and reports the
// root element's local name and namespace.
func canonicalize(dst, src []byte, mode c14nMode) ([]byte, []byte, string, error) {
	c := c14nPool.Get().(*canonicalizer)
	defer c14nPool.Put(c)
	out, err := c.run(dst, src, mode)
	local, uri := c.rootLocal, c.rootURI
	// Do not keep the document alive in the pool.
	c.sc.release()
	clear(c.frames[:cap(c.frames)])
	c.rootLocal = nil
	return out, local, uri, err
}

// canonicalizeForSign canonicalises an unsigned invoice with the
// exclusions, running sp along (see signPass). Any excluded element is an
// ErrAlreadySigned error.
func canonicalizeForSign(dst, src []byte, sp *signPass) ([]byte, error) {
	c := c14nPool.Get().(*canonicalizer)
	defer c14nPool.Put(c)
	sp.src = src
	c.sp = sp
	out, err := c.run(dst, src, c14nExclude)
	if err == nil {
		err = sp.finish()
	}
	c.sp, sp.src = nil, nil
	c.sc.release()
	clear(c.frames[:cap(c.frames)])
	c.rootLocal = nil
	return out, err
}

func (c *canonicalizer) run(out, src []byte, mode c14nMode) ([]byte, error) {
	exclude := mode&c14nExclude != 0
	s := &c.sc
	s.reset(src)
	c.frames = c.frames[:0]
	c.rootLocal, c.rootURI = nil, ""
	if err := s.prolog(); err != nil {
		return out, err
	}
	for {
		if err := s.next(); err != nil {
			return out, err
		}
		switch s.kind {
		case tokEOF:
			return out, nil
		case tokStart:
			var err error
			if out, err = c.start(out, exclude); err != nil {
				return out, err
			}
		case tokEnd:
			f := c.frames[len(c.frames)-1]
			c.frames = c.frames[:len(c.frames)-1]
			if f.skip {
				continue
			}
			if c.sp != nil && len(c.frames) > 0 {
				c.sp.end()
			}
			out = append(out, "</"...)
			out = append(out, f.qname...)
			out = append(out, '>')
			if f.qrID && len(c.frames) > 0 {
				if string(normalizeSpace(c.idText)) == "QR" {
					c.frames[len(c.frames)-1].adrQR = true
				}
			}
			if f.adrMark >= 0 && f.adrQR {
				if c.sp != nil {
					return out, fmt.Errorf("%w: the document already contains the QR AdditionalDocumentReference", ErrAlreadySigned)
				}
				out = out[:f.adrMark]
			}
		case tokText:
			if len(c.frames) == 0 {
				continue // white space outside the root element
			}
			f := &c.frames[len(c.frames)-1]
			if f.skip {
				continue
			}
			if f.qrID {
				c.idText = append(c.idText, s.text...)
			}
			if c.sp != nil {
				c.sp.textNode(s)
			}
			out = escapeText(out, s.text, s.rawText)
		case tokComment, tokPI:
			if s.kind == tokComment && mode&c14nComments == 0 {
				continue
			}
			if len(c.frames) > 0 && c.frames[len(c.frames)-1].skip {
				continue
			}
			// Outside the root element a line break separates the node from
			// the root element.
			if len(c.frames) == 0 && s.rootDone {
				out = append(out, '\n')
			}
			if s.kind == tokComment {
				out = append(out, "<!--"...)
				out = appendNormalizedLines(out, s.text)
				out = append(out, "-->"...)
			} else {
				out = append(out, "<?"...)
				out = append(out, s.target...)
				if len(s.text) > 0 {
					out = append(out, ' ')
					out = append(out, s.text...)
				}
				out = append(out, "?>"...)
			}
			if len(c.frames) == 0 && !s.rootDone {
				out = append(out, '\n')
			}
		}
	}
}

func (c *canonicalizer) start(out []byte, exclude bool) ([]byte, error) {
	s := &c.sc
	f := c14nFrame{qname: s.qname, local: s.local, adrMark: -1}
	var parent *c14nFrame
	if n := len(c.frames); n > 0 {
		parent = &c.frames[n-1]
	} else {
		c.rootLocal, c.rootURI = s.local, s.uri
	}
	addExt := false
	if c.sp != nil {
		if parent == nil {
			if err := c.sp.rootStart(s); err != nil {
				return out, err
			}
			addExt = c.sp.lay.addExtNS
		} else if !parent.skip {
			out = append(out, c.sp.start(s)...)
		}
	}
	f.isInvoice = string(s.local) == "Invoice"
	f.inInvoice = f.isInvoice || (parent != nil && parent.inInvoice)
	switch {
	case parent != nil && parent.skip:
		f.skip = true
	case exclude && parent != nil && parent.inInvoice && string(s.local) == "UBLExtensions":
		f.skip = true
	case exclude && parent != nil && parent.isInvoice && string(s.local) == "Signature":
		f.skip = true
	}
	if f.skip {
		if c.sp != nil && !parent.skip {
			return out, fmt.Errorf("%w: the document already contains %s", ErrAlreadySigned, s.qname)
		}
		c.frames = append(c.frames, f)
		return out, nil
	}
	if exclude {
		if string(s.local) == "AdditionalDocumentReference" {
			f.adrMark = len(out)
		}
		if parent != nil && parent.adrMark >= 0 && s.uri == NSCBC && string(s.local) == "ID" {
			f.qrID = true
			c.idText = c.idText[:0]
		}
	}
	c.frames = append(c.frames, f)

	out = append(out, '<')
	out = append(out, s.qname...)

	// Namespace nodes: those whose value differs from the parent's in-scope
	// value (the parent is always in the output), default first, then by
	// prefix. The xml prefix is never rendered.
	decls := c.nsTmp[:0]
	for _, d := range s.decls {
		if d.prefix == "xml" {
			continue
		}
		prev := ""
		for i := s.stack[len(s.stack)-1].nsMark - 1; i >= 0; i-- {
			if s.ns[i].prefix == d.prefix {
				prev = s.ns[i].uri
				break
			}
		}
		if prev != d.uri {
			decls = append(decls, d)
		}
	}
	if addExt {
		// Sign declares xmlns:ext on the root; children see it in scope.
		decls = append(decls, nsDecl{prefix: "ext", uri: NSEXT})
		s.ns = append(s.ns, binding{prefix: "ext", uri: NSEXT})
	}
	if len(decls) > 1 {
		slices.SortFunc(decls, func(a, b nsDecl) int {
			switch {
			case a.prefix < b.prefix:
				return -1
			case a.prefix > b.prefix:
				return 1
			}
			return 0
		})
	}
	for _, d := range decls {
		if d.prefix == "" {
			out = append(out, " xmlns=\""...)
		} else {
			out = append(out, " xmlns:"...)
			out = append(out, d.prefix...)
			out = append(out, "=\""...)
		}
		out = appendEscaped(out, d.uri, escC14NAttr)
		out = append(out, '"')
	}
	c.nsTmp = decls

	// Attributes by namespace URI, then local name.
	attrs := c.atTmp[:0]
	for i := range s.attrs {
		attrs = append(attrs, &s.attrs[i])
	}
	if len(attrs) > 1 {
		slices.SortFunc(attrs, func(a, b *attr) int {
			if a.uri != b.uri {
				if a.uri < b.uri {
					return -1
				}
				return 1
			}
			return bytes.Compare(a.local, b.local)
		})
	}
	for _, a := range attrs {
		out = append(out, ' ')
		out = append(out, a.qname...)
		out = append(out, "=\""...)
		out = appendEscaped(out, a.value, escC14NAttr)
		out = append(out, '"')
	}
	clear(attrs)
	c.atTmp = attrs[:0]
	return append(out, '>'), nil
}

// escapeText writes character data in canonical form: &, <, > and CR are
// escaped. raw means the text came straight from the source with no
// references and no CR, so only '>' can need escaping.
func escapeText(out, t []byte, raw bool) []byte {
	if raw && bytes.IndexByte(t, '>') < 0 {
		return append(out, t...)
	}
	return appendEscaped(out, t, escC14NText)
}

// appendNormalizedLines appends b with CR LF and lone CR turned into LF.
func appendNormalizedLines(out, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		if b[i] == '\r' {
			out = append(out, '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			continue
		}
		out = append(out, b[i])
	}
	return out
}

// normalizeSpace is XPath normalize-space: trim and collapse XML white space.
func normalizeSpace(b []byte) []byte {
	f := bytes.FieldsFunc(b, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	return bytes.Join(f, []byte{' '})
}
