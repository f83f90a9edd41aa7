// Package client is the Go client of posagent's local socket API, for POS integrators
// and posctl. It owns the transport (HTTP over the unix socket), the session token, and
// turning error answers into *APIError with IsX helpers; the wire types are
// agent/apitype's.
//
// It imports only the standard library and agent/apitype and links no cgo, so a POS
// application can import it without a C toolchain.
//
// A zero Client talks to apitype.DefaultSocketPath without a session. A sale:
//
//	c := &client.Client{Socket: "/run/posagent/posagent.sock"}
//	if _, err := c.Login(ctx, "17", pin); err != nil { … }
//	doc, err := c.Sale(ctx, saleJSON) // retry with the same idempotency_key on failure
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/posagent/posagent/agent/apitype"
)

// Client calls the API. Set its fields before the first call; it is then safe for
// concurrent use (Login and Logout change Token).
type Client struct {
	// Socket is the unix socket path; empty means apitype.DefaultSocketPath.
	Socket string
	// Dial replaces the socket dialer (the network and address it is given are those
	// of the socket).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Transport replaces the whole HTTP transport (Socket and Dial are then unused).
	Transport http.RoundTripper

	mu    sync.Mutex
	token string

	once sync.Once
	hc   *http.Client
}

// Token returns the session token in use.
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// SetToken uses a session token obtained earlier (e.g. kept in a file by posctl).
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

func (c *Client) httpClient() *http.Client {
	c.once.Do(func() {
		tr := c.Transport
		if tr == nil {
			sock := c.Socket
			if sock == "" {
				sock = apitype.DefaultSocketPath
			}
			dial := c.Dial
			if dial == nil {
				var d net.Dialer
				dial = d.DialContext
			}
			tr = &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return dial(ctx, "unix", sock)
				},
				MaxIdleConns:    4,
				IdleConnTimeout: 30 * time.Second,
			}
		}
		c.hc = &http.Client{Transport: tr}
	})
	return c.hc
}

// APIError is an error answer of the API: the HTTP status and the JSON error body.
type APIError struct {
	Status            int // HTTP status
	Code              string
	Message           string
	Fields            []apitype.FieldError
	Reasons           []apitype.Reason
	RetryAfterSeconds int
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "posagent: %s (HTTP %d): %s", e.Code, e.Status, e.Message)
	for _, f := range e.Fields {
		if f.Field != "" {
			fmt.Fprintf(&b, "; %s: %s %s", f.Field, f.Rule, f.Message)
		} else if f.Message != e.Message {
			fmt.Fprintf(&b, "; %s %s", f.Rule, f.Message)
		}
	}
	return b.String()
}

// HasCode reports whether err is an *APIError with that code.
func HasCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

// IsUnauthenticated: no session, an unknown token, or an expired session: log in.
func IsUnauthenticated(err error) bool {
	return HasCode(err, apitype.CodeUnauthenticated) || HasCode(err, apitype.CodeSessionExpired)
}

// IsNotReady: the agent refuses to sign for now (see the Reasons); retry later with the
// same idempotency key.
func IsNotReady(err error) bool {
	return HasCode(err, apitype.CodeNotReady) || HasCode(err, apitype.CodeClockWentBack)
}

// IsInvalid: the request body breaks a rule (see the Fields); do not retry as is.
func IsInvalid(err error) bool {
	return HasCode(err, apitype.CodeInvalidSale) || HasCode(err, apitype.CodeInvalidRequest) || HasCode(err, apitype.CodeBodyTooLarge)
}

// IsForbidden: the session's role (or the process) may not do this.
func IsForbidden(err error) bool {
	return HasCode(err, apitype.CodeForbidden) || HasCode(err, apitype.CodePeerNotAllowed)
}

// IsPINChangeRequired: the session must change its default PIN first.
func IsPINChangeRequired(err error) bool { return HasCode(err, apitype.CodePINChange) }

// IsLockedOut: too many wrong PINs; RetryAfterSeconds says when to try again.
func IsLockedOut(err error) bool { return HasCode(err, apitype.CodeLockedOut) }

// IsNotFound: no such document, cashier or endpoint.
func IsNotFound(err error) bool { return HasCode(err, apitype.CodeNotFound) }

