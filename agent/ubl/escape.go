package ubl

// escapes maps each byte that must be escaped to its character reference; bytes
// mapped to "" are written as they are. One table per context the package writes.
type escapes [256]string

func newEscapes(pairs ...string) *escapes {
	var e escapes
	for i := 0; i < len(pairs); i += 2 {
		e[pairs[i][0]] = pairs[i+1]
	}
	return &e
}

var (
	// escText is character data as this package writes it and as dom4j writes it:
	// &, < and > escaped.
	escText = newEscapes("&", "&amp;", "<", "&lt;", ">", "&gt;")
	// escC14NText is character data in C14N form: also CR as &#xD;.
	escC14NText = newEscapes("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#xD;")
	// escC14NAttr is an attribute value in C14N form: &, <, " and the whitespace
	// characters an attribute-value normaliser would otherwise change. The builder
	// writes attributes in this form too, so they are canonical as written.
	escC14NAttr = newEscapes("&", "&amp;", "<", "&lt;", `"`, "&quot;", "\t", "&#x9;", "\n", "&#xA;", "\r", "&#xD;")
	// escDom4jAttr is an attribute value as dom4j's asXML writes it.
	escDom4jAttr = newEscapes("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
)

// appendEscaped appends s to out with the bytes e maps replaced by their references.
func appendEscaped[T string | []byte](out []byte, s T, e *escapes) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		if ref := e[s[i]]; ref != "" {
			out = append(out, s[last:i]...)
			out = append(out, ref...)
			last = i + 1
		}
	}
	return append(out, s[last:]...)
}
