package invoice

import (
	"strings"
)

// Local rule IDs for failures no ZATCA rule covers (input format, limits).
// ZATCA failures carry the rule ID the ZATCA validator raises (BR-…).
const (
	RuleJSON         = "POS-JSON"          // malformed body: syntax, encoding, size, trailing data
	RuleUnknownField = "POS-UNKNOWN-FIELD" // a field the API does not define
	RuleType         = "POS-TYPE"          // a value of the wrong JSON type or format
	RuleRequired     = "POS-REQUIRED"      // a field the API needs that no ZATCA rule names
	RuleText         = "POS-TEXT"          // text with characters XML cannot carry, or blank
	RuleLimit        = "POS-LIMIT"         // a value beyond what this agent accepts
	RuleNotes        = "POS-NOTES"         // notes_details on a plain invoice (388)
	RulePrice        = "POS-PRICE"         // both tax-exclusive and tax-inclusive price given
)

// FieldError is one validation failure: the JSON path of the offending field
// (e.g. "lineitems[2].tax_percentage", 0-based indexes; "" for the body as a
// whole), the rule ID the ZATCA validator would raise (or a local POS-* ID),
// and a human-readable message. Its JSON form is stable: the socket API
// returns it as is.
type FieldError struct {
	Field   string `json:"field"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Error renders "field: RULE message".
func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Rule + " " + e.Message
	}
	return e.Field + ": " + e.Rule + " " + e.Message
}

// ValidationError carries every field failure of one sale or seller profile,
// in the order the fields appear. Nothing was computed when it is returned.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

// Error joins all field errors with "; ".
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invoice: invalid input: ")
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Has reports whether a failure with this field path and rule ID is present.
func (e *ValidationError) Has(field, rule string) bool {
	for _, fe := range e.Errors {
		if fe.Field == field && fe.Rule == rule {
			return true
		}
	}
	return false
}

// errs collects field errors while walking an input.
type errs struct {
	list []FieldError
}

func (c *errs) add(field, rule, msg string) {
	c.list = append(c.list, FieldError{Field: field, Rule: rule, Message: msg})
}

func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return &ValidationError{Errors: c.list}
}
