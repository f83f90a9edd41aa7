// Package apitype owns the wire types of posagent's local socket API (HTTP/JSON over a
// unix socket, versioned under /v1): request and response bodies, the one JSON error
// shape with its stable codes, the role names and the route table shared by the server
// (agent/localapi) and the Go client (agent/client).
//
// It imports only the standard library (no cgo), so POS integrators can vendor it with
// agent/client. It must not import any other posagent package.
package apitype

import "time"

// DefaultSocketPath is where posagentd listens unless configured otherwise.
const DefaultSocketPath = "/run/posagent/posagent.sock"

// SessionHeader carries the session token: "Authorization: Bearer <token>".
const SessionHeader = "Authorization"

// BearerPrefix precedes the token in SessionHeader.
const BearerPrefix = "Bearer "

// Body limits the server enforces (bytes). A larger body gets 413 body_too_large.
const (
	MaxSaleBody    = 1 << 20 // sales, returns and debit notes
	MaxRequestBody = 16 << 10
)

// Role is what a session may do. Roles are ordered: a supervisor may do everything a
// cashier may, an admin everything a supervisor may.
type Role string

// Roles.
const (
	RoleCashier    Role = "cashier"    // sales, debit notes, reprints, reading documents and status
	RoleSupervisor Role = "supervisor" // + returns (credit notes), dead letters
	RoleAdmin      Role = "admin"      // + onboarding, renewal, cashier management, verify, export
)

