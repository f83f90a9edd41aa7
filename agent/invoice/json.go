package invoice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// The strict JSON layer: the body is parsed into a small tree that keeps
// number literals as written (no float64 ever), rejects duplicate keys and
// deep nesting, and then walked field by field so that every failure names
// its JSON path.

const (
	maxDepth     = 16 // nesting of objects and arrays
	maxIntDigits = 15 // integer digits of an amount or quantity
	maxFracDigit = 10 // fraction digits of an amount or quantity
)

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jObject
	jArray
)

func (k jkind) String() string {
	switch k {
	case jNull:
		return "null"
	case jBool:
		return "boolean"
	case jNumber:
		return "number"
	case jString:
		return "string"
	case jObject:
		return "object"
	default:
		return "array"
	}
}

type jnode struct {
	kind  jkind
	text  string // string value, or number literal exactly as written
	b     bool
	keys  []string
	vals  []*jnode
	elems []*jnode
}

// get returns the member named key of an object node, or nil.
func (n *jnode) get(key string) *jnode {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// present reports whether a member exists and is not JSON null: null is
// treated as absent for every optional field.
func present(n *jnode) bool { return n != nil && n.kind != jNull }

// parseJSON parses one JSON value filling the whole of data.
func parseJSON(data []byte, limit int) (*jnode, error) {
	if len(data) > limit {
		return nil, &ValidationError{Errors: []FieldError{{Rule: RuleJSON,
			Message: fmt.Sprintf("body is %d bytes; the limit is %d", len(data), limit)}}}
	}
	if !utf8.Valid(data) {
		return nil, &ValidationError{Errors: []FieldError{{Rule: RuleJSON, Message: "body is not valid UTF-8"}}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := parser{dec: dec}
	tok, err := dec.Token()
	if err != nil {
		return nil, p.syntax(err)
	}
	root, err := p.value(tok, 0, "")
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &ValidationError{Errors: []FieldError{{Rule: RuleJSON,
			Message: fmt.Sprintf("unexpected data after the JSON value at byte %d", dec.InputOffset())}}}
	}
	return root, nil
}

type parser struct {
	dec *json.Decoder
}

func (p *parser) syntax(err error) error {
	msg := err.Error()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		msg = fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())
	} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "malformed JSON: unexpected end of input"
	}
	return &ValidationError{Errors: []FieldError{{Rule: RuleJSON, Message: msg}}}
}

func (p *parser) value(tok json.Token, depth int, path string) (*jnode, error) {
	switch t := tok.(type) {
	case nil:
		return &jnode{kind: jNull}, nil
	case bool:
		return &jnode{kind: jBool, b: t}, nil
	case json.Number:
		return &jnode{kind: jNumber, text: string(t)}, nil
	case string:
		return &jnode{kind: jString, text: t}, nil
	case json.Delim:
		if depth >= maxDepth {
			return nil, &ValidationError{Errors: []FieldError{{Field: path, Rule: RuleJSON,
				Message: fmt.Sprintf("nesting deeper than %d levels", maxDepth)}}}
		}
		if t == '{' {
			return p.object(depth, path)
		}
		if t == '[' {
			return p.array(depth, path)
		}
	}
	return nil, &ValidationError{Errors: []FieldError{{Rule: RuleJSON,
		Message: fmt.Sprintf("malformed JSON at byte %d", p.dec.InputOffset())}}}
}

func (p *parser) object(depth int, path string) (*jnode, error) {
	n := &jnode{kind: jObject}
	var seen map[string]bool // duplicate check without quadratic cost on hostile input
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, p.syntax(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, p.syntax(fmt.Errorf("object key is not a string"))
		}
		if seen == nil {
			seen = make(map[string]bool)
		}
		if seen[key] {
			return nil, &ValidationError{Errors: []FieldError{{Field: join(path, key), Rule: RuleJSON,
				Message: fmt.Sprintf("duplicate key %q in one object", key)}}}
		}
		tok, err = p.dec.Token()
		if err != nil {
			return nil, p.syntax(err)
		}
		v, err := p.value(tok, depth+1, join(path, key))
		if err != nil {
			return nil, err
		}
		seen[key] = true
		n.keys = append(n.keys, key)
		n.vals = append(n.vals, v)
	}
	if _, err := p.dec.Token(); err != nil { // '}'
		return nil, p.syntax(err)
	}
	return n, nil
}

