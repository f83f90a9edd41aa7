package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/csr"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/hsm"
	"github.com/posagent/posagent/offline/zatca"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/store"
)

// Store is the fiscal journal the agent writes to: the document chain, the reporting
// queue (for status and statistics), the audit log and the integrity check. The daemon
// passes store/sqlite's DB.
type Store interface {
	store.Journal
	store.Outbox
	store.Audit
	store.Verifier
	store.Corrections
}

// KeyStore is the terminal's stamping-key store (hsm/tpm.KeyStore): the current key
// signs documents; a pending key, made for onboarding or a renewal, is promoted by
// Activate once its production CSID is sealed. Its Sealer keeps the CSID.
type KeyStore interface {
	hsm.Sealer
	Current() (hsm.Signer, error)
	Pending() (hsm.Signer, error)
	GenerateNext(ctx context.Context) (hsm.Signer, error)
	Activate(ctx context.Context) error
}

// ZATCA is the part of ZATCA's API onboarding and renewal use (offline/zatca.Client).
type ZATCA interface {
	ComplianceCSID(ctx context.Context, otp string, csrPEM []byte) (*zatca.CSIDResult, error)
	ComplianceCheck(ctx context.Context, compliance zatca.Credentials, doc zatca.Document) (*zatca.ComplianceResult, error)
	ProductionCSID(ctx context.Context, compliance zatca.Credentials, complianceRequestID string) (*zatca.CSIDResult, error)
	RenewProductionCSID(ctx context.Context, current zatca.Credentials, otp string, csrPEM []byte) (*zatca.CSIDResult, error)
}

// Uploader is the reporting worker as the agent drives and reads it. The daemon adapts
// offline.Worker to it.
type Uploader interface {
	// Kick wakes the worker after a commit; it never blocks.
	Kick()
	// CredentialsChanged tells the worker new credentials are in force (after
	// onboarding or a renewal): a queue paused on 401 resumes.
	CredentialsChanged()
	// UploadState is a snapshot of the worker for status and receipts.
	UploadState() UploadState
}

// UploadState is what the agent shows of the uploader.
type UploadState struct {
	// State: running, paused or stopped.
	State string
	// PausedReason says why reporting stopped (401, 406, configuration).
	PausedReason string
	// Unauthorized: ZATCA answered 401 to the current production CSID (revoked or
	// unknown). The agent then stops signing.
	Unauthorized bool
	// Alarms are conditions an operator must act on (documents close to or past
	// the 24-hour reporting deadline, queue paused).
	Alarms []string
	// Notices are short lines printed on the next receipts (e.g. reporting delayed).
	Notices []string
}

// MonthlyStatser is implemented by uploaders that compute per-month reporting
// figures (month "YYYY-MM", or "" for every month).
type MonthlyStatser interface {
	MonthlyStats(ctx context.Context, month string) ([]apitype.MonthStats, error)
}

// ClockChecker tells whether the terminal's clock is plausible (board.Board's clock
// sanity check, adapted by the daemon).
type ClockChecker interface {
	CheckClock(ctx context.Context) ClockCheck
}

// ClockCheck is the board's verdict on the clock.
type ClockCheck struct {
	// Sane: the clock is plausible (not before the build date, not unset).
	Sane bool
	// Synced is the kernel's NTP-synchronised flag when known.
	Synced *bool
	// Message explains a non-sane (or unsynced) clock.
	Message string
}

// Clock is the agent's time source. Now is the wall clock documents are issued with;
// Monotonic never jumps (it measures elapsed time from an arbitrary origin), so the
// agent can see the wall clock being stepped.
type Clock interface {
	Now() time.Time
	Monotonic() time.Duration
}

// SystemClock is the real clock.
type SystemClock struct{ origin time.Time }

// NewSystemClock returns the system clock.
func NewSystemClock() *SystemClock { return &SystemClock{origin: time.Now()} }

// Now returns time.Now().
func (c *SystemClock) Now() time.Time { return time.Now() }

// Monotonic returns the time elapsed since NewSystemClock on the monotonic clock.
func (c *SystemClock) Monotonic() time.Duration { return time.Since(c.origin) }

