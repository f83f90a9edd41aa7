package localapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/posagent/posagent/agent/apitype"
)

// readBody reads a request body of at most limit bytes. A larger body is a 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &apiError{status: http.StatusRequestEntityTooLarge, body: apitype.Error{Code: apitype.CodeBodyTooLarge,
				Message: fmt.Sprintf("the body is larger than %d bytes", limit),
				Fields:  []apitype.FieldError{{Field: "", Rule: apitype.RuleLimit, Message: fmt.Sprintf("at most %d bytes", limit)}}}}
		}
		return nil, invalidRequest("", apitype.RuleJSON, "the body could not be read: "+err.Error())
	}
	return body, nil
}

// decodeStrict decodes a JSON object into v (a pointer to a struct of the apitype
// package): the body must be one UTF-8 JSON object whose keys are v's JSON field names,
// each at most once, with values of the right types, and nothing after it. Every
// failure names its field.
func decodeStrict(body []byte, v any) *apiError {
	if !utf8.Valid(body) {
		return invalidRequest("", apitype.RuleJSON, "the body is not valid UTF-8")
	}
	fields := jsonFields(reflect.TypeOf(v).Elem())
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return invalidRequest("", apitype.RuleJSON, "the body is not JSON: "+syntaxMessage(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return invalidRequest("", apitype.RuleType, "the body must be a JSON object")
	}
	var fe []apitype.FieldError
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return invalidRequest("", apitype.RuleJSON, "the body is not JSON: "+syntaxMessage(err))
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return invalidRequest(key, apitype.RuleJSON, "the body is not JSON: "+syntaxMessage(err))
		}
		switch {
		case !fields[key]:
			fe = append(fe, apitype.FieldError{Field: key, Rule: apitype.RuleUnknownField, Message: "unknown field"})
		case seen[key]:
			fe = append(fe, apitype.FieldError{Field: key, Rule: apitype.RuleJSON, Message: "the field appears more than once"})
		}
		seen[key] = true
	}
	if _, err := dec.Token(); err != nil {
		return invalidRequest("", apitype.RuleJSON, "the body is not JSON: "+syntaxMessage(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalidRequest("", apitype.RuleJSON, fmt.Sprintf("unexpected data after the JSON object at byte %d", dec.InputOffset()))
	}
	if len(fe) > 0 {
		return &apiError{status: http.StatusBadRequest, body: apitype.Error{Code: apitype.CodeInvalidRequest,
			Message: "the body has fields the API does not define", Fields: fe}}
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return invalidRequest(te.Field, apitype.RuleType, fmt.Sprintf("must be a %s, not a JSON %s", kindName(te.Type), te.Value))
		}
		return invalidRequest("", apitype.RuleJSON, "the body could not be decoded: "+err.Error())
	}
	return nil
}

// jsonFields returns the JSON names of a struct's fields.
func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = true
	}
	return out
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "whole number"
	}
	return t.String()
}

// syntaxMessage names the byte offset of a JSON syntax error.
func syntaxMessage(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of the body"
	}
	return err.Error()
}
