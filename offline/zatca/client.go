package zatca

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits.
const (
	// MaxDocumentBytes is the largest signed XML the client sends. ZATCA refuses bodies
	// above about 10 MB with 413 (SPEC §2.3); base64 grows the XML by 4/3.
	MaxDocumentBytes = 7 << 20
	// DefaultTimeout is the per-request deadline (SPEC §2.5: 60–90 s).
	DefaultTimeout = 75 * time.Second
	// DefaultMaxResponseBytes caps how much of a response body is read.
	DefaultMaxResponseBytes = 16 << 20
)

// Config configures a Client. Start from DefaultConfig.
type Config struct {
	// Environment selects the base URL. Custom needs BaseURL.
	Environment Environment
	// BaseURL is the base URL for Custom (e.g. "https://127.0.0.1:8443"). It must be
	// https unless the host is a loopback address. Ignored for the ZATCA environments.
	BaseURL string
	// Timeout bounds every request (connect to last byte), unless the caller's context
	// expires earlier.
	Timeout time.Duration
	// CACertPEM, when set, replaces the system roots: only these CAs are trusted.
	CACertPEM []byte
	// Language is sent as Accept-Language: "en" or "ar".
	Language string
	// MaxResponseBytes caps response bodies.
	MaxResponseBytes int64
}

// DefaultConfig is the production environment, a 75 s timeout, English messages.
func DefaultConfig() Config {
	return Config{
		Environment:      Production,
		Timeout:          DefaultTimeout,
		Language:         "en",
		MaxResponseBytes: DefaultMaxResponseBytes,
	}
}

// Validate returns an error naming the first bad field.
func (c Config) Validate() error {
	if !c.Environment.Valid() {
		return fmt.Errorf("zatca config: Environment %q is not sandbox, simulation, production or custom", c.Environment)
	}
	if c.Environment == Custom {
		if err := checkCustomURL(c.BaseURL); err != nil {
			return fmt.Errorf("zatca config: BaseURL: %w", err)
		}
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("zatca config: Timeout must be positive, got %v", c.Timeout)
	}
	if c.Language != "en" && c.Language != "ar" {
		return fmt.Errorf("zatca config: Language must be \"en\" or \"ar\", got %q", c.Language)
	}
	if c.MaxResponseBytes <= 0 {
		return fmt.Errorf("zatca config: MaxResponseBytes must be positive, got %d", c.MaxResponseBytes)
	}
	if len(c.CACertPEM) > 0 {
		if !x509.NewCertPool().AppendCertsFromPEM(c.CACertPEM) {
			return errors.New("zatca config: CACertPEM holds no PEM certificate")
		}
	}
	return nil
}

func checkCustomURL(s string) error {
	if s == "" {
		return errors.New("required for the custom environment")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q must be scheme://host[:port][/path] without query or fragment", s)
	}
	switch u.Scheme {
	case "https":
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("%q: plain http is allowed only to a loopback address", s)
		}
	default:
		return fmt.Errorf("%q: scheme must be https (or http to loopback)", s)
	}
	return nil
}

// Client calls ZATCA's EGS API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string
	hc   *http.Client
	log  *slog.Logger
}

