package csr

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Env is the ZATCA environment a CSR is meant for; it selects the
// certificate template name (SPEC §0.1 item 8, §1.2).
type Env int

// Environments.
const (
	EnvUnset   Env = iota
	Sandbox        // developer portal: TSTZATCA-Code-Signing
	Simulation     // simulation: PREZATCA-Code-Signing
	Production     // core: ZATCA-Code-Signing
)

var templateNames = map[Env]string{
	Sandbox:    "TSTZATCA-Code-Signing",
	Simulation: "PREZATCA-Code-Signing",
	Production: "ZATCA-Code-Signing",
}

// TemplateName returns the value of the certificate template extension
// (1.3.6.1.4.1.311.20.2) for e, or "" for an invalid Env.
func (e Env) TemplateName() string { return templateNames[e] }

// String returns "sandbox", "simulation" or "production".
func (e Env) String() string {
	switch e {
	case Sandbox:
		return "sandbox"
	case Simulation:
		return "simulation"
	case Production:
		return "production"
	}
	return fmt.Sprintf("Env(%d)", int(e))
}

// ParseEnv accepts "sandbox", "simulation" or "production".
func ParseEnv(s string) (Env, error) {
	for e := Sandbox; e <= Production; e++ {
		if s == e.String() {
			return e, nil
		}
	}
	return EnvUnset, fmt.Errorf("csr parse env: %w: %q (want sandbox, simulation or production)", ErrInvalidConfig, s)
}

// EnvForTemplate returns the Env whose template name is name.
func EnvForTemplate(name string) (Env, bool) {
	for e, n := range templateNames {
		if n == name {
			return e, true
		}
	}
	return EnvUnset, false
}

// Config is the content of a ZATCA CSR (SPEC §1.2), field for field what the
// SDK's csr-config .properties files hold, plus the environment.
type Config struct {
	CommonName             string // CN: unique unit name, e.g. "TST-886431145-399999999900003"
	SerialNumber           string // SAN SN: "1-<solution>|2-<model>|3-<serial>"
	OrganizationIdentifier string // SAN UID: VAT number, 15 digits, 3…3
	OrganizationUnit       string // OU: branch; a VAT group member's 10-digit TIN
	Organization           string // O: taxpayer name
	Country                string // C: ISO 3166 alpha-2, "SA"
	InvoiceType            string // SAN title: "TSCZ" as four 0/1 digits
	Location               string // SAN registeredAddress: branch address
	Industry               string // SAN businessCategory
	Environment            Env
}

// ErrInvalidConfig is wrapped by every Config validation error.
var ErrInvalidConfig = errors.New("invalid CSR configuration")

// FieldError reports one invalid Config field.
type FieldError struct {
	Field string // the Config field name, e.g. "OrganizationIdentifier"
	Rule  string // what is required
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Rule }

// Is makes every FieldError match ErrInvalidConfig.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidConfig }

// ValidationError lists every invalid field of a Config.
type ValidationError struct {
	Fields []*FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "invalid CSR configuration: " + strings.Join(parts, "; ")
}

// Unwrap returns the field errors, so errors.As finds a *FieldError and
// errors.Is matches ErrInvalidConfig.
func (e *ValidationError) Unwrap() []error {
	out := make([]error, len(e.Fields))
	for i, f := range e.Fields {
		out[i] = f
	}
	return out
}

// MaxFieldLen is the upper bound of X.520 ub-name style attributes.
const MaxFieldLen = 64

var (
	serialRE      = regexp.MustCompile(`^1-[^|]+\|2-[^|]+\|3-[^|]+$`)
	vatRE         = regexp.MustCompile(`^3[0-9]{13}3$`)
	tinRE         = regexp.MustCompile(`^[0-9]{10}$`)
	invoiceTypeRE = regexp.MustCompile(`^[01]{4}$`)
	countryRE     = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Validate checks c against SPEC §1.2 and SEC Table 1. It returns a
// *ValidationError listing every invalid field, or nil.
func (c Config) Validate() error {
	var errs []*FieldError
	add := func(field, rule string) { errs = append(errs, &FieldError{Field: field, Rule: rule}) }
	for _, f := range []struct{ name, v string }{
		{"CommonName", c.CommonName}, {"SerialNumber", c.SerialNumber},
		{"OrganizationIdentifier", c.OrganizationIdentifier}, {"OrganizationUnit", c.OrganizationUnit},
		{"Organization", c.Organization}, {"Country", c.Country}, {"InvoiceType", c.InvoiceType},
		{"Location", c.Location}, {"Industry", c.Industry},
	} {
		switch {
		case strings.TrimSpace(f.v) == "":
			add(f.name, "required")
		case !utf8.ValidString(f.v):
			add(f.name, "must be valid UTF-8")
		case utf8.RuneCountInString(f.v) > MaxFieldLen:
			add(f.name, fmt.Sprintf("at most %d characters (has %d)", MaxFieldLen, utf8.RuneCountInString(f.v)))
		case f.v != strings.TrimSpace(f.v):
			add(f.name, "no leading or trailing spaces")
		case f.name == "SerialNumber" && !serialRE.MatchString(f.v):
			add(f.name, `must be "1-<solution>|2-<model>|3-<serial>" (SEC Table 1)`)
		case f.name == "OrganizationIdentifier" && !vatRE.MatchString(f.v):
			add(f.name, "VAT number must be 15 digits, first and last 3 (BR-KSA-40)")
		case f.name == "Country" && !countryRE.MatchString(f.v):
			add(f.name, `must be a two-letter ISO 3166 code such as "SA"`)
		case f.name == "InvoiceType" && !invoiceTypeRE.MatchString(f.v):
			add(f.name, `must be four 0/1 digits "TSCZ", e.g. "0100"`)
		case f.name == "InvoiceType" && f.v[0] != '1' && f.v[1] != '1':
			add(f.name, "must enable standard (T) or simplified (S) invoices")
		}
	}
	// A VAT group (11th digit 1) puts the member's 10-digit TIN in OU.
	if vatRE.MatchString(c.OrganizationIdentifier) && c.OrganizationIdentifier[10] == '1' &&
		c.OrganizationUnit != "" && !tinRE.MatchString(c.OrganizationUnit) {
		add("OrganizationUnit", "a VAT group (11th digit of the VAT number is 1) needs the member's 10-digit TIN here")
	}
	if c.Environment.TemplateName() == "" {
		add("Environment", "must be Sandbox, Simulation or Production")
	}
	if len(errs) > 0 {
		return &ValidationError{Fields: errs}
	}
	return nil
}