func (p *parser) array(depth int, path string) (*jnode, error) {
	n := &jnode{kind: jArray}
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, p.syntax(err)
		}
		v, err := p.value(tok, depth+1, index(path, len(n.elems)))
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, v)
	}
	if _, err := p.dec.Token(); err != nil { // ']'
		return nil, p.syntax(err)
	}
	return n, nil
}

// walker turns a parsed tree into typed values, recording every failure
// with its path.
type walker struct {
	e errs
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// object checks that n is an object whose members are all in allowed.
func (w *walker) object(n *jnode, path string, allowed ...string) bool {
	if n.kind != jObject {
		w.e.add(path, RuleType, "must be an object, not "+n.kind.String())
		return false
	}
	for _, k := range n.keys {
		known := false
		for _, a := range allowed {
			if k == a {
				known = true
				break
			}
		}
		if !known {
			w.e.add(join(path, k), RuleUnknownField, "unknown field")
		}
	}
	return true
}

// text reads an optional string member; ok is false when it is absent or
// of the wrong type (the latter recorded).
func (w *walker) text(obj *jnode, path, key string) (string, bool) {
	n := obj.get(key)
	if !present(n) {
		return "", false
	}
	if n.kind != jString {
		w.e.add(join(path, key), RuleType, "must be a string, not "+n.kind.String())
		return "", false
	}
	return n.text, true
}

// code reads an optional code given either as a JSON string or a JSON
// number ("388" or 388), returning its literal text.
func (w *walker) code(obj *jnode, path, key string) (string, bool) {
	n := obj.get(key)
	if !present(n) {
		return "", false
	}
	if n.kind != jString && n.kind != jNumber {
		w.e.add(join(path, key), RuleType, "must be a string or a number, not "+n.kind.String())
		return "", false
	}
	return n.text, true
}

func (w *walker) boolean(obj *jnode, path, key string) bool {
	n := obj.get(key)
	if !present(n) {
		return false
	}
	if n.kind != jBool {
		w.e.add(join(path, key), RuleType, "must be true or false, not "+n.kind.String())
		return false
	}
	return n.b
}

// number reads an optional amount or quantity given as a JSON string or a
// JSON number, parsed exactly. Exponent notation is refused.
func (w *walker) number(obj *jnode, path, key string) *decimal.Decimal {
	n := obj.get(key)
	if !present(n) {
		return nil
	}
	p := join(path, key)
	if n.kind != jString && n.kind != jNumber {
		w.e.add(p, RuleType, "must be a decimal number (JSON string or number), not "+n.kind.String())
		return nil
	}
	d, msg := parseDecimal(n.text)
	if msg != "" {
		w.e.add(p, RuleType, msg)
		return nil
	}
	return &d
}

// parseDecimal accepts -?digits[.digits] with bounded length, so that a
// hostile value cannot blow up the arithmetic.
func parseDecimal(s string) (decimal.Decimal, string) {
	body := s
	if len(body) > 0 && body[0] == '-' {
		body = body[1:]
	}
	intPart, frac, hasDot := body, "", false
	for i := 0; i < len(body); i++ {
		if body[i] == '.' {
			intPart, frac, hasDot = body[:i], body[i+1:], true
			break
		}
	}
	if intPart == "" || (hasDot && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return decimal.Decimal{}, fmt.Sprintf("%q is not a plain decimal number (digits, optional '.', no exponent)", s)
	}
	if len(intPart) > maxIntDigits || len(frac) > maxFracDigit {
		return decimal.Decimal{}, fmt.Sprintf("%q has too many digits (at most %d before and %d after the point)", s, maxIntDigits, maxFracDigit)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Sprintf("%q is not a decimal number", s)
	}
	return d, ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