// Config holds the agent's tunables. Start from DefaultConfig.
type Config struct {
	// EGS is the CSR content of this unit (SerialNumber from the board identity,
	// OrganizationIdentifier the seller's VAT). Required for onboarding; InvoiceType
	// must be "0100" (simplified documents only: standard compliance documents are not
	// built by this agent).
	EGS csr.Config
	// RenewBefore opens the renewal window this long before the CSID expires; status
	// then says "renewal needed" (a renewal needs a new OTP).
	RenewBefore time.Duration
	// ClockJumpThreshold is the smallest wall-clock step recorded as a jump.
	ClockJumpThreshold time.Duration
	// CheckInterval is how often Run re-checks the clock, the printer and the
	// credentials.
	CheckInterval time.Duration
	// PrintTimeout bounds printing one receipt.
	PrintTimeout time.Duration
	// ReturnLookback bounds the documents searched (newest first) to resolve a
	// note's original invoice given by an invoice number the agent did not assign.
	ReturnLookback int
	// ReceiptFooter lines end every receipt.
	ReceiptFooter []string
	// ExportRoot: exports may only be written under this directory ("" forbids exports).
	ExportRoot string
	// Version is reported in status.
	Version string
}

// DefaultConfig returns the defaults: renewal 30 days before expiry, 2 s clock-jump
// threshold, checks every 5 s, 15 s print timeout.
func DefaultConfig() Config {
	return Config{
		RenewBefore:        30 * 24 * time.Hour,
		ClockJumpThreshold: 2 * time.Second,
		CheckInterval:      5 * time.Second,
		PrintTimeout:       15 * time.Second,
		ReturnLookback:     5000,
		ReceiptFooter:      []string{"شكراً لزيارتكم", "Thank you"},
		Version:            "dev",
	}
}

// Validate returns every bad field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if err := c.EGS.Validate(); err != nil {
		bad("EGS", "%v", err)
	} else if c.EGS.InvoiceType != "0100" {
		bad("EGS.InvoiceType", "%q: this agent issues simplified documents only; use \"0100\"", c.EGS.InvoiceType)
	}
	if c.RenewBefore <= 0 {
		bad("RenewBefore", "must be positive, got %v", c.RenewBefore)
	}
	if c.ClockJumpThreshold <= 0 {
		bad("ClockJumpThreshold", "must be positive, got %v", c.ClockJumpThreshold)
	}
	if c.CheckInterval <= 0 {
		bad("CheckInterval", "must be positive, got %v", c.CheckInterval)
	}
	if c.PrintTimeout <= 0 {
		bad("PrintTimeout", "must be positive, got %v", c.PrintTimeout)
	}
	if c.ReturnLookback < 0 {
		bad("ReturnLookback", "must not be negative, got %d", c.ReturnLookback)
	}
	return errors.Join(errs...)
}

// Options are the agent's dependencies. Every field is required except Printer (nil:
// no printer; receipts are not printed and replies say printed=false), Board (nil: the
// clock is trusted) and Logger.
type Options struct {
	Store    Store
	Keys     KeyStore
	ZATCA    ZATCA
	Uploader Uploader
	Printer  printer.Printer
	Board    ClockChecker
	Clock    Clock
	Seller   *invoice.Seller
	Config   Config
	Logger   *slog.Logger
}

// Agent is the sale pipeline, readiness, onboarding and status of one terminal.
type Agent struct {
	st     Store
	keys   KeyStore
	zatca  ZATCA
	up     Uploader
	prn    printer.Printer
	board  ClockChecker
	clock  Clock
	seller *invoice.Seller
	cfg    Config
	log    *slog.Logger
	start  time.Time

	// stampMu guards the stamp: sales hold it for reading from the readiness check
	// to the commit; onboarding and renewal take it for writing to swap keys.
	stampMu sync.RWMutex
	stamp   *stampState
	// chainMu serialises sales from reading the clock to the journal's commit: the
	// journal refuses a time earlier than the chain head's, so a clock read before
	// waiting behind another sale would be refused as a clock that went back.
	chainMu sync.Mutex

	onboardMu sync.Mutex // one onboarding or renewal at a time
	obMu      sync.Mutex
	ob        apitype.OnboardingStatus

	stateMu       sync.Mutex
	clockCheck    *ClockCheck       // last board verdict; nil before the first check
	clockBack     *store.ClockError // the last refusal by the journal's clock guard
	lastJump      *apitype.ClockJump
	printerSt     apitype.PrinterStatus
	lastCredState string
	started       atomic.Bool // the start checks ran
}

// stampState is the loaded production CSID with its key.
type stampState struct {
	state     string // credentials state: ok, missing, mismatch, error
	message   string
	key       hsm.Signer
	keyType   string
	keyFP     string
	creds     zatca.Credentials
	cert      *cert.Certificate
	requestID string
}

// ConfigError names a bad configuration field.
type ConfigError struct {
	Field, Problem string
}

func (e *ConfigError) Error() string { return "agent config: " + e.Field + ": " + e.Problem }

