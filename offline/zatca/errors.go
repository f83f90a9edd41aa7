package zatca

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// ErrInvalidRequest marks a request the client refused to send because its input is
// wrong (empty UUID, malformed hash, document too large). Nothing was sent. Wrapped with
// the operation and the field; test with errors.Is.
var ErrInvalidRequest = errors.New("zatca: invalid request")

// ErrInvalidCredentials marks a request the client refused to send because the
// credentials are missing or malformed. Nothing was sent. It is a configuration problem
// of the whole queue, not of the document: DispositionOf says DispositionPauseQueue, so
// no document is dead-lettered for it.
var ErrInvalidCredentials = errors.New("zatca: invalid credentials")

// Disposition is what the caller must do after a failed call (SPEC §2.5).
type Disposition int

const (
	// DispositionRetry: nothing definitive happened (429, 5xx, timeout, network error).
	// Resend the same bytes later with backoff; a later 409 resolves the ambiguity.
	DispositionRetry Disposition = iota + 1
	// DispositionPauseQueue: a configuration or software problem (401, 403, 404, 406,
	// 3xx, other unexpected codes). Stop sending, alert the operator, keep documents pending.
	DispositionPauseQueue
	// DispositionDeadLetter: this request will never succeed as it is (400, 413, invalid
	// input). Do not resend the same bytes; surface it to the operator.
	DispositionDeadLetter
	// DispositionDone: the server says the work was already done (409 outside reporting).
	DispositionDone
)

func (d Disposition) String() string {
	switch d {
	case DispositionRetry:
		return "retry"
	case DispositionPauseQueue:
		return "pause-queue"
	case DispositionDeadLetter:
		return "dead-letter"
	case DispositionDone:
		return "done"
	}
	return fmt.Sprintf("Disposition(%d)", int(d))
}

// APIError is a call that did not produce a usable answer: a transport failure (no
// response; HTTPStatus 0) or an HTTP status the operation does not treat as a result.
type APIError struct {
	// Op names the operation, e.g. "zatca report".
	Op string
	// HTTPStatus is the response status, 0 when no response arrived.
	HTTPStatus int
	// Messages are the codes and messages found in the body ({"errors":[...]},
	// {"code","message"} or validationResults.errorMessages).
	Messages []Message
	// Body is the raw response body (capped).
	Body []byte
	// RetryAfter is the server's Retry-After hint, 0 when absent.
	RetryAfter time.Duration
	// Err is the transport error (timeout, connection reset …), nil when a response arrived.
	Err error
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.HTTPStatus == 0 {
		b.WriteString("no response")
		if e.Timeout() {
			b.WriteString(" (timeout)")
		}
		if e.Err != nil {
			b.WriteString(": ")
			b.WriteString(e.Err.Error())
		}
	} else {
		fmt.Fprintf(&b, "HTTP %d %s", e.HTTPStatus, http.StatusText(e.HTTPStatus))
		for i, m := range e.Messages {
			if i == 3 {
				fmt.Fprintf(&b, " (+%d more)", len(e.Messages)-i)
				break
			}
			b.WriteString("; ")
			if m.Code != "" {
				b.WriteString(m.Code)
				b.WriteString(": ")
			}
			b.WriteString(m.Message)
		}
		if e.Err != nil {
			b.WriteString(": ")
			b.WriteString(e.Err.Error())
		} else if len(e.Messages) == 0 && len(e.Body) > 0 && len(e.Body) <= 200 {
			b.WriteString(": ")
			b.WriteString(strings.TrimSpace(string(e.Body)))
		}
	}
	fmt.Fprintf(&b, " [%s]", e.Disposition())
	return b.String()
}

// Unwrap returns the transport error.
func (e *APIError) Unwrap() error { return e.Err }

// Timeout reports whether no response arrived because a deadline passed.
func (e *APIError) Timeout() bool {
	if e.Err == nil {
		return false
	}
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// HasCode reports whether the body carried the given ZATCA code (e.g. "Invalid-OTP").
func (e *APIError) HasCode(code string) bool {
	for _, m := range e.Messages {
		if m.Code == code {
			return true
		}
	}
	return false
}

// Disposition classifies the failure per SPEC §2.5. A server certificate that does
// not verify is a configuration problem (wrong CA, wrong host), not an outage.
func (e *APIError) Disposition() Disposition {
	if e.HTTPStatus == 0 && e.Err != nil {
		var cve *tls.CertificateVerificationError
		var uae x509.UnknownAuthorityError
		var he x509.HostnameError
		var cie x509.CertificateInvalidError
		if errors.As(e.Err, &cve) || errors.As(e.Err, &uae) || errors.As(e.Err, &he) || errors.As(e.Err, &cie) {
			return DispositionPauseQueue
		}
	}
	return dispositionForStatus(e.HTTPStatus)
}

// Retryable: resend the same bytes later (429, 5xx, timeouts, network errors).
func (e *APIError) Retryable() bool { return e.Disposition() == DispositionRetry }

// PausesQueue: a configuration problem; stop the queue and alert (401, 406 …).
func (e *APIError) PausesQueue() bool { return e.Disposition() == DispositionPauseQueue }

// Permanent: never resend this request as it is (400, 413).
func (e *APIError) Permanent() bool { return e.Disposition() == DispositionDeadLetter }

func dispositionForStatus(code int) Disposition {
	switch {
	case code == 0:
		return DispositionRetry
	case code == http.StatusTooManyRequests, code >= 500:
		return DispositionRetry
	case code == http.StatusBadRequest, code == http.StatusRequestEntityTooLarge,
		code == http.StatusUnprocessableEntity:
		return DispositionDeadLetter
	case code == http.StatusConflict:
		return DispositionDone
	}
	// 401, 403, 404, 405, 406, 3xx and anything unexpected: the client or its
	// configuration is wrong; burning the queue on it would lose documents.
	return DispositionPauseQueue
}

// DispositionOf classifies any error returned by this package: an *APIError by its
// status, ErrInvalidCredentials as DispositionPauseQueue, ErrInvalidRequest as
// DispositionDeadLetter, a cancelled or expired context as
// DispositionRetry. Anything else (nil included) gives 0.
func DispositionOf(err error) Disposition {
	if err == nil {
		return 0
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Disposition()
	}
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		return DispositionPauseQueue
	case errors.Is(err, ErrInvalidRequest):
		return DispositionDeadLetter
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return DispositionRetry
	}
	return 0
}
