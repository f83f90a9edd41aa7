package zatca

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Message is one entry of ZATCA's infoMessages / warningMessages / errorMessages, or of
// an {"errors":[{"code","message"}]} body.
type Message struct {
	Type     string `json:"type,omitempty"`
	Code     string `json:"code,omitempty"`
	Category string `json:"category,omitempty"`
	Message  string `json:"message,omitempty"`
	Status   string `json:"status,omitempty"`
}

// ValidationResults is ZATCA's validationResults object (SPEC §2.4).
type ValidationResults struct {
	Info     []Message `json:"infoMessages"`
	Warnings []Message `json:"warningMessages"`
	Errors   []Message `json:"errorMessages"`
	// Status is "PASS", "WARNING" or "ERROR" as sent.
	Status string `json:"status"`
}

// HasCode reports whether any warning or error carries code.
func (v ValidationResults) HasCode(code string) bool {
	for _, m := range v.Warnings {
		if m.Code == code {
			return true
		}
	}
	for _, m := range v.Errors {
		if m.Code == code {
			return true
		}
	}
	return false
}

// UnmarshalJSON parses leniently: infoMessages (and the other lists) may be an array, a
// single object or null; the error list may be spelt errorMessages or erroMessages (both
// are merged); unknown fields are ignored.
func (v *ValidationResults) UnmarshalJSON(b []byte) error {
	var raw struct {
		Info     json.RawMessage `json:"infoMessages"`
		Warnings json.RawMessage `json:"warningMessages"`
		Errors   json.RawMessage `json:"errorMessages"`
		Erro     json.RawMessage `json:"erroMessages"`
		Status   json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var out ValidationResults
	var err error
	if out.Info, err = messageList(raw.Info); err != nil {
		return fmt.Errorf("infoMessages: %w", err)
	}
	if out.Warnings, err = messageList(raw.Warnings); err != nil {
		return fmt.Errorf("warningMessages: %w", err)
	}
	if out.Errors, err = messageList(raw.Errors); err != nil {
		return fmt.Errorf("errorMessages: %w", err)
	}
	more, err := messageList(raw.Erro)
	if err != nil {
		return fmt.Errorf("erroMessages: %w", err)
	}
	out.Errors = append(out.Errors, more...)
	out.Status = looseString(raw.Status)
	*v = out
	return nil
}

// messageList accepts null, a single object or an array of objects.
func messageList(b json.RawMessage) ([]Message, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil, nil
	}
	switch b[0] {
	case '[':
		var raws []json.RawMessage
		if err := json.Unmarshal(b, &raws); err != nil {
			return nil, err
		}
		out := make([]Message, 0, len(raws))
		for _, r := range raws {
			m, ok, err := oneMessage(r)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, m)
			}
		}
		return out, nil
	case '{':
		m, ok, err := oneMessage(b)
		if err != nil || !ok {
			return nil, err
		}
		return []Message{m}, nil
	case '"':
		// A bare string: keep it as a message.
		return []Message{{Message: looseString(b)}}, nil
	}
	return nil, fmt.Errorf("unexpected JSON %.20q", b)
}

func oneMessage(b json.RawMessage) (Message, bool, error) {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return Message{}, false, nil
	}
	if len(b) > 0 && b[0] == '"' {
		return Message{Message: looseString(b)}, true, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return Message{}, false, err
	}
	return Message{
		Type:     looseString(raw["type"]),
		Code:     looseString(raw["code"]),
		Category: looseString(raw["category"]),
		Message:  looseString(raw["message"]),
		Status:   looseString(raw["status"]),
	}, true, nil
}

// looseString turns a JSON string, number, bool or null into a Go string.
func looseString(b json.RawMessage) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return ""
	}
	if b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) == nil {
			return s
		}
		return ""
	}
	if b[0] == '{' || b[0] == '[' {
		return ""
	}
	return string(b)
}

// invoiceResponse is the body of reporting, clearance and compliance checks.
type invoiceResponse struct {
	ValidationResults *ValidationResults `json:"validationResults"`
	ReportingStatus   json.RawMessage    `json:"reportingStatus"`
	ClearanceStatus   json.RawMessage    `json:"clearanceStatus"`
	ClearedInvoice    json.RawMessage    `json:"clearedInvoice"`
}

// csidResponse is the body of /compliance and /production/csids.
type csidResponse struct {
	RequestID           json.RawMessage `json:"requestID"`
	DispositionMessage  json.RawMessage `json:"dispositionMessage"`
	TokenType           json.RawMessage `json:"tokenType"`
	BinarySecurityToken json.RawMessage `json:"binarySecurityToken"`
	Secret              json.RawMessage `json:"secret"`
}

// errorMessages pulls every code/message it can find out of an error body:
// {"errors":[...]}, {"code","message"}, {"validationResults":{...}} or
// {"message": "..."}. A non-JSON body gives nil.
func errorMessages(body []byte) []Message {
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return nil
	}
	var out []Message
	if e, ok := raw["errors"]; ok {
		if l, err := messageList(e); err == nil {
			out = append(out, l...)
		}
	}
	if vr, ok := raw["validationResults"]; ok {
		var v ValidationResults
		if json.Unmarshal(vr, &v) == nil {
			out = append(out, v.Errors...)
		}
	}
	if code := looseString(raw["code"]); code != "" || looseString(raw["message"]) != "" {
		msg := looseString(raw["message"])
		if msg == "" {
			msg = looseString(raw["error"])
		}
		out = append(out, Message{Code: code, Message: msg})
	}
	return out
}

// requestIDString renders requestID whether it came as a number or a string.
func requestIDString(b json.RawMessage) string {
	s := looseString(b)
	if s == "" {
		return ""
	}
	// Numbers written with exponents (a client-side float round trip) are normalised.
	b = bytes.TrimSpace(b)
	if b[0] == '"' || !bytes.ContainsAny(b, "eE.") {
		return s
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return s
}