// do sends one request. in is JSON-encoded unless it is a []byte (sent as is); out
// receives the JSON answer ([]byte pointer: the raw body).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("posagent %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://posagent"+path, body)
	if err != nil {
		return fmt.Errorf("posagent %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if t := c.Token(); t != "" {
		req.Header.Set(apitype.SessionHeader, apitype.BearerPrefix+t)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("posagent %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("posagent %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var body apitype.Error
		if err := json.Unmarshal(raw, &body); err != nil || body.Code == "" {
			body = apitype.Error{Code: apitype.CodeInternal, Message: strings.TrimSpace(string(raw))}
		}
		return &APIError{Status: resp.StatusCode, Code: body.Code, Message: body.Message, Fields: body.Fields,
			Reasons: body.Reasons, RetryAfterSeconds: body.RetryAfterSeconds}
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte:
		*o = raw
		return nil
	default:
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("posagent %s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}

// Login opens a session; the client uses its token from then on. With a default PIN,
// the session may only change the PIN (Session.MustChangePIN).
func (c *Client) Login(ctx context.Context, cashier, pin string) (*apitype.Session, error) {
	var s apitype.Session
	if err := c.do(ctx, http.MethodPost, "/v1/login", apitype.LoginRequest{Cashier: cashier, PIN: pin}, &s); err != nil {
		return nil, err
	}
	c.SetToken(s.Token)
	return &s, nil
}

// Logout ends the session.
func (c *Client) Logout(ctx context.Context) error {
	err := c.do(ctx, http.MethodPost, "/v1/logout", nil, nil)
	if err == nil {
		c.SetToken("")
	}
	return err
}

// Session describes the current session.
func (c *Client) Session(ctx context.Context) (*apitype.Session, error) {
	var s apitype.Session
	return &s, c.do(ctx, http.MethodGet, "/v1/session", nil, &s)
}

// ChangePIN replaces the session cashier's PIN.
func (c *Client) ChangePIN(ctx context.Context, current, next string) error {
	return c.do(ctx, http.MethodPost, "/v1/session/pin", apitype.ChangePINRequest{PIN: current, NewPIN: next}, nil)
}

// Sale issues a simplified tax invoice (388) from a sale body: JSON bytes as
// agent/invoice defines them, or any value that marshals to it. A repeated
// idempotency_key returns the stored document (Replayed).
func (c *Client) Sale(ctx context.Context, sale any) (*apitype.Document, error) {
	return c.document(ctx, http.MethodPost, "/v1/sales", sale)
}

// Return issues a credit note (381) for an invoice of this or another terminal of the
// same seller (supervisor).
func (c *Client) Return(ctx context.Context, sale any) (*apitype.Document, error) {
	return c.document(ctx, http.MethodPost, "/v1/returns", sale)
}

// Debit issues a debit note (383) for an invoice of this or another terminal of the
// same seller.
func (c *Client) Debit(ctx context.Context, sale any) (*apitype.Document, error) {
	return c.document(ctx, http.MethodPost, "/v1/debits", sale)
}

// Reprint prints a document (by UUID or invoice number) again (marked COPY when it
// was printed before).
func (c *Client) Reprint(ctx context.Context, uuid string) (*apitype.Document, error) {
	return c.document(ctx, http.MethodPost, "/v1/documents/"+url.PathEscape(uuid)+"/reprint", nil)
}

// Document returns a document by UUID or invoice number.
func (c *Client) Document(ctx context.Context, uuid string) (*apitype.Document, error) {
	return c.document(ctx, http.MethodGet, "/v1/documents/"+url.PathEscape(uuid), nil)
}

// DocumentByICV returns a document by its ICV.
func (c *Client) DocumentByICV(ctx context.Context, icv uint64) (*apitype.Document, error) {
	return c.document(ctx, http.MethodGet, "/v1/documents?icv="+strconv.FormatUint(icv, 10), nil)
}

// DocumentByKey returns the document issued for an idempotency key.
func (c *Client) DocumentByKey(ctx context.Context, key string) (*apitype.Document, error) {
	return c.document(ctx, http.MethodGet, "/v1/documents?key="+url.QueryEscape(key), nil)
}

func (c *Client) document(ctx context.Context, method, path string, in any) (*apitype.Document, error) {
	var d apitype.Document
	if err := c.do(ctx, method, path, in, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// DocumentXML returns the exact signed XML of a document.
func (c *Client) DocumentXML(ctx context.Context, uuid string) ([]byte, error) {
	var b []byte
	return b, c.do(ctx, http.MethodGet, "/v1/documents/"+url.PathEscape(uuid)+"/xml", nil, &b)
}

// Status returns the agent's readiness and state.
func (c *Client) Status(ctx context.Context) (*apitype.Status, error) {
	var s apitype.Status
	return &s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// Stats returns the reporting figures; month is YYYY-MM or "" for every month.
func (c *Client) Stats(ctx context.Context, month string) (*apitype.Stats, error) {
	var s apitype.Stats
	path := "/v1/stats"
	if month != "" {
		path += "?month=" + url.QueryEscape(month)
	}
	return &s, c.do(ctx, http.MethodGet, path, nil, &s)
}

// DeadLetters lists the documents ZATCA rejected (supervisor).
func (c *Client) DeadLetters(ctx context.Context) ([]apitype.DeadLetter, error) {
	var l apitype.DeadLetterList
	return l.DeadLetters, c.do(ctx, http.MethodGet, "/v1/deadletters", nil, &l)
}

// CorrectDeadLetter issues a corrected sale as a new document replacing the rejected
// document ref (UUID or invoice number) (supervisor).
func (c *Client) CorrectDeadLetter(ctx context.Context, ref string, sale any) (*apitype.Document, error) {
	return c.document(ctx, http.MethodPost, "/v1/deadletters/"+url.PathEscape(ref)+"/correct", sale)
}

// ResendDeadLetter sends the rejected document ref again as the same bytes; reason is
// audited (supervisor).
func (c *Client) ResendDeadLetter(ctx context.Context, ref, reason string) (*apitype.Document, error) {
	return c.document(ctx, http.MethodPost, "/v1/deadletters/"+url.PathEscape(ref)+"/resend", apitype.ResendRequest{Reason: reason})
}

// Onboard registers the terminal with ZATCA using an OTP from the Fatoora portal (admin).
func (c *Client) Onboard(ctx context.Context, otp string) (*apitype.OnboardResult, error) {
	var r apitype.OnboardResult
	return &r, c.do(ctx, http.MethodPost, "/v1/onboard", apitype.OnboardRequest{OTP: otp}, &r)
}

// Renew renews the production CSID with a new key and an OTP (admin).
func (c *Client) Renew(ctx context.Context, otp string) (*apitype.OnboardResult, error) {
	var r apitype.OnboardResult
	return &r, c.do(ctx, http.MethodPost, "/v1/renew", apitype.OnboardRequest{OTP: otp}, &r)
}

// Cashiers lists the cashier accounts (admin).
func (c *Client) Cashiers(ctx context.Context) ([]apitype.Cashier, error) {
	var l apitype.CashierList
	return l.Cashiers, c.do(ctx, http.MethodGet, "/v1/cashiers", nil, &l)
}

// AddCashier creates a cashier with a default PIN to be changed at first login (admin).
func (c *Client) AddCashier(ctx context.Context, req apitype.AddCashierRequest) (*apitype.Cashier, error) {
	var out apitype.Cashier
	return &out, c.do(ctx, http.MethodPost, "/v1/cashiers", req, &out)
}

// ResetPIN gives a cashier a new default PIN and lifts a lockout (admin).
func (c *Client) ResetPIN(ctx context.Context, id, pin string) (*apitype.Cashier, error) {
	var out apitype.Cashier
	return &out, c.do(ctx, http.MethodPut, "/v1/cashiers/"+url.PathEscape(id)+"/pin", apitype.ResetPINRequest{PIN: pin}, &out)
}

// Verify checks the whole journal (admin).
func (c *Client) Verify(ctx context.Context) (*apitype.VerifyResult, error) {
	var r apitype.VerifyResult
	return &r, c.do(ctx, http.MethodPost, "/v1/verify", nil, &r)
}

// Export writes documents, manifest and audit log under the daemon's export root (admin).
func (c *Client) Export(ctx context.Context, req apitype.ExportRequest) (*apitype.ExportResult, error) {
	var r apitype.ExportResult
	return &r, c.do(ctx, http.MethodPost, "/v1/export", req, &r)
}
