package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/ubl"
	"github.com/posagent/posagent/store"
	"github.com/posagent/posagent/store/sqlite"
	"github.com/posagent/posagent/store/storetest"
)

// templatePath is the ZATCA SDK's signed simplified invoice, the template
// of every test document.
const templatePath = "../../testdata/zatca/Samples/Simplified/Invoice/Simplified_Invoice.xml"

// rehash is the real invoice hash (SPEC §4).
var rehash store.RehashFunc = ubl.InvoiceHashBase64

func readTemplate(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func openDB(t testing.TB, path string, mod ...func(*sqlite.Options)) *sqlite.DB {
	t.Helper()
	opts := sqlite.DefaultOptions()
	opts.Logger = testLogger(t)
	for _, m := range mod {
		m(&opts)
	}
	db, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newInvoices(t testing.TB, foreign bool, seed uint64) *storetest.Invoices {
	t.Helper()
	g, err := storetest.NewInvoices(readTemplate(t), rehash, foreign, seed)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) store.Store {
			return openDB(t, filepath.Join(t.TempDir(), "journal.db"))
		},
		Template: readTemplate(t),
		Rehash:   rehash,
	})
}

// TestDurabilitySettings checks what the file and the write connection
// run with: WAL, synchronous=FULL, foreign keys, the page size and the
// schema version.
func TestDurabilitySettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	db := openDB(t, path)
	g := newInvoices(t, false, 1)
	storetest.MustAppend(t, db, g, "k1", storetest.T0)
	if err := db.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := sqlite3(t, path, "PRAGMA journal_mode; PRAGMA page_size; PRAGMA user_version; PRAGMA application_id; SELECT count(*) FROM documents;")
	ms, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("wal\n512\n%d\n1347375937\n1", len(ms)); out != want {
		t.Fatalf("file settings:\n%s\nwant\n%s", out, want)
	}
	// Close checkpointed: the WAL is empty.
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Fatalf("WAL is %d bytes after Close, want 0", fi.Size())
	}
	// The write connection's own settings.
	db = openDB(t, path)
	defer db.Close(context.Background())
	for pragma, want := range map[string]string{"synchronous": "2", "foreign_keys": "1", "journal_mode": "wal", "recursive_triggers": "1"} {
		if got := sqlite.WriterPragmaForTest(t, db, pragma); got != want {
			t.Fatalf("PRAGMA %s = %s on the write connection, want %s", pragma, got, want)
		}
	}
}

// TestReopen checks that a journal reopens with its chain, and that a
// file of something else or of a newer schema is refused.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal.db")
	db := openDB(t, path)
	g := newInvoices(t, false, 1)
	var last *store.Document
	for i := range 3 {
		last = storetest.MustAppend(t, db, g, "k"+string(rune('a'+i)), storetest.T0.Add(time.Duration(i)*time.Second))
	}
	db.Close(context.Background())
	db = openDB(t, path)
	h, err := db.Head(context.Background())
	if err != nil || h.ICV != 3 || h.Hash != last.Hash {
		t.Fatalf("head after reopen %+v, %v", h, err)
	}
	next := storetest.MustAppend(t, db, g, "kd", storetest.T0.Add(time.Minute))
	if next.ICV != 4 || next.PIH != last.Hash {
		t.Fatalf("append after reopen: ICV %d PIH %s", next.ICV, next.PIH)
	}
	db.Close(context.Background())

	other := filepath.Join(dir, "other.db")
	sqlite3(t, other, "CREATE TABLE t (x); INSERT INTO t VALUES (1);")
	if _, err := sqlite.Open(context.Background(), other, sqlite.DefaultOptions()); !errors.Is(err, sqlite.ErrNotJournal) {
		t.Fatalf("open a foreign database: %v, want ErrNotJournal", err)
	}
	sqlite3(t, path, "PRAGMA user_version = 99;")
	if _, err := sqlite.Open(context.Background(), path, sqlite.DefaultOptions()); !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Fatalf("open a newer schema: %v, want ErrSchemaTooNew", err)
	}
	bad := sqlite.DefaultOptions()
	bad.PageSize = 1000
	if _, err := sqlite.Open(context.Background(), filepath.Join(dir, "x.db"), bad); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("page size 1000: %v, want ErrInvalid", err)
	}
}