// New returns a client for cfg. A nil logger discards logs.
func New(cfg Config, logger *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base := cfg.Environment.BaseURL()
	if cfg.Environment == Custom {
		base = cfg.BaseURL
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cfg.CACertPEM) > 0 {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(cfg.CACertPEM)
		tlsCfg.RootCAs = pool
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   20 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &Client{
		cfg:  cfg,
		base: strings.TrimRight(base, "/"),
		hc: &http.Client{
			Transport: tr,
			// ZATCA answers 303 on clearance for simplified documents; that is an
			// answer, not a redirect to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		log: logger,
	}, nil
}

// BaseURL returns the base URL requests go to.
func (c *Client) BaseURL() string { return c.base }

// CloseIdleConnections closes idle keep-alive connections.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// Document is what reporting, clearance and compliance checks send (SPEC §2.3): the
// invoice hash (base64 of the raw SHA-256, 44 characters), the document's cbc:UUID and
// the exact signed XML bytes, sent base64-encoded and never re-serialised.
type Document struct {
	UUID        string
	InvoiceHash string
	XML         []byte
}

func (d Document) validate(op string) error {
	if strings.TrimSpace(d.UUID) == "" {
		return fmt.Errorf("%s: document uuid is empty: %w", op, ErrInvalidRequest)
	}
	raw, err := base64.StdEncoding.DecodeString(d.InvoiceHash)
	if err != nil || len(raw) != 32 {
		return fmt.Errorf("%s: document invoiceHash %q is not base64 of 32 bytes: %w", op, d.InvoiceHash, ErrInvalidRequest)
	}
	if len(d.XML) == 0 {
		return fmt.Errorf("%s: document XML is empty: %w", op, ErrInvalidRequest)
	}
	if len(d.XML) > MaxDocumentBytes {
		return fmt.Errorf("%s: document XML is %d bytes, above the %d-byte limit: %w", op, len(d.XML), MaxDocumentBytes, ErrInvalidRequest)
	}
	return nil
}

// body encodes {"invoiceHash","uuid","invoice"} in one buffer: the XML is base64
// encoded straight into it (base64 needs no JSON escaping), one copy instead of three.
func (d Document) body() json.RawMessage {
	hash, _ := json.Marshal(d.InvoiceHash)
	uuid, _ := json.Marshal(d.UUID)
	n := base64.StdEncoding.EncodedLen(len(d.XML))
	b := make([]byte, 0, len(hash)+len(uuid)+n+40)
	b = append(b, `{"invoiceHash":`...)
	b = append(b, hash...)
	b = append(b, `,"uuid":`...)
	b = append(b, uuid...)
	b = append(b, `,"invoice":"`...)
	b = b[:len(b)+n]
	base64.StdEncoding.Encode(b[len(b)-n:], d.XML)
	return append(b, `"}`...)
}

// request is one HTTP exchange.
type request struct {
	op       string
	method   string
	path     string
	creds    *Credentials
	otp      string
	body     any
	headers  map[string]string
	redacted bool // the response carries a secret: never keep its body in errors
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *Client) do(ctx context.Context, r request) (*response, error) {
	payload, ok := r.body.(json.RawMessage)
	if !ok {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return nil, fmt.Errorf("%s: encode body: %w", r.op, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+r.path, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.op, err)
	}
	req.Header.Set("Accept-Version", "V2")
	req.Header.Set("Accept-Language", c.cfg.Language)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	if r.otp != "" {
		// Sent with ZATCA's spelling; header names are case-insensitive anyway.
		req.Header["OTP"] = []string{r.otp}
	}
	for k, v := range r.headers {
		req.Header[k] = []string{v}
	}
	if r.creds != nil {
		// The token is used verbatim as the username (SPEC §0.1 item 7).
		req.SetBasicAuth(r.creds.Token, r.creds.Secret)
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.log.Debug("zatca request failed", "op", r.op, "path", r.path, "err", err, "dur", time.Since(start))
		return nil, &APIError{Op: r.op, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes))
	if err != nil {
		c.log.Debug("zatca response read failed", "op", r.op, "status", resp.StatusCode, "err", err)
		return nil, &APIError{Op: r.op, Err: fmt.Errorf("read response (HTTP %d): %w", resp.StatusCode, err)}
	}
	c.log.Debug("zatca request", "op", r.op, "path", r.path, "status", resp.StatusCode, "dur", time.Since(start))
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// apiError builds the error for a response the operation does not accept.
func (r *response) apiError(op string, redacted bool) *APIError {
	e := &APIError{Op: op, HTTPStatus: r.status, Messages: errorMessages(r.body)}
	if !redacted {
		e.Body = r.body
		if len(e.Body) > 4096 {
			e.Body = e.Body[:4096]
		}
	}
	if ra := r.header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(strings.TrimSpace(ra)); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			if d := time.Until(t); d > 0 {
				e.RetryAfter = d
			}
		}
	}
	return e
}

// ---------------------------------------------------------------------------------
// Onboarding

// CSIDResult is a compliance or production CSID as issued.
type CSIDResult struct {
	HTTPStatus int
	// RequestID identifies the issuance; the compliance requestID is what POST
	// /production/csids needs. Kept as text whether ZATCA sent a number or a string.
	RequestID string
	// DispositionMessage is "ISSUED", or "NOT_COMPLIANT" on a 428 renewal.
	DispositionMessage string
	TokenType          string
	Credentials        Credentials
}

// NotCompliant reports a renewal answered with 428 NOT_COMPLIANT: Credentials then hold
// a compliance CSID with which the compliance checks must be passed again before
// ProductionCSID can issue the new production CSID.
func (r *CSIDResult) NotCompliant() bool {
	return r.HTTPStatus == http.StatusPreconditionRequired || r.DispositionMessage == "NOT_COMPLIANT"
}

func csrBody(op string, csrPEM []byte) (any, error) {
	if len(bytes.TrimSpace(csrPEM)) == 0 {
		return nil, fmt.Errorf("%s: CSR is empty: %w", op, ErrInvalidRequest)
	}
	if !bytes.Contains(csrPEM, []byte("-----BEGIN CERTIFICATE REQUEST-----")) {
		return nil, fmt.Errorf("%s: CSR must be PEM text with its BEGIN CERTIFICATE REQUEST header: %w", op, ErrInvalidRequest)
	}
	// The csr field is base64 of the whole PEM text (SPEC §0.1 item 8).
	return struct {
		CSR string `json:"csr"`
	}{base64.StdEncoding.EncodeToString(csrPEM)}, nil
}

func checkOTP(op, otp string) error {
	if len(otp) == 0 {
		return fmt.Errorf("%s: OTP is empty: %w", op, ErrInvalidRequest)
	}
	for _, r := range otp {
		if r < '0' || r > '9' {
			return fmt.Errorf("%s: OTP %q must be digits only: %w", op, otp, ErrInvalidRequest)
		}
	}
	return nil
}

func parseCSID(op string, r *response) (*CSIDResult, error) {
	var w csidResponse
	if err := json.Unmarshal(r.body, &w); err != nil {
		return nil, &APIError{Op: op, HTTPStatus: r.status, Err: fmt.Errorf("decode CSID response: %w", err)}
	}
	res := &CSIDResult{
		HTTPStatus:         r.status,
		RequestID:          requestIDString(w.RequestID),
		DispositionMessage: looseString(w.DispositionMessage),
		TokenType:          looseString(w.TokenType),
		Credentials: Credentials{
			Token:  looseString(w.BinarySecurityToken),
			Secret: looseString(w.Secret),
		},
	}
	if err := res.Credentials.Validate(); err != nil {
		return nil, &APIError{Op: op, HTTPStatus: r.status, Err: fmt.Errorf("CSID response: %w", err)}
	}
	return res, nil
}

// ComplianceCSID requests a compliance CSID: POST /compliance with the OTP from the
// Fatoora portal and the CSR as PEM text.
func (c *Client) ComplianceCSID(ctx context.Context, otp string, csrPEM []byte) (*CSIDResult, error) {
	const op = "zatca compliance csid"
	if err := checkOTP(op, otp); err != nil {
		return nil, err
	}
	body, err := csrBody(op, csrPEM)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/compliance", otp: otp, body: body, redacted: true})
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, resp.apiError(op, true)
	}
	return parseCSID(op, resp)
}

