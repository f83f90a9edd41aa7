package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/posagent/posagent/agent/csr"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/hsm/tpm"
	"github.com/posagent/posagent/offline/zatca"
	"github.com/posagent/posagent/printer/escpos"
)

// Duration is a time.Duration written in JSON as a Go duration string ("15m").
type Duration time.Duration

// MarshalJSON writes "15m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "15m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"15m\" or \"90s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Mode is a file mode written in JSON as an octal string ("0660").
type Mode os.FileMode

// MarshalJSON writes "0660".
func (m Mode) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprintf("%04o", uint32(m))) }

// UnmarshalJSON reads "0660".
func (m *Mode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a mode is an octal string like \"0660\"")
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return fmt.Errorf("a mode is an octal string like \"0660\": %w", err)
	}
	*m = Mode(v)
	return nil
}

// Config is posagentd's configuration file (JSON). Relative paths are relative to
// state_dir.
type Config struct {
	// StateDir holds the journal, the sealed key blobs, the cashier accounts and the
	// first administrator's PIN file. Created 0700 when missing.
	StateDir string `json:"state_dir"`

	Socket  SocketConfig   `json:"socket"`
	Seller  invoice.Seller `json:"seller"`
	EGS     EGSConfig      `json:"egs"`
	Board   BoardConfig    `json:"board"`
	TPM     TPMConfig      `json:"tpm"`
	Journal JournalConfig  `json:"journal"`
	Printer PrinterConfig  `json:"printer"`
	ZATCA   ZATCAConfig    `json:"zatca"`
	Upload  UploadConfig   `json:"uploader"`
	Session SessionConfig  `json:"sessions"`
	Agent   AgentConfig    `json:"agent"`
	Log     LogConfig      `json:"log"`
	// ShutdownTimeout bounds the wait for requests in flight on SIGTERM.
	ShutdownTimeout Duration `json:"shutdown_timeout"`
}

// SocketConfig is the POS socket.
type SocketConfig struct {
	Path        string `json:"path"`
	Mode        Mode   `json:"mode"`
	AllowedUIDs []int  `json:"allowed_uids"`
	AllowedGIDs []int  `json:"allowed_gids"`
}

// EGSConfig is the CSR content of this unit (the serial comes from the board).
type EGSConfig struct {
	CommonName       string `json:"common_name"`
	OrganizationUnit string `json:"organization_unit"` // branch name, or a VAT group member's TIN
	Organization     string `json:"organization"`
	Location         string `json:"location"` // branch address
	Industry         string `json:"industry"`
	InvoiceType      string `json:"invoice_type"` // "0100": simplified documents
	Environment      string `json:"environment"`  // sandbox, simulation or production (certificate template)
	// Solution and Version are the first two parts of the EGS serial
	// "1-<solution>|2-<version>|3-<board serial>".
	Solution string `json:"solution"`
	Version  string `json:"version"`
	// SerialNumber overrides the whole EGS serial.
	SerialNumber string `json:"serial_number"`
}

// BoardConfig selects the board and overrides what it detects.
type BoardConfig struct {
	Root       string `json:"root"`
	Profile    string `json:"profile"`
	Serial     string `json:"serial"`
	Model      string `json:"model"`
	ClockFloor string `json:"clock_floor"` // RFC 3339 or YYYY-MM-DD; "" = build date
}

// TPMConfig is the stamping-key store.
type TPMConfig struct {
	// Transport: "dev:/dev/tpmrm0", "tcp:127.0.0.1:2321", "unix:/path"; "" = the
	// board's TPM device.
	Transport string `json:"transport"`
	KeyType   string `json:"key_type"`
	// ActivationSecretFile holds the board secret the key blobs' authorization is
	// derived from (at least 16 bytes; "" = none, development only).
	ActivationSecretFile string `json:"activation_secret_file"`
	PCRs                 []int  `json:"pcrs"`
}

// JournalConfig is the SQLite journal.
type JournalConfig struct {
	Path     string `json:"path"`
	MaxBytes int64  `json:"max_bytes"`
}

// PrinterConfig is the receipt printer.
type PrinterConfig struct {
	// Device: a serial device path, "none" for no printer, "" for the board's
	// printer port.
	Device  string `json:"device"`
	Baud    int    `json:"baud"`
	Profile string `json:"profile"` // 58mm or 80mm
}

// ZATCAConfig is ZATCA's API.
type ZATCAConfig struct {
	Environment string   `json:"environment"` // sandbox, simulation, production or custom
	BaseURL     string   `json:"base_url"`    // custom only
	Timeout     Duration `json:"timeout"`
	CAFile      string   `json:"ca_file"`
}

