package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/posagent/posagent/store"
)

// Options configures Open.
type Options struct {
	// Logger receives the journal's logs; nil discards them.
	Logger *slog.Logger
	// BusyTimeout is how long a statement waits for another process's lock.
	BusyTimeout time.Duration
	// PageSize is the SQLite page size of a new database (512-65536, a
	// power of two); it cannot change once the file exists. The WAL
	// writes whole pages, and a sale's commit touches some 17 pages of
	// which most carry a few dozen changed bytes (index leaves, the
	// chain state, the page-1 header), so small pages write least:
	// measured per sale, WAL and checkpoint, 13 KB at 512 bytes, 18 KB at
	// 1024 and 25 KB at 2048 (BenchmarkAppend).
	PageSize int
	// AutoCheckpointPages is the WAL size, in pages, at which a commit
	// checkpoints the WAL into the database file. A longer WAL lets the
	// checkpoint write each hot page once for more sales.
	AutoCheckpointPages int
	// MaxDatabaseBytes caps the database file (0: no cap). Beyond it every
	// write fails with store.ErrStorageFull, as on a full disk.
	MaxDatabaseBytes int64
	// Readers is the number of read-only connections.
	Readers int
}

// DefaultOptions returns the options the daemon uses.
func DefaultOptions() Options {
	return Options{
		BusyTimeout:         5 * time.Second,
		PageSize:            512,
		AutoCheckpointPages: 4000,
		Readers:             4,
	}
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.BusyTimeout < 0 {
		return &store.ValidationError{Field: "Options.BusyTimeout", Reason: "is negative"}
	}
	if o.PageSize < 512 || o.PageSize > 65536 || o.PageSize&(o.PageSize-1) != 0 {
		return &store.ValidationError{Field: "Options.PageSize", Reason: fmt.Sprintf("must be a power of two from 512 to 65536, got %d", o.PageSize)}
	}
	if o.AutoCheckpointPages < 1 {
		return &store.ValidationError{Field: "Options.AutoCheckpointPages", Reason: fmt.Sprintf("must be 1 or more, got %d", o.AutoCheckpointPages)}
	}
	if o.MaxDatabaseBytes < 0 {
		return &store.ValidationError{Field: "Options.MaxDatabaseBytes", Reason: "is negative"}
	}
	if o.Readers < 1 || o.Readers > 64 {
		return &store.ValidationError{Field: "Options.Readers", Reason: fmt.Sprintf("must be 1 to 64, got %d", o.Readers)}
	}
	return nil
}

// applicationID marks the file as a posagent journal ("POSA").
const applicationID = 0x504f5341

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one schema version.
type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	ents, err := migrationFS.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its version", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must run 1, 2, 3…", m.name)
		}
	}
	return ms, nil
}

// DB is an open journal. It implements store.Store. Its methods are safe
// for concurrent use.
type DB struct {
	w      *sql.DB // one connection: every write
	r      *sql.DB // read-only connections
	log    *slog.Logger
	path   string
	closed atomic.Bool
}

var _ store.Store = (*DB)(nil)

// connector opens connections with per-database pragmas that mattn's DSN
// cannot express.
type connector struct {
	drv *sqlite3.SQLiteDriver
	dsn string
}

func (c *connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c *connector) Driver() driver.Driver                        { return c.drv }

// Open opens (creating it when missing) the journal at path and applies
// pending migrations.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("journal open: %w", err)
	}
	if path == "" {
		return nil, fmt.Errorf("journal open: %w", &store.ValidationError{Field: "path", Reason: "is empty"})
	}
	if err := checkDictionary(); err != nil {
		return nil, fmt.Errorf("journal open: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	uri := "file:" + (&url.URL{Path: path}).EscapedPath()
	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)

	wq := url.Values{
		"_txlock": {"immediate"}, "_busy_timeout": {busy}, "_synchronous": {"FULL"},
		"_foreign_keys": {"1"}, "_recursive_triggers": {"1"}, "_stmt_cache_size": {"32"},
	}
	w := sql.OpenDB(&connector{dsn: uri + "?" + wq.Encode(), drv: &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error { return setupWriter(c, opts) },
	}})
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	db := &DB{w: w, log: log, path: path}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("journal open %s: %w", path, err)
	}

	rq := url.Values{"mode": {"ro"}, "_busy_timeout": {busy}, "_stmt_cache_size": {"16"}}
	r := sql.OpenDB(&connector{dsn: uri + "?" + rq.Encode(), drv: &sqlite3.SQLiteDriver{}})
	r.SetMaxOpenConns(opts.Readers)
	r.SetMaxIdleConns(opts.Readers)
	db.r = r

	head, err := db.Head(ctx)
	if err != nil {
		db.Close(ctx)
		return nil, fmt.Errorf("journal open %s: %w", path, err)
	}
	log.Info("journal open", "path", path, "head_icv", head.ICV, "page_size", opts.PageSize)
	return db, nil
}

