package fatoorasim

import (
	"errors"
	"fmt"
	"github.com/posagent/posagent/agent/csr"
	"log/slog"
	"time"
)

// pathPrefix is ZATCA's URL prefix for environment e (SPEC §2.1); the simulator answers
// on it as well as on the root. The environment itself (and the certificate template a
// CSR must carry for it) is agent/csr's Env.
func pathPrefix(e csr.Env) string {
	switch e {
	case csr.Sandbox:
		return "/e-invoicing/developer-portal"
	case csr.Simulation:
		return "/e-invoicing/simulation"
	case csr.Production:
		return "/e-invoicing/core"
	}
	return ""
}

// Options configure a Server. Start from DefaultOptions.
type Options struct {
	// Dir is the state directory (state.db and its WAL). Required.
	Dir string
	// Env selects the certificate template CSRs must carry.
	Env csr.Env
	// SandboxOTPs enables ZATCA's fixed developer-portal OTPs: 123345 valid for any
	// VAT number, 111111 invalid, 222222 expired (SPEC §2.1).
	SandboxOTPs bool
	// AcceptP256 lets CSRs on NIST P-256 through. ZATCA's CA is only known to accept
	// secp256k1 (SPEC §0.2), so by default a P-256 CSR is Invalid-CSR.
	AcceptP256 bool
	// Now is the base clock; the admin clock offset is added to it. Default time.Now.
	Now func() time.Time
	// Logger receives the simulator's logs. Default: discard.
	Logger *slog.Logger
	// OTPValidity is how long a portal OTP can be used (ZATCA: about one hour).
	OTPValidity time.Duration
	// ComplianceValidity and ProductionValidity are the CSID lifetimes.
	ComplianceValidity time.Duration
	ProductionValidity time.Duration
	// LateAfter is the reporting deadline after IssueDate+IssueTime (BR-KSA-98: 24 h).
	LateAfter time.Duration
	// MaxBodyBytes is the request size above which the answer is 413 (ZATCA: ~10 MB).
	MaxBodyBytes int64
	// MaxHang bounds the "hang" fault when the client never gives up.
	MaxHang time.Duration
	// CACommonName is the CA's CN; the issuer DN is
	// "CN=<CACommonName>, DC=<env>, DC=fatoora-sim, DC=local" in Java order.
	CACommonName string
}

// DefaultOptions is the simulation environment with ZATCA-like limits.
func DefaultOptions() Options {
	return Options{
		Env:                csr.Simulation,
		Now:                time.Now,
		OTPValidity:        time.Hour,
		ComplianceValidity: 2 * 365 * 24 * time.Hour,
		ProductionValidity: 5 * 365 * 24 * time.Hour,
		LateAfter:          24 * time.Hour,
		MaxBodyBytes:       10 << 20,
		MaxHang:            10 * time.Minute,
		CACommonName:       "FATOORASIM-EINVOICESCA1-CA",
	}
}

// Validate returns an error naming the first bad field.
func (o Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("Dir is required"))
	}
	if o.Env.TemplateName() == "" {
		errs = append(errs, fmt.Errorf("Env %s is not sandbox, simulation or production", o.Env))
	}
	if o.Now == nil {
		errs = append(errs, errors.New("Now is nil"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"OTPValidity", o.OTPValidity}, {"ComplianceValidity", o.ComplianceValidity},
		{"ProductionValidity", o.ProductionValidity}, {"LateAfter", o.LateAfter}, {"MaxHang", o.MaxHang},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %v", d.name, d.v))
		}
	}
	if o.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes must be at least 1024, got %d", o.MaxBodyBytes))
	}
	if o.CACommonName == "" {
		errs = append(errs, errors.New("CACommonName is required"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("fatoorasim options: %w", errors.Join(errs...))
	}
	return nil
}
