package fatoorasim

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Device is an onboarded EGS unit (VAT number + EGS serial from the CSR's SAN) with
// the CSIDs issued to it, as the Fatoora portal lists them.
type Device struct {
	ID                  int64  `json:"id"`
	VAT                 string `json:"vat"`
	EGSSerial           string `json:"egsSerial"`
	CommonName          string `json:"commonName"`
	RenewalNotCompliant bool   `json:"renewalNotCompliant"`
	LastICV             int64  `json:"lastICV"`
	LastInvoiceHash     string `json:"lastInvoiceHash"`
	CSIDs               []CSID `json:"csids"`
}

// CSID is one issued compliance or production CSID.
type CSID struct {
	RequestID       int64     `json:"requestID"`
	Kind            string    `json:"kind"`   // compliance | production
	Status          string    `json:"status"` // active | revoked | superseded
	Expired         bool      `json:"expired"`
	SerialNumber    string    `json:"serialNumber"`
	InvoiceTypes    string    `json:"invoiceTypes"`
	IssuedAt        time.Time `json:"issuedAt"`
	NotAfter        time.Time `json:"notAfter"`
	ParentID        int64     `json:"parentID,omitempty"`
	ComplianceSteps []string  `json:"complianceSteps,omitempty"`
}

// Devices lists every onboarded device with its CSIDs.
func (s *Server) Devices(ctx context.Context) ([]Device, error) {
	rows, err := s.st.db.QueryContext(ctx, `SELECT id, vat, egs_serial, common_name, renewal_not_compliant,
		last_icv, last_hash FROM devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	var out []Device
	for rows.Next() {
		var d Device
		var nc int
		if err := rows.Scan(&d.ID, &d.VAT, &d.EGSSerial, &d.CommonName, &nc, &d.LastICV, &d.LastInvoiceHash); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list devices: %w", err)
		}
		d.RenewalNotCompliant = nc != 0
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	now := s.Now()
	for i := range out {
		rows, err := s.st.db.QueryContext(ctx, `SELECT `+csidCols+` FROM csids c JOIN devices d ON d.id = c.device_id
			WHERE c.device_id = ? ORDER BY c.issued_at, c.request_id`, out[i].ID)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		out[i].CSIDs = []CSID{}
		for rows.Next() {
			c, err := scanCSID(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("list devices: %w", err)
			}
			out[i].CSIDs = append(out[i].CSIDs, CSID{
				RequestID: c.RequestID, Kind: c.Kind, Status: c.Status, Expired: !now.Before(c.NotAfter),
				SerialNumber: c.Serial, InvoiceTypes: c.InvoiceTypes, IssuedAt: c.IssuedAt, NotAfter: c.NotAfter,
				ParentID: c.ParentID,
			})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		for j := range out[i].CSIDs {
			c := &out[i].CSIDs[j]
			if c.Kind != "compliance" {
				continue
			}
			steps, err := s.st.complianceSteps(ctx, c.RequestID)
			if err != nil {
				return nil, fmt.Errorf("list devices: %w", err)
			}
			for st := range steps {
				c.ComplianceSteps = append(c.ComplianceSteps, st)
			}
			sort.Strings(c.ComplianceSteps)
		}
	}
	if out == nil {
		out = []Device{}
	}
	return out, nil
}

// RevokeCSID revokes a CSID by its requestID: further calls with it get 401, and
// documents signed with its certificate are refused.
func (s *Server) RevokeCSID(ctx context.Context, requestID int64) error {
	var n int64
	err := s.st.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE csids SET status = 'revoked' WHERE request_id = ?`, requestID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke csid %d: %w", requestID, err)
	}
	if n == 0 {
		return fmt.Errorf("revoke csid %d: %w", requestID, ErrNotFound)
	}
	s.log.Info("csid revoked", "request_id", requestID)
	return nil
}

// SetRenewalNotCompliant makes renewals of this device answer 428 NOT_COMPLIANT (on) or
// 200 (off).
func (s *Server) SetRenewalNotCompliant(ctx context.Context, deviceID int64, on bool) error {
	var n int64
	err := s.st.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE devices SET renewal_not_compliant = ? WHERE id = ?`, boolInt(on), deviceID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("set renewal policy of device %d: %w", deviceID, err)
	}
	if n == 0 {
		return fmt.Errorf("set renewal policy of device %d: %w", deviceID, ErrNotFound)
	}
	return nil
}

// ForceRenewalNotCompliant makes every renewal answer 428 NOT_COMPLIANT while on.
func (s *Server) ForceRenewalNotCompliant(ctx context.Context, on bool) error {
	v := []byte("0")
	if on {
		v = []byte("1")
	}
	if err := s.st.putMeta(ctx, metaForceNotCompliant, v); err != nil {
		return fmt.Errorf("force renewal policy: %w", err)
	}
	s.forceNotCompliant.Store(on)
	return nil
}

// RenewalNotCompliantForced reports the global renewal policy.
func (s *Server) RenewalNotCompliantForced() bool { return s.forceNotCompliant.Load() }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// MonthStats are the reporting statistics of one month (KSA time), as the Fatoora
// portal shows them.
type MonthStats struct {
	Month                string `json:"month"` // YYYY-MM
	Accepted             int    `json:"accepted"`
	AcceptedWithWarnings int    `json:"acceptedWithWarnings"`
	Rejected             int    `json:"rejected"`
	Duplicates           int    `json:"duplicates"`
}

var monthRE = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

func checkMonth(op, month string) error {
	if month != "" && !monthRE.MatchString(month) {
		return fmt.Errorf("%s: month %q must be YYYY-MM: %w", op, month, ErrInvalidInput)
	}
	return nil
}

// Stats returns the statistics of reported (and cleared) documents per month, oldest
// first; month ("YYYY-MM") restricts them to one month.
func (s *Server) Stats(ctx context.Context, month string) ([]MonthStats, error) {
	if err := checkMonth("stats", month); err != nil {
		return nil, err
	}
	q := `SELECT month,
		SUM(outcome = 'PASS'), SUM(outcome = 'WARNING'), SUM(outcome = 'ERROR'), SUM(outcome = 'DUPLICATE')
		FROM submissions WHERE endpoint IN ('reporting', 'clearance')`
	var args []any
	if month != "" {
		q += ` AND month = ?`
		args = append(args, month)
	}
	rows, err := s.st.db.QueryContext(ctx, q+` GROUP BY month ORDER BY month`, args...)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	defer rows.Close()
	out := []MonthStats{}
	for rows.Next() {
		var m MonthStats
		if err := rows.Scan(&m.Month, &m.Accepted, &m.AcceptedWithWarnings, &m.Rejected, &m.Duplicates); err != nil {
			return nil, fmt.Errorf("stats: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// IssuesCSVHeader is the header row of WriteIssuesCSV.
var IssuesCSVHeader = []string{"received_at", "endpoint", "request_id", "vat", "egs_serial", "uuid", "icv",
	"invoice_hash", "http_status", "type", "code", "category", "message"}

// WriteIssuesCSV writes every error and warning returned for reported, cleared or
// compliance documents (optionally of one month) as CSV.
func (s *Server) WriteIssuesCSV(ctx context.Context, w io.Writer, month string) error {
	if err := checkMonth("issues csv", month); err != nil {
		return err
	}
	q := `SELECT s.received_at, s.endpoint, s.csid_id, d.vat, d.egs_serial, s.uuid, s.icv, s.invoice_hash,
		s.http_status, i.type, i.code, i.category, i.message
		FROM issues i JOIN submissions s ON s.id = i.submission_id JOIN devices d ON d.id = s.device_id`
	var args []any
	if month != "" {
		q += ` WHERE s.month = ?`
		args = append(args, month)
	}
	rows, err := s.st.db.QueryContext(ctx, q+` ORDER BY s.id, i.rowid`, args...)
	if err != nil {
		return fmt.Errorf("issues csv: %w", err)
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	if err := cw.Write(IssuesCSVHeader); err != nil {
		return fmt.Errorf("issues csv: %w", err)
	}
	for rows.Next() {
		var at, csid, icv int64
		var status int
		var endpoint, vat, egs, uuid, hash, typ, code, cat, msg string
		if err := rows.Scan(&at, &endpoint, &csid, &vat, &egs, &uuid, &icv, &hash, &status, &typ, &code, &cat, &msg); err != nil {
			return fmt.Errorf("issues csv: %w", err)
		}
		rec := []string{fromMS(at).Format(time.RFC3339), endpoint, strconv.FormatInt(csid, 10), vat, csvCell(egs), csvCell(uuid),
			strconv.FormatInt(icv, 10), csvCell(hash), strconv.Itoa(status), typ, csvCell(code), cat, csvCell(msg)}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("issues csv: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("issues csv: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("issues csv: %w", err)
	}
	return nil
}

// csvCell defuses values that a spreadsheet would run as a formula (the UUID of a
// rejected document is whatever the client sent).
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// Acceptances counts, per document UUID, the submissions to endpoint ("reporting",
// "clearance" or "compliance") that the simulator accepted as new (PASS or WARNING;
// not duplicates, not rejections). An EGS that reports each document exactly once has
// 1 for every UUID.
func (s *Server) Acceptances(ctx context.Context, endpoint string) (map[string]int, error) {
	rows, err := s.st.db.QueryContext(ctx, `SELECT uuid, COUNT(*) FROM submissions
		WHERE endpoint = ? AND outcome IN ('PASS', 'WARNING') GROUP BY uuid`, endpoint)
	if err != nil {
		return nil, fmt.Errorf("acceptances: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var u string
		var n int
		if err := rows.Scan(&u, &n); err != nil {
			return nil, fmt.Errorf("acceptances: %w", err)
		}
		out[u] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("acceptances: %w", err)
	}
	return out, nil
}