// Rank orders roles; an unknown role ranks 0.
func (r Role) Rank() int {
	switch r {
	case RoleCashier:
		return 1
	case RoleSupervisor:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r.Rank() > 0 }

// Allows reports whether a session with role r may perform an action needing need.
func (r Role) Allows(need Role) bool { return r.Valid() && r.Rank() >= need.Rank() }

// Routes of API version 1, as stdlib ServeMux patterns.
const (
	RouteLogin       = "POST /v1/login"
	RouteLogout      = "POST /v1/logout"
	RouteSession     = "GET /v1/session"
	RouteChangePIN   = "POST /v1/session/pin"
	RouteSales       = "POST /v1/sales"
	RouteReturns     = "POST /v1/returns"
	RouteDebits      = "POST /v1/debits"
	RouteDocument    = "GET /v1/documents/{uuid}"
	RouteDocumentXML = "GET /v1/documents/{uuid}/xml"
	RouteReprint     = "POST /v1/documents/{uuid}/reprint"
	RouteFindDoc     = "GET /v1/documents" // ?icv=N or ?key=K
	RouteStatus      = "GET /v1/status"
	RouteStats       = "GET /v1/stats"
	RouteDeadLetters = "GET /v1/deadletters"
	RouteCorrectDL   = "POST /v1/deadletters/{uuid}/correct"
	RouteResendDL    = "POST /v1/deadletters/{uuid}/resend"
	RouteOnboard     = "POST /v1/onboard"
	RouteRenew       = "POST /v1/renew"
	RouteCashiers    = "GET /v1/cashiers"
	RouteAddCashier  = "POST /v1/cashiers"
	RouteResetPIN    = "PUT /v1/cashiers/{id}/pin"
	RouteVerify      = "POST /v1/verify"
	RouteExport      = "POST /v1/export"
)

// ---------------------------------------------------------------------------------
// Errors

// Error is the body of every non-2xx answer.
type Error struct {
	// Code is stable: clients branch on it (see the Code constants).
	Code string `json:"code"`
	// Message is for people; it may change between versions.
	Message string `json:"message"`
	// Fields lists the offending fields of a request body, when the error is about
	// the body (code invalid_request or invalid_sale).
	Fields []FieldError `json:"fields,omitempty"`
	// Reasons lists why the agent is not ready (code not_ready).
	Reasons []Reason `json:"reasons,omitempty"`
	// RetryAfterSeconds is set with locked_out: when the cashier may try again.
	RetryAfterSeconds int `json:"retry_after_seconds,omitempty"`
}

// FieldError names one field of a request body, the rule it breaks (a ZATCA rule ID
// such as BR-KSA-84, or one of the Rule constants) and a message.
type FieldError struct {
	Field   string `json:"field"` // JSON path, e.g. "lineitems[2].tax_percentage"; "" for the whole body
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Local rule IDs of field errors no ZATCA rule covers (the same IDs agent/invoice uses).
const (
	RuleJSON         = "POS-JSON"          // malformed body: syntax, encoding, size, trailing data
	RuleUnknownField = "POS-UNKNOWN-FIELD" // a field the API does not define
	RuleType         = "POS-TYPE"          // a value of the wrong JSON type or format
	RuleRequired     = "POS-REQUIRED"      // a required field is missing or empty
	RuleLimit        = "POS-LIMIT"         // a value beyond what the agent accepts
	RuleValue        = "POS-VALUE"         // a value outside the allowed set
)

// Error codes.
const (
	CodeInvalidRequest   = "invalid_request"      // 400: malformed body, unknown or wrong-typed field (Fields)
	CodeInvalidSale      = "invalid_sale"         // 400: the sale breaks ZATCA or POS rules (Fields)
	CodeBodyTooLarge     = "body_too_large"       // 413
	CodeUnauthenticated  = "unauthenticated"      // 401: no or unknown session token
	CodeSessionExpired   = "session_expired"      // 401: the session timed out
	CodeBadCredentials   = "bad_credentials"      // 401: wrong cashier or PIN
	CodeLockedOut        = "locked_out"           // 429: too many wrong PINs; RetryAfterSeconds
	CodePINChange        = "pin_change_required"  // 403: the session may only change its PIN
	CodeForbidden        = "forbidden"            // 403: the role does not allow the action
	CodePeerNotAllowed   = "peer_not_allowed"     // 403: the connecting process's uid/gid is not allowed
	CodeNotFound         = "not_found"            // 404
	CodeMethodNotAllowed = "method_not_allowed"   // 405
	CodeConflict         = "conflict"             // 409: e.g. cashier exists, onboarding already running
	CodeIdempotency      = "idempotency_conflict" // 409: the key was used for a different document
	CodeNotReady         = "not_ready"            // 503: sales refused until ready (Reasons)
	CodeClockWentBack    = "clock_went_back"      // 503: the clock reads earlier than the last document
	CodeStorageFull      = "storage_full"         // 507
	CodeZATCA            = "zatca_error"          // 502: ZATCA (or the network) failed during onboarding
	CodeNotCompliant     = "not_compliant"        // 502: a compliance check failed during onboarding
	CodeInternal         = "internal"             // 500
)

// Reason is one cause of not being ready.
type Reason struct {
	Code    string `json:"code"` // see the Reason constants
	Message string `json:"message"`
}

// Reasons the agent refuses to sign.
const (
	ReasonNotOnboarded   = "not_onboarded"   // no production CSID yet: run onboarding
	ReasonKeyUnavailable = "key_unavailable" // the stamping key cannot be unsealed or does not match the CSID
	ReasonCSIDExpired    = "csid_expired"    // the production CSID is past its validity: renew
	ReasonCSIDRevoked    = "csid_revoked"    // ZATCA refused the CSID (401): onboard again
	ReasonClockInsane    = "clock_not_sane"  // the clock is not plausible (before the floor, unset)
	ReasonClockBack      = "clock_went_back" // the clock reads earlier than the last document
	ReasonJournal        = "journal_error"   // the journal cannot be read
	ReasonStarting       = "starting"        // the agent has not finished its start checks
)

// ---------------------------------------------------------------------------------
// Sessions and cashiers

// LoginRequest is the body of POST /v1/login.
type LoginRequest struct {
	Cashier string `json:"cashier"`
	PIN     string `json:"pin"`
}

// Session describes a session (the answer of login and of GET /v1/session).
type Session struct {
	Token     string    `json:"token,omitempty"` // only in the login answer
	Cashier   string    `json:"cashier"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"` // the idle deadline, moved by every request
	// MustChangePIN: the PIN is a default (new or reset) PIN; until it is changed the
	// session may only call POST /v1/session/pin and POST /v1/logout.
	MustChangePIN bool `json:"must_change_pin"`
}

// ChangePINRequest is the body of POST /v1/session/pin.
type ChangePINRequest struct {
	PIN    string `json:"pin"`     // the current PIN
	NewPIN string `json:"new_pin"` // 4-12 digits, not the current one
}

// Cashier is a cashier account as listed (never with its PIN).
type Cashier struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Role          Role       `json:"role"`
	MustChangePIN bool       `json:"must_change_pin"`
	FailedLogins  int        `json:"failed_logins"`
	LockedUntil   *time.Time `json:"locked_until,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	PINChangedAt  time.Time  `json:"pin_changed_at"`
}

// AddCashierRequest is the body of POST /v1/cashiers. The PIN is a default PIN: the
// cashier must change it at first login.
type AddCashierRequest struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role Role   `json:"role"`
	PIN  string `json:"pin"`
}

// ResetPINRequest is the body of PUT /v1/cashiers/{id}/pin: a new default PIN (to be
// changed at the next login); it also lifts a lockout.
type ResetPINRequest struct {
	PIN string `json:"pin"`
}

// CashierList is the answer of GET /v1/cashiers.
type CashierList struct {
	Cashiers []Cashier `json:"cashiers"`
}

// ---------------------------------------------------------------------------------
// Documents

// Totals are a document's totals as written in its XML (decimal strings, SAR).
type Totals struct {
	TaxExclusive string `json:"tax_exclusive"`
	VAT          string `json:"vat"`
	TaxInclusive string `json:"tax_inclusive"`
}

// Message is one validation message of ZATCA's answer.
type Message struct {
	Type     string `json:"type,omitempty"`
	Code     string `json:"code"`
	Category string `json:"category,omitempty"`
	Message  string `json:"message,omitempty"`
}

// Report is a document's reporting state.
type Report struct {
	// Status: pending, retry, paused, reported, reported_with_warnings,
	// already_reported or rejected.
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	HTTPStatus    int        `json:"http_status,omitempty"`
	Warnings      []Message  `json:"warnings,omitempty"`
	Errors        []Message  `json:"errors,omitempty"`
}

// Document is the answer of a sale, return, debit note, reprint or document lookup.
type Document struct {
	UUID             string    `json:"uuid"`
	ICV              uint64    `json:"icv"`
	IRN              string    `json:"irn"`
	Type             string    `json:"type"`      // 388, 381 or 383
	TypeName         string    `json:"type_name"` // KSA-2 code, e.g. 0200000
	IdempotencyKey   string    `json:"idempotency_key"`
	Hash             string    `json:"hash"` // invoice hash, base64
	PIH              string    `json:"pih"`
	QR               string    `json:"qr"`        // the QR payload (base64 TLV) as printed
	IssuedAt         time.Time `json:"issued_at"` // KSA time (+03:00)
	Totals           Totals    `json:"totals"`
	BillingReference string    `json:"billing_reference,omitempty"`
	SupplyDate       string    `json:"supply_date,omitempty"`
	// FailurePeriod: issued after a period the agent could not sign (the supply date
	// is earlier than the issue date).
	FailurePeriod bool `json:"failure_period,omitempty"`
	// Replayed: the idempotency key was used before; this is the stored document,
	// not a new one.
	Replayed bool `json:"replayed,omitempty"`
	// Printed: in the answer of a sale, return, debit note or reprint, this call
	// printed the receipt; in a document lookup, the document was printed at least once.
	Printed bool `json:"printed"`
	// Copy: what this call printed was marked COPY.
	Copy bool `json:"copy,omitempty"`
	// PrintError says why Printed is false.
	PrintError string `json:"print_error,omitempty"`
	// FirstPrintedAt is when the original receipt was printed (absent: never).
	FirstPrintedAt *time.Time `json:"first_printed_at,omitempty"`
	Copies         int        `json:"copies"`
	Report         Report     `json:"report"`
	// Links: what the document corrects or replaces, and what replaced it.
	Links *DocumentLinks `json:"links,omitempty"`
}

// ---------------------------------------------------------------------------------
// Status and statistics

// Status is the answer of GET /v1/status.
type Status struct {
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	Now       time.Time `json:"now"`
	// Ready: sales are accepted. Otherwise Reasons say why not.
	Ready       bool              `json:"ready"`
	Reasons     []Reason          `json:"reasons,omitempty"`
	Clock       ClockStatus       `json:"clock"`
	Key         KeyStatus         `json:"key"`
	Credentials CredentialsStatus `json:"credentials"`
	Printer     PrinterStatus     `json:"printer"`
	Chain       ChainStatus       `json:"chain"`
	Queue       QueueStatus       `json:"queue"`
	Onboarding  OnboardingStatus  `json:"onboarding"`
	// Alarms are conditions an operator must act on (reporting paused or late,
	// renewal needed, rejected documents, clock jumps).
	Alarms []string `json:"alarms,omitempty"`
}

// ClockStatus is the clock as the agent sees it.
type ClockStatus struct {
	// State: ok, not_sane, went_back or unknown.
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
	// Synced is the kernel's NTP state when known.
	Synced *bool `json:"synced,omitempty"`
	// LastJump is the last clock jump the agent observed.
	LastJump *ClockJump `json:"last_jump,omitempty"`
}

// ClockJump is one observed step of the wall clock.
type ClockJump struct {
	At      time.Time `json:"at"`
	Seconds float64   `json:"seconds"` // positive: forward
}

// KeyStatus is the stamping key.
type KeyStatus struct {
	// State: unsealed, missing or error.
	State       string `json:"state"`
	Type        string `json:"type,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"` // hex of SHA-256 of the public point, first 8 bytes
	Message     string `json:"message,omitempty"`
}

// CredentialsStatus is the production CSID.
type CredentialsStatus struct {
	// State: ok, renewal_needed, expired, revoked, missing or mismatch.
	State         string     `json:"state"`
	Message       string     `json:"message,omitempty"`
	RequestID     string     `json:"request_id,omitempty"`
	Serial        string     `json:"serial,omitempty"`
	NotBefore     *time.Time `json:"not_before,omitempty"`
	NotAfter      *time.Time `json:"not_after,omitempty"`
	DaysLeft      *int       `json:"days_left,omitempty"`
	RenewalNeeded bool       `json:"renewal_needed"`
	// RenewalFrom is when the renewal window opens.
	RenewalFrom *time.Time `json:"renewal_from,omitempty"`
}

// PrinterStatus is the receipt printer.
type PrinterStatus struct {
	// State: online, paper_out, cover_open, offline, error or none (no printer).
	State        string `json:"state"`
	PaperNearEnd bool   `json:"paper_near_end,omitempty"`
	Message      string `json:"message,omitempty"`
}

// ChainStatus is the head of the document chain.
type ChainStatus struct {
	ICV      uint64     `json:"icv"`
	Hash     string     `json:"hash"`
	IssuedAt *time.Time `json:"issued_at,omitempty"`
}

// QueueStatus is the reporting queue.
type QueueStatus struct {
	Unreported                 int        `json:"unreported"`
	Due                        int        `json:"due"`
	Retrying                   int        `json:"retrying"`
	Paused                     bool       `json:"paused"`
	PausedReason               string     `json:"paused_reason,omitempty"`
	Rejected                   int        `json:"rejected"`
	Reported                   int        `json:"reported"`
	OldestUnreported           *time.Time `json:"oldest_unreported,omitempty"`
	OldestUnreportedAgeSeconds int64      `json:"oldest_unreported_age_seconds"`
	// Uploader is the uploader's own state (running, paused, stopped or none).
	Uploader string `json:"uploader"`
}

// OnboardingStatus is the onboarding or renewal in progress, or the last one.
type OnboardingStatus struct {
	// State: idle, running, failed or done.
	State     string     `json:"state"`
	Step      string     `json:"step,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	At        *time.Time `json:"at,omitempty"`
}

// Stats is the answer of GET /v1/stats.
type Stats struct {
	Now   time.Time   `json:"now"`
	Chain ChainStatus `json:"chain"`
	// Counts of journaled documents per report status.
	Unreported           int   `json:"unreported"`
	NeverAttempted       int   `json:"never_attempted"`
	Retrying             int   `json:"retrying"`
	Paused               int   `json:"paused"`
	Reported             int   `json:"reported"`
	ReportedWithWarnings int   `json:"reported_with_warnings"`
	AlreadyReported      int   `json:"already_reported"`
	Rejected             int   `json:"rejected"`
	OldestUnreportedAge  int64 `json:"oldest_unreported_age_seconds"`
	// Months are per-month reporting figures, like the Fatoora portal's, when the
	// uploader computes them.
	Months []MonthStats `json:"months,omitempty"`
}

// MonthStats counts one month's documents by reporting outcome, like the Fatoora
// portal. Documents count in the month of their issue time (KSA).
type MonthStats struct {
	Month                string `json:"month"` // YYYY-MM
	Issued               int    `json:"issued"`
	Accepted             int    `json:"accepted"`
	AcceptedWithWarnings int    `json:"accepted_with_warnings"`
	AlreadyReported      int    `json:"already_reported"`
	Rejected             int    `json:"rejected"`
	Pending              int    `json:"pending"`
	Late                 int    `json:"late"` // accepted with BR-KSA-98 (after 24 hours)
	FailurePeriod        int    `json:"failure_period"`
}

// DeadLetter is a rejected document with ZATCA's reasons.
type DeadLetter struct {
	ICV        uint64    `json:"icv"`
	UUID       string    `json:"uuid"`
	IRN        string    `json:"irn"`
	IssuedAt   time.Time `json:"issued_at"`
	RejectedAt time.Time `json:"rejected_at"`
	HTTPStatus int       `json:"http_status"`
	Errors     []Message `json:"errors,omitempty"`
	Warnings   []Message `json:"warnings,omitempty"`
	DeadLetterExtra
}

// Dead-letter actions.
const (
	ActionCorrect = "correct" // POST /v1/deadletters/{uuid}/correct with a corrected sale
	ActionResend  = "resend"  // POST /v1/deadletters/{uuid}/resend: the same bytes again
)

// DeadLetterExtra is what GET /v1/deadletters adds to each rejected document.
type DeadLetterExtra struct {
	// ContentRejected: ZATCA rejected the document's content (a BR rule, the XSD, the
	// hash, the QR or the signature): resending the same bytes cannot help.
	ContentRejected bool `json:"content_rejected"`
	// Actions available now; empty once replaced.
	Actions    []string `json:"actions"`
	ReplacedBy *DocRef  `json:"replaced_by,omitempty"`
	Resends    int      `json:"resends,omitempty"`
}

// DocRef names a document of this terminal.
type DocRef struct {
	ICV  uint64 `json:"icv"`
	UUID string `json:"uuid"`
	IRN  string `json:"irn"`
}

// NoteReference is the invoice a note corrects.
type NoteReference struct {
	IRN string `json:"irn"`
	// Foreign: issued by another terminal of the same seller; ICV and UUID are then
	// absent and EGS and IssueDate are as the POS gave them.
	Foreign   bool   `json:"foreign,omitempty"`
	ICV       uint64 `json:"icv,omitempty"`
	UUID      string `json:"uuid,omitempty"`
	EGS       string `json:"egs,omitempty"`
	IssueDate string `json:"issue_date,omitempty"`
}

// ReturnedLine is what a credit note returns of one line of its invoice.
type ReturnedLine struct {
	Line         string `json:"line"` // the invoice line's ID
	Name         string `json:"name"`
	Quantity     string `json:"quantity"`
	Amount       string `json:"amount"` // tax-inclusive
	SoldQuantity string `json:"sold_quantity"`
	SoldAmount   string `json:"sold_amount"`
}

// DocumentLinks is what a document corrects or replaces, and what replaced it.
type DocumentLinks struct {
	Corrects   *NoteReference `json:"corrects,omitempty"`
	Returned   []ReturnedLine `json:"returned,omitempty"`
	Replaces   *DocRef        `json:"replaces,omitempty"`    // the rejected document this one replaces
	ReplacedBy *DocRef        `json:"replaced_by,omitempty"` // the correction of this rejected document
	Resends    int            `json:"resends,omitempty"`     // times resent after a rejection
}

// ResendRequest is the body of POST /v1/deadletters/{uuid}/resend.
type ResendRequest struct {
	Reason string `json:"reason"` // why the same bytes should pass now (audited), required
}

// DeadLetterList is the answer of GET /v1/deadletters.
type DeadLetterList struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
}