// ProductionCSID exchanges a compliance CSID whose compliance checks have passed for a
// production CSID: POST /production/csids, authenticated with the compliance CSID.
func (c *Client) ProductionCSID(ctx context.Context, compliance Credentials, complianceRequestID string) (*CSIDResult, error) {
	const op = "zatca production csid"
	if err := compliance.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if strings.TrimSpace(complianceRequestID) == "" {
		return nil, fmt.Errorf("%s: compliance requestID is empty: %w", op, ErrInvalidRequest)
	}
	body := struct {
		ID string `json:"compliance_request_id"`
	}{complianceRequestID}
	resp, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/production/csids", creds: &compliance, body: body, redacted: true})
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, resp.apiError(op, true)
	}
	return parseCSID(op, resp)
}

// RenewProductionCSID renews a production CSID: PATCH /production/csids with the
// current production CSID, an OTP and a CSR for a NEW key. A 200 returns the new
// production CSID. A 428 is not an error: the result has NotCompliant() true and
// carries a compliance CSID to pass the compliance checks with, followed by
// ProductionCSID.
func (c *Client) RenewProductionCSID(ctx context.Context, current Credentials, otp string, csrPEM []byte) (*CSIDResult, error) {
	const op = "zatca renew csid"
	if err := current.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := checkOTP(op, otp); err != nil {
		return nil, err
	}
	body, err := csrBody(op, csrPEM)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodPatch, path: "/production/csids", creds: &current, otp: otp, body: body, redacted: true})
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK && resp.status != http.StatusPreconditionRequired {
		return nil, resp.apiError(op, true)
	}
	return parseCSID(op, resp)
}