// New checks the options and returns an Agent. It does no I/O: Run (or Start) loads the
// credentials and runs the start checks.
func New(o Options) (*Agent, error) {
	var errs []error
	for _, d := range []struct {
		name string
		nil  bool
	}{
		{"Store", o.Store == nil}, {"Keys", o.Keys == nil}, {"ZATCA", o.ZATCA == nil},
		{"Uploader", o.Uploader == nil}, {"Clock", o.Clock == nil}, {"Seller", o.Seller == nil},
	} {
		if d.nil {
			errs = append(errs, &ConfigError{Field: d.name, Problem: "is required"})
		}
	}
	if o.Seller != nil {
		if err := o.Seller.Validate(); err != nil {
			errs = append(errs, &ConfigError{Field: "Seller", Problem: err.Error()})
		}
	}
	if err := o.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Seller != nil && o.Config.EGS.OrganizationIdentifier != "" && o.Config.EGS.OrganizationIdentifier != o.Seller.VATNumber {
		errs = append(errs, &ConfigError{Field: "EGS.OrganizationIdentifier",
			Problem: fmt.Sprintf("%s is not the seller's VAT number %s", o.Config.EGS.OrganizationIdentifier, o.Seller.VATNumber)})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("agent new: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{
		st: o.Store, keys: o.Keys, zatca: o.ZATCA, up: o.Uploader, prn: o.Printer, board: o.Board,
		clock: o.Clock, seller: o.Seller, cfg: o.Config, log: log.With("subsystem", "agent"),
		stamp: &stampState{state: credMissing},
		ob:    apitype.OnboardingStatus{State: "idle"},
	}
	a.start = a.clock.Now()
	a.printerSt = apitype.PrinterStatus{State: "none"}
	return a, nil
}

// Start loads the credentials and runs the first readiness checks (clock, printer).
// Run calls it; callers that need the agent ready before serving call it first.
// It fails only when the journal cannot be read; every other problem shows in status.
func (a *Agent) Start(ctx context.Context) error {
	if a.started.Load() {
		return nil
	}
	if _, err := a.st.Head(ctx); err != nil {
		return fmt.Errorf("agent start: journal head: %w", err)
	}
	a.loadCredentials(ctx)
	a.checkClock(ctx)
	a.checkPrinter(ctx)
	_, c := a.credentialsNow()
	a.stateMu.Lock()
	a.lastCredState = c.State
	a.stateMu.Unlock()
	a.started.Store(true)
	st := a.Status(ctx)
	a.log.Info("agent started", "ready", st.Ready, "reasons", st.Reasons, "credentials", st.Credentials.State,
		"chain_icv", st.Chain.ICV, "printer", st.Printer.State)
	return nil
}

// Run starts the agent and keeps its checks running until ctx ends: the clock (board
// sanity and jumps of the wall clock, recorded in the audit log), the printer and the
// credentials' validity. It returns ctx.Err() on cancellation.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.Start(ctx); err != nil {
		return err
	}
	t := time.NewTicker(a.cfg.CheckInterval)
	defer t.Stop()
	lastWall, lastMono := a.clock.Now(), a.clock.Monotonic()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		wall, mono := a.clock.Now(), a.clock.Monotonic()
		a.observeClock(ctx, lastWall, lastMono, wall, mono)
		lastWall, lastMono = wall, mono
		a.checkClock(ctx)
		a.checkPrinter(ctx)
		a.checkCredentials(ctx)
	}
}

// Close releases the current key handle. The daemon closes the key store, printer and
// journal itself.
func (a *Agent) Close() error {
	a.stampMu.Lock()
	defer a.stampMu.Unlock()
	if a.stamp != nil && a.stamp.key != nil {
		err := a.stamp.key.Close()
		a.stamp.key = nil
		return err
	}
	return nil
}

// Credentials returns the production CSID reporting uses (the uploader's provider).
// It fails with ErrNotOnboarded before onboarding.
func (a *Agent) Credentials() (zatca.Credentials, error) {
	a.stampMu.RLock()
	defer a.stampMu.RUnlock()
	if a.stamp == nil || a.stamp.creds.IsZero() {
		return zatca.Credentials{}, ErrNotOnboarded
	}
	return a.stamp.creds, nil
}

// audit writes one audit entry; a failure is logged, not returned (the action it
// describes already happened).
func (a *Agent) audit(ctx context.Context, action string, icv uint64, details map[string]any) {
	e := store.Entry{At: a.clock.Now(), Action: action, DocumentICV: icv, Details: mustJSON(details)}
	if _, err := a.st.Record(ctx, e); err != nil {
		a.log.Error("audit write failed", "action", action, "err", err)
	}
}
