package ubl

import "bytes"

// document is a read-only element tree over the source bytes, with offsets,
// built by the strict scanner. It is what Sign and Verify read values from.
type document struct {
	src []byte
	els []element // els[0] is the root
}

type domAttr struct {
	qname []byte
	uri   string
	local []byte
	value []byte
}

// item is one piece of mixed content: a text node (el < 0) or an element.
type item struct {
	el   int32
	text []byte
}

type element struct {
	qname   []byte
	local   []byte
	uri     string
	attrs   []domAttr
	decls   []nsDecl // namespace declarations on this element, in document order
	parent  int32
	kids    []int32 // element children
	content []item  // text and element children in document order
	text    []byte  // direct text children concatenated
	ownText bool    // text is a private copy that may be appended to

	from     int // '<' of the start tag
	startEnd int // just after the start tag
	endFrom  int // '<' of the end tag (== startEnd for <x/>)
	to       int // just after the end tag
}

// parseDocument builds the tree. Text outside the root, comments and
// processing instructions are not kept.
func parseDocument(src []byte) (*document, error) {
	var s scanner
	s.reset(src)
	if err := s.prolog(); err != nil {
		return nil, err
	}
	d := &document{src: src, els: make([]element, 0, 192)}
	var open []int32
	for {
		if err := s.next(); err != nil {
			return nil, err
		}
		switch s.kind {
		case tokEOF:
			return d, nil
		case tokStart:
			e := element{
				qname: s.qname, local: s.local, uri: s.uri,
				parent: -1, from: s.from, startEnd: s.to,
			}
			if len(s.attrs) > 0 {
				e.attrs = make([]domAttr, len(s.attrs))
				for i, a := range s.attrs {
					e.attrs[i] = domAttr{qname: a.qname, uri: a.uri, local: a.local, value: bytes.Clone(a.value)}
				}
			}
			if len(s.decls) > 0 {
				e.decls = append([]nsDecl(nil), s.decls...)
			}
			idx := int32(len(d.els))
			if n := len(open); n > 0 {
				p := open[n-1]
				e.parent = p
				d.els[p].kids = append(d.els[p].kids, idx)
				d.els[p].content = append(d.els[p].content, item{el: idx})
			}
			d.els = append(d.els, e)
			open = append(open, idx)
		case tokEnd:
			e := &d.els[open[len(open)-1]]
			open = open[:len(open)-1]
			e.endFrom, e.to = s.from, s.to
		case tokText:
			if len(open) == 0 {
				continue
			}
			e := &d.els[open[len(open)-1]]
			t := s.text
			if !s.rawText {
				t = bytes.Clone(t)
			}
			e.content = append(e.content, item{el: -1, text: t})
			switch {
			case e.text == nil:
				e.text = t
			case e.ownText:
				e.text = append(e.text, t...)
			default:
				e.text = append(bytes.Clone(e.text), t...)
				e.ownText = true
			}
		}
	}
}

// child returns the first element child of e with the given name, or -1.
func (d *document) child(e int32, uri, local string) int32 {
	if e < 0 {
		return -1
	}
	for _, k := range d.els[e].kids {
		if d.els[k].uri == uri && string(d.els[k].local) == local {
			return k
		}
	}
	return -1
}

// path follows first-match children by (uri, local) pairs.
func (d *document) path(e int32, steps ...string) int32 {
	for i := 0; i+1 < len(steps) && e >= 0; i += 2 {
		e = d.child(e, steps[i], steps[i+1])
	}
	return e
}

// kidsOf returns the element children of e, nil when e < 0.
func (d *document) kidsOf(e int32) []int32 {
	if e < 0 {
		return nil
	}
	return d.els[e].kids
}

// textOf returns the direct text of e, "" when e < 0.
func (d *document) textOf(e int32) string {
	if e < 0 {
		return ""
	}
	return string(d.els[e].text)
}

// attr returns the value of the no-namespace attribute name of e.
func (d *document) attr(e int32, name string) (string, bool) {
	if e < 0 {
		return "", false
	}
	for _, a := range d.els[e].attrs {
		if a.uri == "" && string(a.local) == name {
			return string(a.value), true
		}
	}
	return "", false
}

// isQRReference reports whether e is an AdditionalDocumentReference whose
// cbc:ID reads "QR" (after XPath normalize-space), as invoice.xsl tests it.
func (d *document) isQRReference(e int32) bool {
	if string(d.els[e].local) != "AdditionalDocumentReference" {
		return false
	}
	for _, k := range d.els[e].kids {
		if d.els[k].uri == NSCBC && string(d.els[k].local) == "ID" && string(normalizeSpace(d.els[k].text)) == "QR" {
			return true
		}
	}
	return false
}
