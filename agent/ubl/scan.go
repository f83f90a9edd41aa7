package ubl

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// This file holds a small, strict, allocation-light XML 1.0 + Namespaces
// tokenizer over a byte slice. It exists because the invoice hash needs a
// C14N 1.1 canonicaliser that is fast and byte-exact, and the verifier needs
// byte offsets into the document (the SignedProperties text). It accepts
// UTF-8 only and rejects DOCTYPE declarations (no DTD, no external or
// user-defined entities), which ZATCA documents never carry.

// SyntaxError reports malformed or unsupported XML at a byte offset.
type SyntaxError struct {
	Offset int    // byte offset into the document
	Line   int    // 1-based line number
	Msg    string // what is wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("xml: line %d (byte %d): %s", e.Line, e.Offset, e.Msg)
}

const (
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"

	// maxDepth bounds element nesting; invoices nest about 15 levels.
	maxDepth = 256
	// maxAttrs bounds attributes plus namespace declarations on one
	// element, and maxBindings the namespace declarations in scope, so
	// that hostile input cannot make the checks quadratic.
	maxAttrs    = 256
	maxBindings = 256
)

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokStart
	tokEnd
	tokText // character data or CDATA, decoded
	tokComment
	tokPI
)

// attr is one attribute of the current start tag. Namespace declarations are
// kept apart, in scanner.decls.
type attr struct {
	qname  []byte
	prefix []byte
	local  []byte
	uri    string
	value  []byte // normalised and decoded value
}

// nsDecl is one namespace declaration on the current start tag.
type nsDecl struct {
	prefix string // "" for the default namespace
	uri    string
}

type binding struct {
	prefix string
	uri    string
}

type frame struct {
	qname   []byte
	nsMark  int // len(scanner.ns) before this element's declarations
	tagFrom int // offset of '<' of the start tag
}

// scanner is a pull tokenizer. After next returns, the fields describing the
// current token are valid until the following call.
type scanner struct {
	src []byte
	pos int

	stack    []frame
	ns       []binding
	seenRoot bool
	rootDone bool
	pendEnd  bool // a self-closing tag's end token is due

	// current token
	kind    tokKind
	from    int // offset of the token's first byte
	to      int // offset just after the token
	qname   []byte
	prefix  []byte
	local   []byte
	uri     string
	attrs   []attr
	decls   []nsDecl
	text    []byte // tokText: decoded data; tokPI: data; tokComment: body
	target  []byte // tokPI
	rawText bool   // tokText: text is src bytes unchanged (no references, no CR)

	buf  []byte // scratch for decoded text
	abuf []byte // scratch for decoded attribute values
	aoff [][2]int
}

func (s *scanner) reset(src []byte) {
	s.src = src
	s.pos = 0
	s.stack = s.stack[:0]
	s.ns = s.ns[:0]
	s.seenRoot, s.rootDone, s.pendEnd = false, false, false
}

// release drops every reference into the last document.
func (s *scanner) release() {
	s.src = nil
	clear(s.stack[:cap(s.stack)])
	clear(s.attrs[:cap(s.attrs)])
	s.qname, s.prefix, s.local, s.text, s.target = nil, nil, nil, nil, nil
}