// UploadConfig tunes the reporting worker.
type UploadConfig struct {
	Concurrency  int      `json:"concurrency"`
	RateLimit    float64  `json:"rate_limit"`
	PollInterval Duration `json:"poll_interval"`
	RetryBase    Duration `json:"retry_base"`
	RetryMax     Duration `json:"retry_max"`
	ProbeEvery   Duration `json:"probe_interval"`
	WarnAge      Duration `json:"warn_age"`
	AlarmAge     Duration `json:"alarm_age"`
}

// SessionConfig is cashier sessions and PINs.
type SessionConfig struct {
	Idle          Duration `json:"idle"`
	Max           Duration `json:"max"`
	MaxFailedPINs int      `json:"max_failed_pins"`
	Lockout       Duration `json:"lockout"`
	ScryptN       int      `json:"scrypt_n"`
}

// AgentConfig tunes the pipeline.
type AgentConfig struct {
	RenewBeforeDays int      `json:"renew_before_days"`
	ExportRoot      string   `json:"export_root"`
	ReceiptFooter   []string `json:"receipt_footer"`
	ReturnLookback  int      `json:"return_lookback"`
}

// LogConfig is the daemon's log.
type LogConfig struct {
	Level  string `json:"level"`  // debug, info, warn, error
	Format string `json:"format"` // text or json
}

// DefaultConfig returns the defaults. Seller, EGS names and (without a board socket
// path) nothing else must be filled in.
func DefaultConfig() Config {
	return Config{
		StateDir: "/var/lib/posagent",
		Socket:   SocketConfig{Path: "/run/posagent/posagent.sock", Mode: 0o660, AllowedUIDs: []int{os.Getuid()}},
		EGS:      EGSConfig{InvoiceType: "0100", Environment: "production", Solution: "posagent", Version: version},
		Board:    BoardConfig{Root: "/"},
		TPM:      TPMConfig{KeyType: string(tpm.KeySealedSecp256k1)},
		Journal:  JournalConfig{Path: "journal.db"},
		Printer:  PrinterConfig{Baud: 115200, Profile: "80mm"},
		ZATCA:    ZATCAConfig{Environment: string(zatca.Production), Timeout: Duration(zatca.DefaultTimeout)},
		Upload: UploadConfig{Concurrency: 8, RateLimit: 50, PollInterval: Duration(time.Minute), RetryBase: Duration(10 * time.Second),
			RetryMax: Duration(10 * time.Minute), ProbeEvery: Duration(5 * time.Minute), WarnAge: Duration(12 * time.Hour), AlarmAge: Duration(20 * time.Hour)},
		Session: SessionConfig{Idle: Duration(15 * time.Minute), Max: Duration(12 * time.Hour), MaxFailedPINs: 5,
			Lockout: Duration(15 * time.Minute), ScryptN: 1 << 15},
		Agent:           AgentConfig{RenewBeforeDays: 30, ReturnLookback: 5000, ReceiptFooter: []string{"شكراً لزيارتكم", "Thank you"}},
		Log:             LogConfig{Level: "info", Format: "text"},
		ShutdownTimeout: Duration(15 * time.Second),
	}
}

// FieldError is one bad configuration field.
type FieldError struct {
	Field   string // JSON path, e.g. "egs.common_name"
	Problem string
}

// ConfigError lists every bad field of a configuration.
type ConfigError struct {
	Fields []FieldError
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Problem)
	}
	return b.String()
}

// Has reports whether the field is listed.
func (e *ConfigError) Has(field string) bool {
	for _, f := range e.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// LoadConfig reads a JSON configuration file over DefaultConfig. Unknown fields are
// refused.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("load config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("load config %s: %w", path, err)
	}
	if dec.More() {
		return cfg, fmt.Errorf("load config %s: data after the JSON object", path)
	}
	return cfg, nil
}

// path resolves a path relative to the state directory.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.StateDir, p)
}