// ---------------------------------------------------------------------------------
// Documents

// ReportStatus is the outcome of a reporting call.
type ReportStatus int

const (
	// Reported: 200, REPORTED.
	Reported ReportStatus = iota + 1
	// ReportedWithWarnings: 202 (or 200 with warnings); keep and surface the warnings.
	ReportedWithWarnings
	// AlreadyReported: 409, an earlier attempt was committed. Success.
	AlreadyReported
	// Rejected: 400, NOT_REPORTED. Never resend these bytes; the document keeps its
	// ICV/PIH slot.
	Rejected
)

func (s ReportStatus) String() string {
	switch s {
	case Reported:
		return "reported"
	case ReportedWithWarnings:
		return "reported-with-warnings"
	case AlreadyReported:
		return "already-reported"
	case Rejected:
		return "rejected"
	}
	return fmt.Sprintf("ReportStatus(%d)", int(s))
}

// Accepted reports whether ZATCA holds the document (Reported, ReportedWithWarnings or
// AlreadyReported).
func (s ReportStatus) Accepted() bool {
	return s == Reported || s == ReportedWithWarnings || s == AlreadyReported
}

// ReportResult is a definitive reporting answer (200, 202, 409 or 400).
type ReportResult struct {
	HTTPStatus int
	Status     ReportStatus
	// ReportingStatus is the body's reportingStatus ("REPORTED", "NOT_REPORTED").
	ReportingStatus   string
	ValidationResults ValidationResults
	// Raw is the response body as received, for the journal.
	Raw []byte
}

// Report sends a simplified document to POST /invoices/reporting/single with the
// production CSID (header Clearance-Status: 0). A definitive answer (200, 202, 409,
// 400) is a *ReportResult with a nil error; anything else is an *APIError.
func (c *Client) Report(ctx context.Context, creds Credentials, doc Document) (*ReportResult, error) {
	const op = "zatca report"
	if err := creds.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := doc.validate(op); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/invoices/reporting/single",
		creds: &creds, body: doc.body(), headers: map[string]string{"Clearance-Status": "0"}})
	if err != nil {
		return nil, err
	}
	var st ReportStatus
	switch resp.status {
	case http.StatusOK:
		st = Reported
	case http.StatusAccepted:
		st = ReportedWithWarnings
	case http.StatusConflict:
		st = AlreadyReported
	case http.StatusBadRequest:
		st = Rejected
	default:
		return nil, resp.apiError(op, false)
	}
	res := &ReportResult{HTTPStatus: resp.status, Status: st, Raw: resp.body}
	var w invoiceResponse
	if err := json.Unmarshal(resp.body, &w); err != nil {
		// The status code is the answer; a body we cannot read does not change it.
		c.log.Warn("zatca report: undecodable response body", "status", resp.status, "err", err)
	} else {
		if w.ValidationResults != nil {
			res.ValidationResults = *w.ValidationResults
		}
		res.ReportingStatus = looseString(w.ReportingStatus)
	}
	if st == Reported && len(res.ValidationResults.Warnings) > 0 {
		res.Status = ReportedWithWarnings
	}
	return res, nil
}

// ComplianceResult is the answer of a compliance check (POST /compliance/invoices).
type ComplianceResult struct {
	HTTPStatus int
	// Passed: the document counts as a passed compliance step (2xx, no errors).
	Passed bool
	// ReportingStatus (simplified) or ClearanceStatus (standard) as sent.
	ReportingStatus   string
	ClearanceStatus   string
	ValidationResults ValidationResults
	Raw               []byte
}