func (s *scanner) errAt(off int, format string, args ...any) error {
	if off > len(s.src) {
		off = len(s.src)
	}
	return &SyntaxError{Offset: off, Line: 1 + bytes.Count(s.src[:off], []byte{'\n'}), Msg: fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// prolog validates the encoding and consumes an optional byte order mark
// and XML declaration. After it, every byte sequence of the document is
// known to be valid UTF-8, so the token loops only look at ASCII bytes and
// at 0xEF (the lead byte of the non-characters U+FFFE and U+FFFF).
func (s *scanner) prolog() error {
	if !utf8.Valid(s.src) {
		i := 0
		for i < len(s.src) {
			r, n := utf8.DecodeRune(s.src[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return s.errAt(i, "invalid UTF-8")
	}
	if bytes.HasPrefix(s.src, []byte("\xEF\xBB\xBF")) {
		s.pos = 3
	}
	rest := s.src[s.pos:]
	if len(rest) < 6 || !bytes.HasPrefix(rest, []byte("<?xml")) || !isSpace(rest[5]) {
		return nil
	}
	end := bytes.Index(rest, []byte("?>"))
	if end < 0 {
		return s.errAt(s.pos, "unterminated XML declaration")
	}
	decl := rest[5:end]
	version, ok := pseudoAttr(decl, "version")
	if !ok {
		return s.errAt(s.pos, "XML declaration without version")
	}
	if version != "1.0" {
		return s.errAt(s.pos, "XML version %q not supported, want 1.0", version)
	}
	if enc, ok := pseudoAttr(decl, "encoding"); ok && !equalFoldASCII(enc, "UTF-8") && !equalFoldASCII(enc, "UTF8") {
		return s.errAt(s.pos, "encoding %q not supported, want UTF-8", enc)
	}
	s.pos += end + 2
	return nil
}

// pseudoAttr reads name="value" or name='value' from an XML declaration.
func pseudoAttr(decl []byte, name string) (string, bool) {
	i := 0
	for i < len(decl) {
		for i < len(decl) && isSpace(decl[i]) {
			i++
		}
		j := i
		for j < len(decl) && decl[j] != '=' && !isSpace(decl[j]) {
			j++
		}
		key := decl[i:j]
		for j < len(decl) && isSpace(decl[j]) {
			j++
		}
		if j >= len(decl) || decl[j] != '=' {
			return "", false
		}
		j++
		for j < len(decl) && isSpace(decl[j]) {
			j++
		}
		if j >= len(decl) || (decl[j] != '"' && decl[j] != '\'') {
			return "", false
		}
		q := decl[j]
		k := bytes.IndexByte(decl[j+1:], q)
		if k < 0 {
			return "", false
		}
		val := decl[j+1 : j+1+k]
		if string(key) == name {
			return string(val), true
		}
		i = j + 1 + k + 1
	}
	return "", false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// next advances to the next token.
func (s *scanner) next() error {
	if s.pendEnd {
		s.pendEnd = false
		return s.popEnd(s.to, s.to)
	}
	s.from = s.pos
	if s.pos >= len(s.src) {
		if len(s.stack) > 0 {
			return s.errAt(s.pos, "unexpected end of document: <%s> is not closed", s.stack[len(s.stack)-1].qname)
		}
		if !s.seenRoot {
			return s.errAt(s.pos, "no root element")
		}
		s.kind = tokEOF
		return nil
	}
	if s.src[s.pos] != '<' {
		return s.charData()
	}
	rest := s.src[s.pos:]
	switch {
	case len(rest) >= 2 && rest[1] == '/':
		return s.endTag()
	case len(rest) >= 2 && rest[1] == '?':
		return s.procInst()
	case bytes.HasPrefix(rest, []byte("<!--")):
		return s.comment()
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		return s.cdata()
	case bytes.HasPrefix(rest, []byte("<!DOCTYPE")):
		return s.errAt(s.pos, "DOCTYPE declarations are not allowed")
	case len(rest) >= 2 && rest[1] == '!':
		return s.errAt(s.pos, "unsupported markup declaration")
	}
	return s.startTag()
}

// charData reads text up to the next '<'. Outside the root element only
// white space is allowed and it is reported as text (callers drop it).
func (s *scanner) charData() error {
	start := s.pos
	end := bytes.IndexByte(s.src[start:], '<')
	if end < 0 {
		end = len(s.src)
	} else {
		end += start
	}
	raw := s.src[start:end]
	if len(s.stack) == 0 {
		for i, c := range raw {
			if !isSpace(c) {
				return s.errAt(start+i, "text outside the root element")
			}
		}
	}
	s.pos = end
	s.kind = tokText
	s.to = end
	return s.decodeText(raw, start, false)
}

// Byte classes of the token loops. Plain bytes need no attention.
const (
	clPlain = iota
	clAmp   // '&'
	clCR    // '\r'
	clGT    // '>'
	clLT    // '<'
	clCtl   // C0 control other than tab, LF, CR
	clEF    // 0xEF: may start U+FFFE or U+FFFF
	clSpace // tab or LF (attribute values normalise them)
	clQuote // '"' (attribute escaping)
	clApos  // '\''
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = clCtl
	}
	t['\t'], t['\n'] = clSpace, clSpace
	t['\r'] = clCR
	t['&'] = clAmp
	t['>'] = clGT
	t['<'] = clLT
	t[0xEF] = clEF
	return t
}()

// textSpecial marks the bytes decodeText must look at.
var textSpecial = func() (t [256]bool) {
	for c, cl := range byteClass {
		t[c] = cl == clAmp || cl == clCR || cl == clGT || cl == clCtl || cl == clEF
	}
	return t
}()

// isNonChar reports whether b starts with U+FFFE or U+FFFF.
func isNonChar(b []byte) bool {
	return len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBF && (b[2] == 0xBE || b[2] == 0xBF)
}

// decodeText validates raw character data and resolves references and line
// ends. If nothing needs changing, s.text aliases the source.
func (s *scanner) decodeText(raw []byte, off int, cdata bool) error {
	clean := true
	for i, c := range raw {
		if !textSpecial[c] {
			continue
		}
		switch byteClass[c] {
		case clAmp:
			if !cdata {
				clean = false
			}
		case clCR:
			clean = false
		case clGT:
			if !cdata && i >= 2 && raw[i-1] == ']' && raw[i-2] == ']' {
				return s.errAt(off+i, "']]>' is not allowed in text")
			}
		case clCtl:
			return s.errAt(off+i, "control character 0x%02X is not allowed", c)
		case clEF:
			if isNonChar(raw[i:]) {
				return s.errAt(off+i, "the non-character U+FFFE or U+FFFF is not allowed")
			}
		}
	}
	s.rawText = clean && !cdata
	if clean {
		s.text = raw
		return nil
	}
	b := s.buf[:0]
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\r':
			b = append(b, '\n')
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
		case c == '&' && !cdata:
			var err error
			var n int
			b, n, err = s.reference(b, raw[i:], off+i)
			if err != nil {
				return err
			}
			i += n
		default:
			j := i + 1
			for j < len(raw) && raw[j] != '\r' && (cdata || raw[j] != '&') {
				j++
			}
			b = append(b, raw[i:j]...)
			i = j
		}
	}
	s.buf = b
	s.text = b
	return nil
}

// reference decodes one entity or character reference at the start of raw,
// appending its replacement text to b.
func (s *scanner) reference(b, raw []byte, off int) ([]byte, int, error) {
	semi := bytes.IndexByte(raw, ';')
	if semi < 0 || semi > 12 {
		return b, 0, s.errAt(off, "unterminated or bad reference")
	}
	name := raw[1:semi]
	switch string(name) {
	case "amp":
		return append(b, '&'), semi + 1, nil
	case "lt":
		return append(b, '<'), semi + 1, nil
	case "gt":
		return append(b, '>'), semi + 1, nil
	case "quot":
		return append(b, '"'), semi + 1, nil
	case "apos":
		return append(b, '\''), semi + 1, nil
	}
	if len(name) < 2 || name[0] != '#' {
		return b, 0, s.errAt(off, "undefined entity &%s;", name)
	}
	var r rune
	digits := name[1:]
	base := rune(10)
	if digits[0] == 'x' {
		base = 16
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return b, 0, s.errAt(off, "empty character reference")
	}
	for _, d := range digits {
		var v rune
		switch {
		case '0' <= d && d <= '9':
			v = rune(d - '0')
		case base == 16 && 'a' <= d && d <= 'f':
			v = rune(d-'a') + 10
		case base == 16 && 'A' <= d && d <= 'F':
			v = rune(d-'A') + 10
		default:
			return b, 0, s.errAt(off, "bad character reference &%s;", name)
		}
		r = r*base + v
		if r > 0x10FFFF {
			return b, 0, s.errAt(off, "character reference &%s; out of range", name)
		}
	}
	if !isXMLChar(r) {
		return b, 0, s.errAt(off, "character reference &%s; is not an XML character", name)
	}
	return utf8.AppendRune(b, r), semi + 1, nil
}

func isXMLChar(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

func (s *scanner) cdata() error {
	if len(s.stack) == 0 {
		return s.errAt(s.pos, "CDATA section outside the root element")
	}
	start := s.pos + len("<![CDATA[")
	end := bytes.Index(s.src[start:], []byte("]]>"))
	if end < 0 {
		return s.errAt(s.pos, "unterminated CDATA section")
	}
	raw := s.src[start : start+end]
	s.pos = start + end + 3
	s.kind = tokText
	s.to = s.pos
	return s.decodeText(raw, start, true)
}

func (s *scanner) comment() error {
	start := s.pos + 4
	end := bytes.Index(s.src[start:], []byte("--"))
	if end < 0 {
		return s.errAt(s.pos, "unterminated comment")
	}
	if start+end+2 >= len(s.src) || s.src[start+end+2] != '>' {
		return s.errAt(start+end, "'--' is not allowed inside a comment")
	}
	body := s.src[start : start+end]
	if err := s.checkChars(body, start); err != nil {
		return err
	}
	s.text = body
	s.pos = start + end + 3
	s.kind = tokComment
	s.to = s.pos
	return nil
}

func (s *scanner) procInst() error {
	start := s.pos + 2
	i := start
	n, err := s.name(i)
	if err != nil {
		return err
	}
	target := s.src[i:n]
	if equalFoldASCII(string(target), "xml") {
		return s.errAt(s.pos, "XML declaration is only allowed at the start of the document")
	}
	if bytes.IndexByte(target, ':') >= 0 {
		return s.errAt(s.pos, "processing instruction target %q contains a colon", target)
	}
	end := bytes.Index(s.src[n:], []byte("?>"))
	if end < 0 {
		return s.errAt(s.pos, "unterminated processing instruction")
	}
	end += n
	data := s.src[n:end]
	if len(data) > 0 {
		if !isSpace(data[0]) {
			return s.errAt(n, "processing instruction target must be followed by white space")
		}
		for len(data) > 0 && isSpace(data[0]) {
			data = data[1:]
		}
	}
	if err := s.checkChars(data, end-len(data)); err != nil {
		return err
	}
	s.target = target
	s.text = data
	if bytes.IndexByte(data, '\r') >= 0 {
		s.buf = appendNormalizedLines(s.buf[:0], data)
		s.text = s.buf
	}
	s.pos = end + 2
	s.kind = tokPI
	s.to = s.pos
	return nil
}

func (s *scanner) checkChars(b []byte, off int) error {
	for i, c := range b {
		switch byteClass[c] {
		case clCtl:
			return s.errAt(off+i, "control character 0x%02X is not allowed", c)
		case clEF:
			if isNonChar(b[i:]) {
				return s.errAt(off+i, "the non-character U+FFFE or U+FFFF is not allowed")
			}
		}
	}
	return nil
}

// name scans an XML Name starting at i and returns the offset after it.
func (s *scanner) name(i int) (int, error) {
	start := i
	src := s.src
	if i < len(src) && nameClass[src[i]]&ncStart != 0 {
		i++
		for i < len(src) && nameClass[src[i]]&ncChar != 0 {
			i++
		}
		if i >= len(src) || src[i] < utf8.RuneSelf {
			return i, nil // all ASCII: the common case
		}
	}
	for i < len(src) {
		c := src[i]
		if c < utf8.RuneSelf {
			if nameClass[c]&ncChar == 0 || (i == start && nameClass[c]&ncStart == 0) {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(src[i:])
		if !isNameRune(r, i == start) {
			break
		}
		i += n
	}
	if i == start {
		return i, s.errAt(i, "expected a name")
	}
	return i, nil
}

// nameClass flags ASCII bytes that may start or continue a name.
const (
	ncStart = 1 << iota
	ncChar
)

var nameClass = func() (t [256]uint8) {
	for c := 0; c < utf8.RuneSelf; c++ {
		if c == ':' || c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') {
			t[c] = ncStart | ncChar
		} else if c == '-' || c == '.' || ('0' <= c && c <= '9') {
			t[c] = ncChar
		}
	}
	return t
}()

// isNameRune implements NameStartChar / NameChar of XML 1.0 (fifth edition)
// for non-ASCII runes.
func isNameRune(r rune, first bool) bool {
	switch {
	case r >= 0xC0 && r <= 0xD6, r >= 0xD8 && r <= 0xF6, r >= 0xF8 && r <= 0x2FF,
		r >= 0x370 && r <= 0x37D, r >= 0x37F && r <= 0x1FFF, r >= 0x200C && r <= 0x200D,
		r >= 0x2070 && r <= 0x218F, r >= 0x2C00 && r <= 0x2FEF, r >= 0x3001 && r <= 0xD7FF,
		r >= 0xF900 && r <= 0xFDCF, r >= 0xFDF0 && r <= 0xFFFD, r >= 0x10000 && r <= 0xEFFFF:
		return true
	}
	if first {
		return false
	}
	return r == 0xB7 || (r >= 0x300 && r <= 0x36F) || (r >= 0x203F && r <= 0x2040)
}

// splitQName splits a name into prefix and local part, enforcing the
// Namespaces in XML rule of at most one colon, not at either end.
func (s *scanner) splitQName(q []byte, off int) (prefix, local []byte, err error) {
	i := bytes.IndexByte(q, ':')
	if i < 0 {
		return nil, q, nil
	}
	if i == 0 || i == len(q)-1 || bytes.IndexByte(q[i+1:], ':') >= 0 {
		return nil, nil, s.errAt(off, "name %q is not a valid qualified name", q)
	}
	local = q[i+1:]
	if c := local[0]; c < utf8.RuneSelf && nameClass[c]&ncStart == 0 {
		return nil, nil, s.errAt(off, "name %q is not a valid qualified name", q)
	}
	return q[:i], local, nil
}

func (s *scanner) skipSpace() bool {
	start := s.pos
	for s.pos < len(s.src) && isSpace(s.src[s.pos]) {
		s.pos++
	}
	return s.pos > start
}

func (s *scanner) startTag() error {
	if s.rootDone {
		return s.errAt(s.pos, "content after the root element")
	}
	if len(s.stack) >= maxDepth {
		return s.errAt(s.pos, "elements nested deeper than %d", maxDepth)
	}
	tagFrom := s.pos
	n, err := s.name(s.pos + 1)
	if err != nil {
		return err
	}
	s.qname = s.src[s.pos+1 : n]
	s.pos = n
	s.attrs = s.attrs[:0]
	s.decls = s.decls[:0]
	s.abuf = s.abuf[:0]
	s.aoff = s.aoff[:0]
	selfClosing := false
	for {
		sp := s.skipSpace()
		if s.pos >= len(s.src) {
			return s.errAt(s.pos, "unexpected end of document in <%s>", s.qname)
		}
		c := s.src[s.pos]
		if c == '>' {
			s.pos++
			break
		}
		if c == '/' {
			if s.pos+1 >= len(s.src) || s.src[s.pos+1] != '>' {
				return s.errAt(s.pos, "expected '/>' in <%s>", s.qname)
			}
			s.pos += 2
			selfClosing = true
			break
		}
		if !sp {
			return s.errAt(s.pos, "expected white space before attribute in <%s>", s.qname)
		}
		if len(s.attrs)+len(s.decls) >= maxAttrs {
			return s.errAt(s.pos, "more than %d attributes on <%s>", maxAttrs, s.qname)
		}
		if err := s.attribute(); err != nil {
			return err
		}
	}
	for i := range s.attrs {
		o := s.aoff[i]
		if o[0] >= 0 {
			s.attrs[i].value = s.abuf[o[0]:o[1]]
		}
	}

	mark := len(s.ns)
	if mark+len(s.decls) > maxBindings {
		return s.errAt(tagFrom, "more than %d namespace declarations in scope at <%s>", maxBindings, s.qname)
	}
	for _, d := range s.decls {
		s.ns = append(s.ns, binding(d))
	}
	prefix, local, err := s.splitQName(s.qname, tagFrom+1)
	if err != nil {
		return err
	}
	if string(prefix) == "xmlns" {
		return s.errAt(tagFrom, "element <%s> uses the reserved prefix xmlns", s.qname)
	}
	s.prefix, s.local = prefix, local
	uri, ok := s.lookup(prefix)
	if !ok {
		return s.errAt(tagFrom, "element <%s>: namespace prefix %q is not declared", s.qname, prefix)
	}
	s.uri = uri
	for i := range s.attrs {
		a := &s.attrs[i]
		p, l, err := s.splitQName(a.qname, tagFrom)
		if err != nil {
			return err
		}
		a.prefix, a.local = p, l
		if len(p) > 0 {
			u, ok := s.lookup(p)
			if !ok {
				return s.errAt(tagFrom, "attribute %s on <%s>: namespace prefix %q is not declared", a.qname, s.qname, p)
			}
			a.uri = u
		} else {
			a.uri = ""
		}
		for j := 0; j < i; j++ {
			b := &s.attrs[j]
			if bytes.Equal(b.qname, a.qname) || (b.uri == a.uri && bytes.Equal(b.local, a.local)) {
				return s.errAt(tagFrom, "duplicate attribute %s on <%s>", a.qname, s.qname)
			}
		}
	}

	s.seenRoot = true
	s.stack = append(s.stack, frame{qname: s.qname, nsMark: mark, tagFrom: tagFrom})
	s.kind = tokStart
	s.from = tagFrom
	s.to = s.pos
	if selfClosing {
		s.pendEnd = true
	}
	return nil
}

func (s *scanner) lookup(prefix []byte) (string, bool) {
	if len(prefix) == 3 && string(prefix) == "xml" {
		return nsXML, true
	}
	for i := len(s.ns) - 1; i >= 0; i-- {
		if s.ns[i].prefix == string(prefix) {
			return s.ns[i].uri, true
		}
	}
	if len(prefix) == 0 {
		return "", true
	}
	return "", false
}

// attribute parses name="value" at s.pos (white space already skipped).
func (s *scanner) attribute() error {
	at := s.pos
	n, err := s.name(s.pos)
	if err != nil {
		return err
	}
	qname := s.src[s.pos:n]
	s.pos = n
	s.skipSpace()
	if s.pos >= len(s.src) || s.src[s.pos] != '=' {
		return s.errAt(s.pos, "attribute %s on <%s>: expected '='", qname, s.qname)
	}
	s.pos++
	s.skipSpace()
	if s.pos >= len(s.src) || (s.src[s.pos] != '"' && s.src[s.pos] != '\'') {
		return s.errAt(s.pos, "attribute %s on <%s>: expected a quoted value", qname, s.qname)
	}
	q := s.src[s.pos]
	vstart := s.pos + 1
	end := bytes.IndexByte(s.src[vstart:], q)
	if end < 0 {
		return s.errAt(at, "attribute %s on <%s>: unterminated value", qname, s.qname)
	}
	raw := s.src[vstart : vstart+end]
	s.pos = vstart + end + 1

	// Normalise (XML 1.0 §3.3.3, CDATA type): each literal white space
	// character becomes a space, CR LF counting as one; references are
	// resolved after that, so &#9; stays a tab.
	clean := true
	for i, c := range raw {
		switch byteClass[c] {
		case clLT:
			return s.errAt(vstart+i, "attribute %s on <%s>: '<' is not allowed in a value", qname, s.qname)
		case clAmp, clSpace, clCR:
			clean = false
		case clCtl:
			return s.errAt(vstart+i, "control character 0x%02X is not allowed", c)
		case clEF:
			if isNonChar(raw[i:]) {
				return s.errAt(vstart+i, "the non-character U+FFFE or U+FFFF is not allowed")
			}
		}
	}
	var value []byte
	off := [2]int{-1, -1}
	if clean {
		value = raw
	} else {
		start := len(s.abuf)
		for i := 0; i < len(raw); {
			c := raw[i]
			switch c {
			case '\r':
				s.abuf = append(s.abuf, ' ')
				i++
				if i < len(raw) && raw[i] == '\n' {
					i++
				}
			case '\t', '\n':
				s.abuf = append(s.abuf, ' ')
				i++
			case '&':
				var n int
				s.abuf, n, err = s.reference(s.abuf, raw[i:], vstart+i)
				if err != nil {
					return err
				}
				i += n
			default:
				s.abuf = append(s.abuf, c)
				i++
			}
		}
		off = [2]int{start, len(s.abuf)}
		value = nil // set from abuf once all attributes are read
	}

	switch {
	case string(qname) == "xmlns":
		v := string(resolveValue(value, s.abuf, off))
		if v == nsXML || v == nsXMLNS {
			return s.errAt(at, "the default namespace cannot be %q", v)
		}
		return s.addDecl("", v, at)
	case len(qname) > 6 && string(qname[:6]) == "xmlns:":
		p := string(qname[6:])
		v := string(resolveValue(value, s.abuf, off))
		if bytes.IndexByte(qname[6:], ':') >= 0 {
			return s.errAt(at, "bad namespace declaration %s", qname)
		}
		switch {
		case p == "xmlns":
			return s.errAt(at, "the prefix xmlns cannot be declared")
		case p == "xml" && v != nsXML, p != "xml" && v == nsXML:
			return s.errAt(at, "the prefix xml is bound to %s only", nsXML)
		case v == nsXMLNS:
			return s.errAt(at, "the namespace %s cannot be bound", nsXMLNS)
		case v == "":
			return s.errAt(at, "namespace prefix %s bound to an empty name", p)
		}
		return s.addDecl(p, v, at)
	}
	s.attrs = append(s.attrs, attr{qname: qname, value: value})
	s.aoff = append(s.aoff, off)
	return nil
}

func resolveValue(value, abuf []byte, off [2]int) []byte {
	if off[0] >= 0 {
		return abuf[off[0]:off[1]]
	}
	return value
}

func (s *scanner) addDecl(prefix, uri string, at int) error {
	for _, d := range s.decls {
		if d.prefix == prefix {
			return s.errAt(at, "duplicate namespace declaration on <%s>", s.qname)
		}
	}
	s.decls = append(s.decls, nsDecl{prefix: prefix, uri: uri})
	return nil
}

func (s *scanner) endTag() error {
	start := s.pos
	// Fast path: the name of the open element, then white space or '>'.
	if k := len(s.stack); k > 0 {
		q := s.stack[k-1].qname
		p := s.pos + 2 + len(q)
		if p < len(s.src) && bytes.HasPrefix(s.src[s.pos+2:], q) && (s.src[p] == '>' || isSpace(s.src[p])) {
			s.pos = p
			s.skipSpace()
			if s.pos < len(s.src) && s.src[s.pos] == '>' {
				s.pos++
				return s.popEnd(start, s.pos)
			}
			s.pos = start
		}
	}
	n, err := s.name(s.pos + 2)
	if err != nil {
		return err
	}
	qname := s.src[s.pos+2 : n]
	s.pos = n
	s.skipSpace()
	if s.pos >= len(s.src) || s.src[s.pos] != '>' {
		return s.errAt(s.pos, "expected '>' to end </%s>", qname)
	}
	s.pos++
	if len(s.stack) == 0 {
		return s.errAt(start, "end tag </%s> without a start tag", qname)
	}
	if top := s.stack[len(s.stack)-1]; !bytes.Equal(top.qname, qname) {
		return s.errAt(start, "end tag </%s> does not match <%s>", qname, top.qname)
	}
	return s.popEnd(start, s.pos)
}

func (s *scanner) popEnd(from, to int) error {
	top := s.stack[len(s.stack)-1]
	s.stack = s.stack[:len(s.stack)-1]
	s.ns = s.ns[:top.nsMark]
	s.kind = tokEnd
	s.qname = top.qname
	s.from = from
	s.to = to
	if len(s.stack) == 0 {
		s.rootDone = true
	}
	return nil
}
