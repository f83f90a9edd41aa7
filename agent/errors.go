package agent

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/posagent/posagent/agent/apitype"
)

// Sentinel errors. The socket API maps them (and the typed errors below) to HTTP
// answers; callers classify with errors.Is and errors.As, never by message.
var (
	// ErrNotOnboarded: there is no production CSID yet.
	ErrNotOnboarded = errors.New("agent: not onboarded")
	// ErrNotFound: no document matches.
	ErrNotFound = errors.New("agent: not found")
	// ErrBusy: an onboarding or renewal is already running.
	ErrBusy = errors.New("agent: onboarding already running")
	// ErrNoPrinter: no printer is configured.
	ErrNoPrinter = errors.New("agent: no printer configured")
	// ErrExportForbidden: the export path is outside the configured export root.
	ErrExportForbidden = errors.New("agent: export path not allowed")
)

// NotReadyError refuses a sale while the agent cannot sign correctly.
type NotReadyError struct {
	Reasons []apitype.Reason
}

func (e *NotReadyError) Error() string {
	parts := make([]string, len(e.Reasons))
	for i, r := range e.Reasons {
		parts[i] = r.Code + ": " + r.Message
	}
	return "agent not ready: " + strings.Join(parts, "; ")
}

// Has reports whether the refusal carries the reason code.
func (e *NotReadyError) Has(code string) bool {
	for _, r := range e.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

// IdempotencyError: a request reused an idempotency key for a different document.
type IdempotencyError struct {
	Key    string
	Stored string // what the key names: type and total of the stored document
	Got    string
}

func (e *IdempotencyError) Error() string {
	return "idempotency key " + e.Key + " was used for " + e.Stored + ", this request is " + e.Got
}

// InputError is a request the agent refuses on a field the invoice rules do not cover
// (a note's original invoice that does not exist, a document type on the wrong route).
type InputError struct {
	Fields []apitype.FieldError
}

func (e *InputError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Rule + " " + f.Message
	}
	return "agent: invalid input: " + strings.Join(parts, "; ")
}

func inputError(field, rule, msg string) *InputError {
	return &InputError{Fields: []apitype.FieldError{{Field: field, Rule: rule, Message: msg}}}
}

// OnboardError is a failed onboarding or renewal: the step that failed and why, with
// the steps done before it. The stamping key and credentials in force are unchanged.
type OnboardError struct {
	Step  string
	Steps []apitype.OnboardStep
	// NotCompliant: a compliance check failed (ZATCA found errors in a document).
	NotCompliant bool
	// Messages are ZATCA's validation messages of a failed compliance check.
	Messages []apitype.Message
	Err      error
}

func (e *OnboardError) Error() string { return "onboarding: " + e.Step + ": " + e.Err.Error() }

func (e *OnboardError) Unwrap() error { return e.Err }

// mustJSON marshals audit details; they are built from plain values only.
func mustJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{"marshal_error":true}`)
	}
	return b
}