// ComplianceCheck submits a document signed with the compliance CSID's key to POST
// /compliance/invoices. 200, 202 and 400 are results; anything else is an *APIError.
func (c *Client) ComplianceCheck(ctx context.Context, compliance Credentials, doc Document) (*ComplianceResult, error) {
	const op = "zatca compliance check"
	if err := compliance.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := doc.validate(op); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/compliance/invoices", creds: &compliance, body: doc.body()})
	if err != nil {
		return nil, err
	}
	switch resp.status {
	case http.StatusOK, http.StatusAccepted, http.StatusBadRequest:
	default:
		return nil, resp.apiError(op, false)
	}
	res := &ComplianceResult{HTTPStatus: resp.status, Raw: resp.body}
	var w invoiceResponse
	if err := json.Unmarshal(resp.body, &w); err != nil {
		return nil, &APIError{Op: op, HTTPStatus: resp.status, Body: resp.body, Err: fmt.Errorf("decode response: %w", err)}
	}
	if w.ValidationResults == nil {
		// Without validationResults the answer says nothing about the document.
		return nil, &APIError{Op: op, HTTPStatus: resp.status, Body: resp.body, Err: errors.New("response has no validationResults")}
	}
	res.ValidationResults = *w.ValidationResults
	res.ReportingStatus = looseString(w.ReportingStatus)
	res.ClearanceStatus = looseString(w.ClearanceStatus)
	res.Passed = resp.status != http.StatusBadRequest && len(res.ValidationResults.Errors) == 0 &&
		res.ValidationResults.Status != "ERROR"
	return res, nil
}

// ClearanceStatus is the outcome of a clearance call.
type ClearanceStatus int

const (
	// Cleared: 200 (or 202 with warnings), CLEARED, with the stamped invoice.
	Cleared ClearanceStatus = iota + 1
	// ClearedWithWarnings: 202.
	ClearedWithWarnings
	// AlreadyCleared: 208 "Invoice Hash Previously Submitted".
	AlreadyCleared
	// NotCleared: 400.
	NotCleared
)

func (s ClearanceStatus) String() string {
	switch s {
	case Cleared:
		return "cleared"
	case ClearedWithWarnings:
		return "cleared-with-warnings"
	case AlreadyCleared:
		return "already-cleared"
	case NotCleared:
		return "not-cleared"
	}
	return fmt.Sprintf("ClearanceStatus(%d)", int(s))
}

// ClearanceResult is a definitive clearance answer.
type ClearanceResult struct {
	HTTPStatus        int
	Status            ClearanceStatus
	ClearanceStatus   string
	ValidationResults ValidationResults
	// ClearedInvoice is the ZATCA-stamped XML (decoded), when sent.
	ClearedInvoice []byte
	Raw            []byte
}

// Clear sends a standard document to POST /invoices/clearance/single (Clearance-Status:
// 1). The POS never clears; this exists for completeness. 303 (clearance deactivated,
// use reporting) is an *APIError that pauses the queue.
func (c *Client) Clear(ctx context.Context, creds Credentials, doc Document) (*ClearanceResult, error) {
	const op = "zatca clear"
	if err := creds.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := doc.validate(op); err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/invoices/clearance/single",
		creds: &creds, body: doc.body(), headers: map[string]string{"Clearance-Status": "1"}})
	if err != nil {
		return nil, err
	}
	var st ClearanceStatus
	switch resp.status {
	case http.StatusOK:
		st = Cleared
	case http.StatusAccepted:
		st = ClearedWithWarnings
	case http.StatusAlreadyReported:
		st = AlreadyCleared
	case http.StatusBadRequest:
		st = NotCleared
	default:
		return nil, resp.apiError(op, false)
	}
	res := &ClearanceResult{HTTPStatus: resp.status, Status: st, Raw: resp.body}
	var w invoiceResponse
	if err := json.Unmarshal(resp.body, &w); err == nil {
		if w.ValidationResults != nil {
			res.ValidationResults = *w.ValidationResults
		}
		res.ClearanceStatus = looseString(w.ClearanceStatus)
		if s := looseString(w.ClearedInvoice); s != "" {
			xml, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, &APIError{Op: op, HTTPStatus: resp.status, Body: resp.body, Err: fmt.Errorf("clearedInvoice is not base64: %w", err)}
			}
			res.ClearedInvoice = xml
		}
	}
	return res, nil
}
