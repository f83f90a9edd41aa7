package offline

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/posagent/posagent/offline/zatca"
	"github.com/posagent/posagent/store"
)

// verdict is one reporting answer, classified per SPEC §2.5, with what the
// attempt records.
type verdict struct {
	outcome    store.Outcome
	httpStatus int
	body       []byte
	warnings   []store.Message
	errors     []store.Message
	transport  string        // the transport error when no answer came
	retryAfter time.Duration // the server's hint (429, 503)
	reason     string        // why the queue pauses (paused only)
}

// classify maps an Uploader's answer to an outcome. It looks only at
// types: zatca.ReportStatus for definitive answers, ErrNoCredentials and
// zatca.DispositionOf for errors.
func classify(res *zatca.ReportResult, err error) verdict {
	if err == nil {
		if res == nil {
			return verdict{outcome: store.OutcomeRetry, transport: "the uploader returned neither an answer nor an error"}
		}
		v := verdict{
			httpStatus: res.HTTPStatus,
			body:       res.Raw,
			warnings:   messages(res.ValidationResults.Warnings, "WARNING"),
			errors:     messages(res.ValidationResults.Errors, "ERROR"),
		}
		switch res.Status {
		case zatca.Reported:
			v.outcome = store.OutcomeReported
		case zatca.ReportedWithWarnings:
			v.outcome = store.OutcomeReportedWithWarnings
		case zatca.AlreadyReported:
			v.outcome = store.OutcomeAlreadyReported
		case zatca.Rejected:
			v.outcome = store.OutcomeRejected
			if len(v.errors) == 0 {
				// A dead letter always carries a reason for the operator.
				v.errors = []store.Message{{Type: "ERROR", Code: "http-" + strconv.Itoa(res.HTTPStatus),
					Message: clipText(string(res.Raw), 1000)}}
			}
		default:
			v.outcome = store.OutcomeRetry
			v.transport = fmt.Sprintf("unknown report status %v", res.Status)
		}
		return v
	}

	var v verdict
	var ae *zatca.APIError
	if errors.As(err, &ae) {
		v.httpStatus = ae.HTTPStatus
		v.body = ae.Body
		v.errors = messages(ae.Messages, "ERROR")
		v.retryAfter = ae.RetryAfter
	}
	if v.httpStatus == 0 {
		v.transport = err.Error()
	}
	if errors.Is(err, ErrNoCredentials) {
		v.outcome = store.OutcomePaused
		v.reason = err.Error()
		return v
	}
	switch zatca.DispositionOf(err) {
	case zatca.DispositionPauseQueue:
		v.outcome = store.OutcomePaused
		v.reason = pauseReason(v.httpStatus, v.errors)
	case zatca.DispositionDeadLetter:
		v.outcome = store.OutcomeRejected
		if len(v.errors) == 0 {
			code := "invalid-request"
			if v.httpStatus != 0 {
				code = "http-" + strconv.Itoa(v.httpStatus)
			}
			v.errors = []store.Message{{Type: "ERROR", Code: code, Message: clipText(err.Error(), 1000)}}
		}
	case zatca.DispositionDone:
		v.outcome = store.OutcomeAlreadyReported
	default: // retry, and anything unknown: at-least-once means try again later
		v.outcome = store.OutcomeRetry
	}
	return v
}

func pauseReason(status int, msgs []store.Message) string {
	var why string
	switch status {
	case http.StatusUnauthorized:
		why = "ZATCA refused the credentials (HTTP 401)"
	case http.StatusNotAcceptable:
		why = "ZATCA refused the API version (HTTP 406)"
	default:
		why = fmt.Sprintf("ZATCA answered HTTP %d %s", status, http.StatusText(status))
	}
	for _, m := range msgs {
		if m.Message != "" {
			return why + ": " + clipText(m.Message, 200)
		}
	}
	return why
}

// messages converts ZATCA's messages for the journal, which requires a
// code on each: an uncoded message gets "uncoded".
func messages(in []zatca.Message, typ string) []store.Message {
	if len(in) == 0 {
		return nil
	}
	out := make([]store.Message, 0, len(in))
	for _, m := range in {
		sm := store.Message{Type: m.Type, Code: m.Code, Category: m.Category, Message: m.Message, Status: m.Status}
		if sm.Code == "" {
			sm.Code = "uncoded"
		}
		if sm.Type == "" {
			sm.Type = typ
		}
		out = append(out, sm)
	}
	return out
}

// clipText shortens s to at most n bytes without splitting a UTF-8
// sequence.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xc0 == 0x80 {
		i--
	}
	return s[:i]
}
