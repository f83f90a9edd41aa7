package fatoorasim

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// store is the simulator's SQLite state. Writes are serialised by mu (one writer, as
// SQLite has anyway); reads go through the pool concurrently (WAL).
type store struct {
	db *sql.DB
	mu sync.Mutex
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS otps (
	id         INTEGER PRIMARY KEY,
	code       TEXT NOT NULL,
	vat        TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER
);
CREATE INDEX IF NOT EXISTS otps_code ON otps(code);
CREATE TABLE IF NOT EXISTS devices (
	id                    INTEGER PRIMARY KEY,
	vat                   TEXT NOT NULL,
	egs_serial            TEXT NOT NULL,
	common_name           TEXT NOT NULL,
	renewal_not_compliant INTEGER NOT NULL DEFAULT 0,
	last_icv              INTEGER NOT NULL DEFAULT 0,
	last_hash             TEXT NOT NULL DEFAULT '',
	last_uuid             TEXT NOT NULL DEFAULT '',
	UNIQUE (vat, egs_serial)
);
CREATE TABLE IF NOT EXISTS csids (
	request_id    INTEGER PRIMARY KEY,
	kind          TEXT NOT NULL CHECK (kind IN ('compliance', 'production')),
	token         TEXT NOT NULL UNIQUE,
	secret_hash   BLOB NOT NULL,
	cert_der      BLOB NOT NULL,
	serial        TEXT NOT NULL UNIQUE,
	device_id     INTEGER NOT NULL REFERENCES devices(id),
	invoice_types TEXT NOT NULL,
	issued_at     INTEGER NOT NULL,
	not_after     INTEGER NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'superseded')),
	parent_id     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS csids_device ON csids(device_id);
CREATE TABLE IF NOT EXISTS compliance_steps (
	csid_id   INTEGER NOT NULL REFERENCES csids(request_id),
	step      TEXT NOT NULL,
	passed_at INTEGER NOT NULL,
	PRIMARY KEY (csid_id, step)
);
CREATE TABLE IF NOT EXISTS submissions (
	id           INTEGER PRIMARY KEY,
	received_at  INTEGER NOT NULL,
	month        TEXT NOT NULL,
	endpoint     TEXT NOT NULL,
	csid_id      INTEGER NOT NULL,
	device_id    INTEGER NOT NULL,
	uuid         TEXT NOT NULL,
	invoice_hash TEXT NOT NULL,
	icv          INTEGER NOT NULL,
	pih          TEXT NOT NULL,
	http_status  INTEGER NOT NULL,
	outcome      TEXT NOT NULL CHECK (outcome IN ('PASS', 'WARNING', 'ERROR', 'DUPLICATE'))
);
CREATE INDEX IF NOT EXISTS submissions_chain ON submissions(device_id, icv);
CREATE INDEX IF NOT EXISTS submissions_month ON submissions(endpoint, month);
CREATE TABLE IF NOT EXISTS reported (
	uuid          TEXT PRIMARY KEY,
	invoice_hash  TEXT NOT NULL UNIQUE,
	submission_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS issues (
	submission_id INTEGER NOT NULL,
	type          TEXT NOT NULL,
	code          TEXT NOT NULL,
	category      TEXT NOT NULL,
	message       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS issues_submission ON issues(submission_id);
`

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	path := filepath.Join(dir, "state.db")
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open state %s: schema: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// write runs fn in one write transaction.
func (s *store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The transaction must finish even if the client went away: a committed report
	// whose answer was lost is exactly what 409 exists for.
	tx, err := s.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique ||
		errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
}

// ---------------------------------------------------------------------------------
// meta

func (s *store) getMeta(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read meta %s: %w", key, err)
	}
	return v, true, nil
}

func putMeta(ctx context.Context, tx *sql.Tx, key string, value []byte) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES(?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("write meta %s: %w", key, err)
	}
	return nil
}

func (s *store) putMeta(ctx context.Context, key string, value []byte) error {
	return s.write(ctx, func(tx *sql.Tx) error { return putMeta(ctx, tx, key, value) })
}

// ---------------------------------------------------------------------------------
// devices and CSIDs

// csidRow is one issued CSID.
type csidRow struct {
	RequestID    int64
	Kind         string // "compliance" | "production"
	Token        string
	SecretHash   []byte
	CertDER      []byte
	Serial       string // decimal
	DeviceID     int64
	InvoiceTypes string // SAN title, e.g. "0100"
	IssuedAt     time.Time
	NotAfter     time.Time
	Status       string // "active" | "revoked" | "superseded"
	ParentID     int64
	// From the device.
	VAT        string
	EGSSerial  string
	CommonName string
}

const csidCols = `c.request_id, c.kind, c.token, c.secret_hash, c.cert_der, c.serial, c.device_id,
	c.invoice_types, c.issued_at, c.not_after, c.status, c.parent_id, d.vat, d.egs_serial, d.common_name`

func scanCSID(row interface{ Scan(...any) error }) (*csidRow, error) {
	var c csidRow
	var issued, notAfter int64
	err := row.Scan(&c.RequestID, &c.Kind, &c.Token, &c.SecretHash, &c.CertDER, &c.Serial, &c.DeviceID,
		&c.InvoiceTypes, &issued, &notAfter, &c.Status, &c.ParentID, &c.VAT, &c.EGSSerial, &c.CommonName)
	if err != nil {
		return nil, err
	}
	c.IssuedAt, c.NotAfter = fromMS(issued), fromMS(notAfter)
	return &c, nil
}

func (s *store) csidBy(ctx context.Context, where string, arg any) (*csidRow, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+csidCols+` FROM csids c JOIN devices d ON d.id = c.device_id WHERE `+where, arg)
	c, err := scanCSID(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read csid: %w", err)
	}
	return c, nil
}

func (s *store) csidByToken(ctx context.Context, token string) (*csidRow, error) {
	return s.csidBy(ctx, `c.token = ?`, token)
}

func (s *store) csidByID(ctx context.Context, id int64) (*csidRow, error) {
	return s.csidBy(ctx, `c.request_id = ?`, id)
}

func (s *store) csidBySerial(ctx context.Context, serial string) (*csidRow, error) {
	return s.csidBy(ctx, `c.serial = ?`, serial)
}

// deviceID returns the id of the device (vat, egs serial), creating it.
func deviceID(ctx context.Context, tx *sql.Tx, vat, egsSerial, cn string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM devices WHERE vat = ? AND egs_serial = ?`, vat, egsSerial).Scan(&id)
	if err == nil {
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET common_name = ? WHERE id = ?`, cn, id); err != nil {
			return 0, err
		}
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO devices(vat, egs_serial, common_name) VALUES(?, ?, ?)`, vat, egsSerial, cn)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func insertCSID(ctx context.Context, tx *sql.Tx, c *csidRow) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO csids(request_id, kind, token, secret_hash, cert_der, serial,
		device_id, invoice_types, issued_at, not_after, status, parent_id) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)`,
		c.RequestID, c.Kind, c.Token, c.SecretHash, c.CertDER, c.Serial, c.DeviceID, c.InvoiceTypes,
		ms(c.IssuedAt), ms(c.NotAfter), c.Status, c.ParentID)
	return err
}

func (s *store) complianceSteps(ctx context.Context, csidID int64) (map[string]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT step, passed_at FROM compliance_steps WHERE csid_id = ?`, csidID)
	if err != nil {
		return nil, fmt.Errorf("read compliance steps: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var step string
		var at int64
		if err := rows.Scan(&step, &at); err != nil {
			return nil, fmt.Errorf("read compliance steps: %w", err)
		}
		out[step] = fromMS(at)
	}
	return out, rows.Err()
}