// Validate returns a *ConfigError listing every bad field.
func (c Config) Validate() error {
	var fe []FieldError
	bad := func(field, format string, args ...any) {
		fe = append(fe, FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
	}
	if c.StateDir == "" || !filepath.IsAbs(c.StateDir) {
		bad("state_dir", "must be an absolute path, got %q", c.StateDir)
	}
	switch {
	case c.Socket.Path == "" || !filepath.IsAbs(c.Socket.Path):
		bad("socket.path", "must be an absolute path, got %q", c.Socket.Path)
	case len(c.Socket.Path) > 107:
		bad("socket.path", "is %d bytes; a unix socket path has at most 107", len(c.Socket.Path))
	}
	if c.Socket.Mode&^0o777 != 0 || c.Socket.Mode&0o600 != 0o600 {
		bad("socket.mode", "%#o: want permission bits with owner read and write", uint32(c.Socket.Mode))
	}
	if len(c.Socket.AllowedUIDs) == 0 && len(c.Socket.AllowedGIDs) == 0 {
		bad("socket.allowed_uids", "allowed_uids or allowed_gids must name who may use the socket")
	}
	if err := c.Seller.Validate(); err != nil {
		var ve *invoice.ValidationError
		if errors.As(err, &ve) {
			for _, f := range ve.Errors {
				bad("seller."+f.Field, "%s %s", f.Rule, f.Message)
			}
		} else {
			bad("seller", "%v", err)
		}
	}
	egs := c.EGS
	for _, f := range []struct{ name, v string }{{"common_name", egs.CommonName}, {"organization_unit", egs.OrganizationUnit},
		{"organization", egs.Organization}, {"location", egs.Location}, {"industry", egs.Industry}} {
		if strings.TrimSpace(f.v) == "" {
			bad("egs."+f.name, "is required (it goes into the CSR)")
		}
	}
	if egs.InvoiceType != "0100" {
		bad("egs.invoice_type", "%q: this agent issues simplified documents only; use \"0100\"", egs.InvoiceType)
	}
	if _, err := csr.ParseEnv(egs.Environment); err != nil {
		bad("egs.environment", "%q: want sandbox, simulation or production", egs.Environment)
	}
	if egs.SerialNumber == "" && strings.TrimSpace(egs.Solution) == "" {
		bad("egs.solution", "is required to build the EGS serial")
	}
	if c.Board.Root == "" || !filepath.IsAbs(c.Board.Root) {
		bad("board.root", "must be an absolute path, got %q", c.Board.Root)
	}
	if c.Board.ClockFloor != "" {
		if _, err := parseFloor(c.Board.ClockFloor); err != nil {
			bad("board.clock_floor", "%v", err)
		}
	}
	switch tpm.KeyType(c.TPM.KeyType) {
	case tpm.KeySealedSecp256k1, tpm.KeyNativeP256:
	default:
		bad("tpm.key_type", "%q: want %q or %q", c.TPM.KeyType, tpm.KeySealedSecp256k1, tpm.KeyNativeP256)
	}
	if c.Journal.Path == "" {
		bad("journal.path", "is required")
	}
	if c.Journal.MaxBytes < 0 {
		bad("journal.max_bytes", "must not be negative")
	}
	if c.Printer.Device != "" && c.Printer.Device != "none" && !filepath.IsAbs(c.Printer.Device) {
		bad("printer.device", "%q: want an absolute device path, \"none\" or \"\" (the board's port)", c.Printer.Device)
	}
	if c.Printer.Baud <= 0 {
		bad("printer.baud", "must be positive")
	}
	if _, err := escpos.ProfileByName(c.Printer.Profile); err != nil {
		bad("printer.profile", "%q: want 58mm or 80mm", c.Printer.Profile)
	}
	env, err := zatca.ParseEnvironment(c.ZATCA.Environment)
	if err != nil {
		bad("zatca.environment", "%q: want sandbox, simulation, production or custom", c.ZATCA.Environment)
	}
	if env == zatca.Custom && c.ZATCA.BaseURL == "" {
		bad("zatca.base_url", "is required for the custom environment")
	}
	if c.ZATCA.Timeout <= 0 {
		bad("zatca.timeout", "must be positive")
	}
	u := c.Upload
	if u.Concurrency < 1 {
		bad("uploader.concurrency", "must be at least 1")
	}
	if u.RateLimit < 0 {
		bad("uploader.rate_limit", "must not be negative")
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"uploader.poll_interval", u.PollInterval}, {"uploader.retry_base", u.RetryBase}, {"uploader.retry_max", u.RetryMax},
		{"uploader.probe_interval", u.ProbeEvery}, {"uploader.warn_age", u.WarnAge}, {"uploader.alarm_age", u.AlarmAge},
		{"sessions.idle", c.Session.Idle}, {"sessions.max", c.Session.Max}, {"sessions.lockout", c.Session.Lockout},
		{"shutdown_timeout", c.ShutdownTimeout}} {
		if d.v <= 0 {
			bad(d.name, "must be positive")
		}
	}
	if c.Session.MaxFailedPINs < 1 {
		bad("sessions.max_failed_pins", "must be at least 1")
	}
	if n := c.Session.ScryptN; n < 1024 || n&(n-1) != 0 {
		bad("sessions.scrypt_n", "%d: want a power of two of at least 1024", n)
	}
	if c.Agent.RenewBeforeDays < 1 {
		bad("agent.renew_before_days", "must be at least 1")
	}
	if c.Agent.ExportRoot != "" && !filepath.IsAbs(c.Agent.ExportRoot) {
		bad("agent.export_root", "must be an absolute path")
	}
	if c.Agent.ReturnLookback < 0 {
		bad("agent.return_lookback", "must not be negative")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "%q: want text or json", c.Log.Format)
	}
	if len(fe) > 0 {
		return &ConfigError{Fields: fe}
	}
	return nil
}

func parseFloor(s string) (time.Time, error) {
	for _, l := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: want RFC 3339 or YYYY-MM-DD", s)
}