// setupWriter runs on the write connection when it opens: the page size of
// a new file, WAL, the quota and the checkpoint interval.
func setupWriter(c *sqlite3.SQLiteConn, o Options) error {
	pages, err := pragmaInt(c, "PRAGMA page_count")
	if err != nil {
		return err
	}
	if pages == 0 {
		if _, err := c.Exec(fmt.Sprintf("PRAGMA page_size = %d", o.PageSize), nil); err != nil {
			return err
		}
	}
	mode, err := pragmaString(c, "PRAGMA journal_mode = WAL")
	if err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, WAL refused", mode)
	}
	if _, err := c.Exec(fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", o.AutoCheckpointPages), nil); err != nil {
		return err
	}
	if o.MaxDatabaseBytes > 0 {
		size, err := pragmaInt(c, "PRAGMA page_size")
		if err != nil {
			return err
		}
		maxPages := max(o.MaxDatabaseBytes/size, 1)
		if _, err := c.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", maxPages), nil); err != nil {
			return err
		}
	}
	return nil
}

func pragmaString(c *sqlite3.SQLiteConn, q string) (string, error) {
	rows, err := c.Query(q, nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	v := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(v); err != nil {
		return "", fmt.Errorf("%s: %w", q, err)
	}
	switch x := v[0].(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	}
	return "", fmt.Errorf("%s: unexpected %T", q, v[0])
}

func pragmaInt(c *sqlite3.SQLiteConn, q string) (int64, error) {
	s, err := pragmaString(c, q)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}

// ErrSchemaTooNew: the file was written by a newer posagent.
var ErrSchemaTooNew = errors.New("journal schema is newer than this program")

// ErrNotJournal: the file is an SQLite database of something else.
var ErrNotJournal = errors.New("not a posagent journal")

func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	for {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return classify(err)
		}
		var version, appID int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
			tx.Rollback()
			return err
		}
		if appID != applicationID {
			var objects int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&objects); err != nil {
				tx.Rollback()
				return err
			}
			if appID != 0 || objects != 0 {
				tx.Rollback()
				return ErrNotJournal
			}
		}
		if version > len(ms) {
			tx.Rollback()
			return fmt.Errorf("%w: file is at version %d, this program knows %d", ErrSchemaTooNew, version, len(ms))
		}
		if version == len(ms) {
			return tx.Rollback()
		}
		m := ms[version]
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, classify(err))
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, classify(err))
		}
		db.log.Info("journal migrated", "version", m.version, "migration", m.name)
	}
}

// Close checkpoints the WAL into the database file and closes the
// connections. In-flight calls finish first.
func (db *DB) Close(ctx context.Context) error {
	if db.closed.Swap(true) {
		return nil
	}
	var errs []error
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if _, err := db.w.ExecContext(context.WithoutCancel(ctx), "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		errs = append(errs, fmt.Errorf("journal close: checkpoint: %w", err))
	}
	errs = append(errs, db.w.Close())
	err := errors.Join(errs...)
	db.log.Info("journal closed", "path", db.path, "error", err)
	return err
}

func (db *DB) check() error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// classify wraps SQLite's full-disk and quota errors with
// store.ErrStorageFull.
func classify(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		if se.Code == sqlite3.ErrFull || se.SystemErrno == syscall.ENOSPC || se.SystemErrno == syscall.EDQUOT {
			return fmt.Errorf("%w: %w", store.ErrStorageFull, err)
		}
	}
	return err
}

// Time columns hold Unix nanoseconds; NULL is the zero time.
func nanos(t time.Time) int64 { return t.UnixNano() }

func nullNanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNanos(ns int64) time.Time { return time.Unix(0, ns).In(store.KSA) }

func fromNull(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}