// ---------------------------------------------------------------------------------
// Submissions

type submission struct {
	ReceivedAt  time.Time
	Endpoint    string // "reporting" | "clearance" | "compliance"
	CSIDID      int64
	DeviceID    int64
	UUID        string
	InvoiceHash string
	ICV         int64
	PIH         string
	HTTPStatus  int
	Outcome     string // PASS | WARNING | ERROR | DUPLICATE
	Issues      []Message
}

func insertSubmission(ctx context.Context, tx *sql.Tx, sub *submission) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO submissions(received_at, month, endpoint, csid_id, device_id,
		uuid, invoice_hash, icv, pih, http_status, outcome) VALUES(?,?,?,?,?,?,?,?,?,?,?)`,
		ms(sub.ReceivedAt), sub.ReceivedAt.In(ksa).Format("2006-01"), sub.Endpoint, sub.CSIDID, sub.DeviceID,
		sub.UUID, sub.InvoiceHash, sub.ICV, sub.PIH, sub.HTTPStatus, sub.Outcome)
	if err != nil {
		return 0, fmt.Errorf("record submission: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("record submission: %w", err)
	}
	for _, m := range sub.Issues {
		if m.Type == "INFO" {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO issues(submission_id, type, code, category, message) VALUES(?,?,?,?,?)`,
			id, m.Type, m.Code, m.Category, m.Message); err != nil {
			return 0, fmt.Errorf("record issue: %w", err)
		}
	}
	return id, nil
}

// hashAtICV returns the invoice hash submitted by device for icv on the reporting or
// clearance endpoint, if any.
func hashAtICV(ctx context.Context, tx *sql.Tx, deviceID, icv int64) (string, bool, error) {
	var h string
	err := tx.QueryRowContext(ctx, `SELECT invoice_hash FROM submissions
		WHERE device_id = ? AND icv = ? AND endpoint IN ('reporting', 'clearance') AND outcome != 'DUPLICATE'
		ORDER BY id DESC LIMIT 1`, deviceID, icv).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read chain: %w", err)
	}
	return h, true, nil
}