// ---------------------------------------------------------------------------------
// Onboarding, verification, export

// OnboardRequest is the body of POST /v1/onboard and POST /v1/renew: the OTP from the
// Fatoora portal.
type OnboardRequest struct {
	OTP string `json:"otp"`
}

// OnboardStep is one step of an onboarding or renewal run.
type OnboardStep struct {
	Name   string `json:"name"`
	Status string `json:"status"` // ok or failed
	Detail string `json:"detail,omitempty"`
}

// OnboardResult is the answer of POST /v1/onboard and POST /v1/renew.
type OnboardResult struct {
	Renewal        bool          `json:"renewal"`
	NotCompliant   bool          `json:"not_compliant,omitempty"` // the renewal went through 428 NOT_COMPLIANT
	RequestID      string        `json:"request_id"`
	Serial         string        `json:"serial"`
	NotBefore      time.Time     `json:"not_before"`
	NotAfter       time.Time     `json:"not_after"`
	KeyFingerprint string        `json:"key_fingerprint"`
	Steps          []OnboardStep `json:"steps"`
}

// VerifyResult is the answer of POST /v1/verify.
type VerifyResult struct {
	OK           bool     `json:"ok"`
	Documents    uint64   `json:"documents"`
	AuditEntries uint64   `json:"audit_entries"`
	HeadICV      uint64   `json:"head_icv"`
	HeadHash     string   `json:"head_hash"`
	Rehashed     bool     `json:"rehashed"`
	Problems     []string `json:"problems,omitempty"`
	Truncated    bool     `json:"truncated,omitempty"`
}

// ExportRequest is the body of POST /v1/export. Paths are on the terminal and must lie
// under the daemon's configured export root; at least one of Dir and Tar is required.
type ExportRequest struct {
	Dir     string `json:"dir,omitempty"`
	Tar     string `json:"tar,omitempty"`
	FromICV uint64 `json:"from_icv,omitempty"`
	ToICV   uint64 `json:"to_icv,omitempty"`
}

// ExportResult is the answer of POST /v1/export.
type ExportResult struct {
	Dir            string `json:"dir,omitempty"`
	Tar            string `json:"tar,omitempty"`
	Documents      int    `json:"documents"`
	FirstICV       uint64 `json:"first_icv"`
	LastICV        uint64 `json:"last_icv"`
	AuditEntries   int    `json:"audit_entries"`
	ManifestSHA256 string `json:"manifest_sha256"`
}