// TestTriggersRefuseRewrites runs SQL by hand (the sqlite3 CLI) against a
// journal: every UPDATE or DELETE of documents and audit rows, and every
// INSERT that breaks a chain, is refused.
func TestTriggersRefuseRewrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	db := openDB(t, path)
	g := newInvoices(t, false, 1)
	for i := range 3 {
		storetest.MustAppend(t, db, g, "k"+string(rune('a'+i)), storetest.T0.Add(time.Duration(i)*time.Second))
	}
	db.Close(context.Background())
	for _, c := range []struct{ sql, msg string }{
		{"UPDATE documents SET tax_inclusive = '1.00' WHERE icv = 2;", "documents are append-only: UPDATE refused"},
		{"DELETE FROM documents WHERE icv = 3;", "documents are append-only: DELETE refused"},
		{"UPDATE audit SET actor = 'nobody' WHERE seq = 1;", "audit log is append-only: UPDATE refused"},
		{"DELETE FROM audit WHERE seq = 3;", "audit log is append-only: DELETE refused"},
		{"INSERT INTO documents SELECT 5, issued_at, hash, hash, 'u5', 'k5', type, type_name, irn, seller_vat, tax_exclusive, vat_total, tax_inclusive, billing_reference, supply_date, failure_period, journaled_at, xml_len, xml_sha256, row_sum, payload_codec, payload FROM documents WHERE icv = 3;", "ICV must be the last ICV + 1"},
		{"INSERT INTO documents SELECT 4, issued_at, hash, pih, 'u4', 'k4', type, type_name, irn, seller_vat, tax_exclusive, vat_total, tax_inclusive, billing_reference, supply_date, failure_period, journaled_at, xml_len, xml_sha256, row_sum, payload_codec, payload FROM documents WHERE icv = 3;", "PIH must be the hash of the previous document"},
		{"INSERT OR REPLACE INTO documents SELECT 4, issued_at, hash, hash, uuid, 'k4', type, type_name, irn, seller_vat, tax_exclusive, vat_total, tax_inclusive, billing_reference, supply_date, failure_period, journaled_at, xml_len, xml_sha256, row_sum, payload_codec, payload FROM documents WHERE icv = 3;", "UUID already journaled"},
		{"INSERT INTO audit SELECT seq + 2, at, actor, action, details, document_icv, chain_hash, hash, hash FROM audit WHERE seq = 3;", "seq must be the last seq + 1"},
		{"UPDATE chain_state SET doc_icv = 2;", "document head must be the last document"},
		{"UPDATE report_status SET status = 'reported', final = 1 WHERE icv = 1; UPDATE report_status SET status = 'pending', final = 0 WHERE icv = 1;", "a final status does not change"},
	} {
		out, err := sqlite3Err(path, c.sql)
		if err == nil || !strings.Contains(out, c.msg) {
			t.Fatalf("%s\n=> %v %s\nwant refusal %q", c.sql, err, out, c.msg)
		}
	}
	db = openDB(t, path)
	defer db.Close(context.Background())
	rep, err := db.Verify(context.Background(), rehash)
	if err != nil || !rep.OK() || rep.Documents != 3 {
		t.Fatalf("journal after refused rewrites: %+v %v", rep.First(), err)
	}
}

// sqlite3 runs the sqlite3 CLI on path and returns its trimmed output.
func sqlite3(t testing.TB, path, script string) string {
	t.Helper()
	out, err := sqlite3Err(path, script)
	if err != nil {
		t.Fatalf("sqlite3 %s: %v\n%s", script, err, out)
	}
	return out
}

func sqlite3Err(path, script string) (string, error) {
	cmd := exec.Command("sqlite3", "-batch", "-bail", path)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// newInvoicesFrom is newInvoices without a testing.TB, for the crash
// child: documents with a terminal's own certificate and signatures.
func newInvoicesFrom(tmpl []byte, seed uint64) (*storetest.Invoices, error) {
	return storetest.NewInvoices(tmpl, rehash, true, seed)
}
