package fatoorasim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// AdminClient calls a running simulator's admin API (cmd/fatoora-sim's portal
// subcommands use it). The zero HTTP field means http.DefaultClient.
type AdminClient struct {
	// BaseURL is the simulator's (or its admin listener's) base URL, e.g.
	// "http://127.0.0.1:8443".
	BaseURL string
	HTTP    *http.Client
}

// AdminStatusError is a non-2xx answer of the admin API. It matches ErrInvalidInput
// (400) and ErrNotFound (404) with errors.Is.
type AdminStatusError struct {
	Op      string
	Status  int
	Message string
}

func (e *AdminStatusError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.Op, e.Status, e.Message)
}

// Is maps the status to the package's sentinels.
func (e *AdminStatusError) Is(target error) bool {
	return target == ErrInvalidInput && e.Status == http.StatusBadRequest ||
		target == ErrNotFound && e.Status == http.StatusNotFound
}

func (c *AdminClient) do(ctx context.Context, op, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	raw, err := c.raw(ctx, op, method, path, body)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: decode response: %w", op, err)
	}
	return nil
}

func (c *AdminClient) raw(ctx context.Context, op, method, path string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: read response: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		var ae AdminError
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &ae) == nil && ae.Error != "" {
			msg = ae.Error
		}
		return nil, &AdminStatusError{Op: op, Status: resp.StatusCode, Message: msg}
	}
	return raw, nil
}

// GenerateOTPs issues n OTPs for a VAT number.
func (c *AdminClient) GenerateOTPs(ctx context.Context, vat string, n int) ([]OTP, error) {
	var out struct {
		OTPs []OTP `json:"otps"`
	}
	err := c.do(ctx, "admin generate otps", http.MethodPost, "/admin/otps", map[string]any{"vat": vat, "count": n}, &out)
	return out.OTPs, err
}

// OTPs lists issued OTPs ("" for every VAT number).
func (c *AdminClient) OTPs(ctx context.Context, vat string) ([]OTP, error) {
	var out struct {
		OTPs []OTP `json:"otps"`
	}
	err := c.do(ctx, "admin list otps", http.MethodGet, "/admin/otps?vat="+url.QueryEscape(vat), nil, &out)
	return out.OTPs, err
}

// Devices lists onboarded devices and their CSIDs.
func (c *AdminClient) Devices(ctx context.Context) ([]Device, error) {
	var out struct {
		Devices []Device `json:"devices"`
	}
	err := c.do(ctx, "admin devices", http.MethodGet, "/admin/devices", nil, &out)
	return out.Devices, err
}

// RevokeCSID revokes a CSID by requestID.
func (c *AdminClient) RevokeCSID(ctx context.Context, requestID int64) error {
	return c.do(ctx, "admin revoke", http.MethodPost, "/admin/csids/"+strconv.FormatInt(requestID, 10)+"/revoke", nil, nil)
}

// SetRenewalNotCompliant sets the renewal answer (428 or 200) of one device.
func (c *AdminClient) SetRenewalNotCompliant(ctx context.Context, deviceID int64, on bool) error {
	return c.do(ctx, "admin device renewal", http.MethodPut, "/admin/devices/"+strconv.FormatInt(deviceID, 10)+"/renewal",
		map[string]bool{"notCompliant": on}, nil)
}

// ForceRenewalNotCompliant makes every renewal answer 428 while on.
func (c *AdminClient) ForceRenewalNotCompliant(ctx context.Context, on bool) error {
	return c.do(ctx, "admin renewal", http.MethodPut, "/admin/renewal", map[string]bool{"forceNotCompliant": on}, nil)
}

// Stats returns the monthly statistics ("" for every month).
func (c *AdminClient) Stats(ctx context.Context, month string) ([]MonthStats, error) {
	var out struct {
		Months []MonthStats `json:"months"`
	}
	err := c.do(ctx, "admin stats", http.MethodGet, "/admin/stats?month="+url.QueryEscape(month), nil, &out)
	return out.Months, err
}

// IssuesCSV returns the CSV export of errors and warnings ("" for every month).
func (c *AdminClient) IssuesCSV(ctx context.Context, month string) ([]byte, error) {
	return c.raw(ctx, "admin issues csv", http.MethodGet, "/admin/issues.csv?month="+url.QueryEscape(month), nil)
}

// Clock returns the simulator's clock.
func (c *AdminClient) Clock(ctx context.Context) (ClockState, error) {
	var out ClockState
	err := c.do(ctx, "admin clock", http.MethodGet, "/admin/clock", nil, &out)
	return out, err
}

// SetClock changes the simulator's clock.
func (c *AdminClient) SetClock(ctx context.Context, change ClockChange) (ClockState, error) {
	var out ClockState
	err := c.do(ctx, "admin set clock", http.MethodPut, "/admin/clock", change, &out)
	return out, err
}

// AddFault installs a fault rule.
func (c *AdminClient) AddFault(ctx context.Context, f Fault) (Fault, error) {
	var out Fault
	err := c.do(ctx, "admin add fault", http.MethodPost, "/admin/faults", f, &out)
	return out, err
}

// Faults lists the fault rules with their counters.
func (c *AdminClient) Faults(ctx context.Context) ([]Fault, error) {
	var out struct {
		Faults []Fault `json:"faults"`
	}
	err := c.do(ctx, "admin faults", http.MethodGet, "/admin/faults", nil, &out)
	return out.Faults, err
}

// RemoveFault deletes one rule.
func (c *AdminClient) RemoveFault(ctx context.Context, id int64) error {
	return c.do(ctx, "admin remove fault", http.MethodDelete, "/admin/faults/"+strconv.FormatInt(id, 10), nil, nil)
}

// ClearFaults deletes every rule.
func (c *AdminClient) ClearFaults(ctx context.Context) error {
	return c.do(ctx, "admin clear faults", http.MethodDelete, "/admin/faults", nil, nil)
}

// CACertificatePEM returns the simulator CA's certificate.
func (c *AdminClient) CACertificatePEM(ctx context.Context) ([]byte, error) {
	return c.raw(ctx, "admin ca", http.MethodGet, "/admin/ca.pem", nil)
}
