package fatoorasim

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// OTP is a one-time password from the simulated Fatoora portal: six digits, bound to a
// VAT number, valid for Options.OTPValidity, used once.
type OTP struct {
	Code      string     `json:"code"`
	VAT       string     `json:"vat"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt time.Time  `json:"expiresAt"`
	UsedAt    *time.Time `json:"usedAt,omitempty"`
}

// Sandbox OTPs of the developer portal (SPEC §2.1).
const (
	sandboxOTPValid   = "123345"
	sandboxOTPInvalid = "111111"
	sandboxOTPExpired = "222222"
)

// MaxOTPsPerRequest bounds GenerateOTPs.
const MaxOTPsPerRequest = 100

// ErrInvalidInput marks an admin request with bad input; nothing changed.
var ErrInvalidInput = errors.New("fatoorasim: invalid input")

// ErrNotFound marks an admin request naming something that does not exist.
var ErrNotFound = errors.New("fatoorasim: not found")

// validVAT reports whether v is 15 digits, first and last "3" (BR-KSA-40).
func validVAT(v string) bool {
	if len(v) != 15 || v[0] != '3' || v[14] != '3' {
		return false
	}
	return allDigits(v)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// GenerateOTPs issues n OTPs for the VAT number, as the Fatoora portal does, each valid
// for Options.OTPValidity from now (the simulator's clock).
func (s *Server) GenerateOTPs(ctx context.Context, vat string, n int) ([]OTP, error) {
	if !validVAT(vat) {
		return nil, fmt.Errorf("generate otps: vat %q must be 15 digits starting and ending with 3: %w", vat, ErrInvalidInput)
	}
	if n < 1 || n > MaxOTPsPerRequest {
		return nil, fmt.Errorf("generate otps: count %d must be 1..%d: %w", n, MaxOTPsPerRequest, ErrInvalidInput)
	}
	now := s.Now()
	exp := now.Add(s.opts.OTPValidity)
	var out []OTP
	err := s.st.write(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		for attempts := 0; len(out) < n; attempts++ {
			if attempts > 100*n+1000 {
				return errors.New("too many live OTPs: no free code")
			}
			code, err := randomOTP()
			if err != nil {
				return err
			}
			if s.opts.SandboxOTPs && (code == sandboxOTPValid || code == sandboxOTPInvalid || code == sandboxOTPExpired) {
				continue
			}
			// A code must not collide with a live one: lookups are by code.
			var live int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM otps WHERE code = ? AND used_at IS NULL AND expires_at > ?`,
				code, ms(now)).Scan(&live); err != nil {
				return err
			}
			if live > 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO otps(code, vat, created_at, expires_at) VALUES(?,?,?,?)`,
				code, vat, ms(now), ms(exp)); err != nil {
				return err
			}
			out = append(out, OTP{Code: code, VAT: vat, CreatedAt: now.UTC(), ExpiresAt: exp.UTC()})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("generate otps: %w", err)
	}
	s.log.Info("otps generated", "vat", vat, "count", n, "expires", exp)
	return out, nil
}

// OTPs lists the OTPs issued for vat ("" for all), newest first.
func (s *Server) OTPs(ctx context.Context, vat string) ([]OTP, error) {
	q := `SELECT code, vat, created_at, expires_at, used_at FROM otps`
	var args []any
	if vat != "" {
		q += ` WHERE vat = ?`
		args = append(args, vat)
	}
	rows, err := s.st.db.QueryContext(ctx, q+` ORDER BY id DESC LIMIT 1000`, args...)
	if err != nil {
		return nil, fmt.Errorf("list otps: %w", err)
	}
	defer rows.Close()
	out := []OTP{}
	for rows.Next() {
		var o OTP
		var c, e int64
		var u sql.NullInt64
		if err := rows.Scan(&o.Code, &o.VAT, &c, &e, &u); err != nil {
			return nil, fmt.Errorf("list otps: %w", err)
		}
		o.CreatedAt, o.ExpiresAt = fromMS(c), fromMS(e)
		if u.Valid {
			t := fromMS(u.Int64)
			o.UsedAt = &t
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func randomOTP() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// otpCheck is the outcome of checking an OTP header.
type otpCheck int

const (
	otpOK otpCheck = iota
	otpMissing
	otpInvalid
	otpExpired
)

// otpFailure is the 400 reply for a failed OTP check.
func otpFailure(c otpCheck) reply {
	switch c {
	case otpMissing:
		return onboardingErrors(400, codeMessage{"Missing-OTP", "OTP is required: send the 6-digit OTP from the Fatoora portal in the OTP header"})
	case otpExpired:
		return onboardingErrors(400, codeMessage{"Invalid-OTP", "The provided OTP has expired; generate a new one on the Fatoora portal"})
	}
	return onboardingErrors(400, codeMessage{"Invalid-OTP", "The provided OTP is invalid"})
}

// consumeOTP checks code for vat inside tx and, when valid, marks it used. The sandbox
// OTP 123345 is never used up.
func (s *Server) consumeOTP(ctx context.Context, tx *sql.Tx, code, vat string, now time.Time) (otpCheck, error) {
	if code == "" {
		return otpMissing, nil
	}
	if len(code) != 6 || !allDigits(code) {
		return otpInvalid, nil
	}
	if s.opts.SandboxOTPs {
		switch code {
		case sandboxOTPValid:
			return otpOK, nil
		case sandboxOTPInvalid:
			return otpInvalid, nil
		case sandboxOTPExpired:
			return otpExpired, nil
		}
	}
	var id, exp int64
	var otpVAT string
	err := tx.QueryRowContext(ctx, `SELECT id, vat, expires_at FROM otps WHERE code = ? AND used_at IS NULL
		ORDER BY id DESC LIMIT 1`, code).Scan(&id, &otpVAT, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return otpInvalid, nil
	}
	if err != nil {
		return 0, fmt.Errorf("check otp: %w", err)
	}
	if otpVAT != vat {
		return otpInvalid, nil
	}
	if !now.Before(fromMS(exp)) {
		return otpExpired, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE otps SET used_at = ? WHERE id = ?`, ms(now), id); err != nil {
		return 0, fmt.Errorf("use otp: %w", err)
	}
	return otpOK, nil
}
