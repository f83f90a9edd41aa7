package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/store"
	"github.com/posagent/posagent/store/sqlite"
	"github.com/posagent/posagent/store/storetest"
)

// TestTamperDetected edits a closed journal with the sqlite3 CLI, dropping
// the append-only triggers first, and checks that Verify names the first
// broken row: table, row and what is wrong.
func TestTamperDetected(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	db := openDB(t, base)
	g := newInvoices(t, true, 7)
	ctx := context.Background()
	var docs []*store.Document
	for i := range 6 {
		now := storetest.T0.Add(time.Duration(i) * time.Minute)
		d := storetest.MustAppend(t, db, g, fmt.Sprintf("sale-%d", i), now)
		if err := db.MarkPrinted(ctx, d.UUID, now.Add(time.Second), false); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	if _, err := db.Record(ctx, store.Entry{At: storetest.T0.Add(time.Hour), Actor: "cashier:1", Action: "session.logout"}); err != nil {
		t.Fatal(err)
	}
	// Audit log: seq 1 issued ICV 1, 2 printed ICV 1, 3 issued ICV 2, 4 printed ICV 2, …, 12 printed ICV 6, 13 logout.
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// A forger who rewrites ICV 4's XML and every checksum of its row, but
	// cannot recompute the signed invoice hash without breaking ICV 5's PIH.
	forged := bytes.Replace(docs[3].XML, []byte(">231.15<"), []byte(">131.15<"), 1)
	if bytes.Equal(forged, docs[3].XML) {
		t.Fatal("template has no 231.15 total to forge")
	}
	payload, xmlLen, xmlSHA, sum := sqlite.ForgedColumnsForTest(t, docs[3], forged)

	cases := []struct {
		name  string
		sql   string
		table string
		row   int64
		field string
	}{
		{"document total edited",
			"DROP TRIGGER documents_no_update; UPDATE documents SET tax_inclusive = '999.99' WHERE icv = 3;",
			"documents", 3, "row_sum"},
		{"document XML forged with consistent checksums",
			fmt.Sprintf("DROP TRIGGER documents_no_update; UPDATE documents SET payload = X'%s', xml_len = %d, xml_sha256 = '%s', row_sum = '%s' WHERE icv = 4;", payload, xmlLen, xmlSHA, sum),
			"documents", 4, "hash"},
		{"document hash edited",
			fmt.Sprintf("DROP TRIGGER documents_no_update; UPDATE documents SET hash = '%s' WHERE icv = 2;", docs[0].Hash),
			"documents", 2, "row_sum"},
		{"last document deleted",
			"DROP TRIGGER documents_no_delete; DELETE FROM documents WHERE icv = 6;",
			"audit", 11, "document_icv"},
		{"audit row deleted",
			"DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 4;",
			"audit", 5, "seq"},
		{"audit row edited",
			"DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'someone-else' WHERE seq = 2;",
			"audit", 2, "hash"},
		{"last audit row deleted",
			"DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 13;",
			"chain_state", 1, "audit_seq"},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.db")
			b, err := os.ReadFile(base)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			sqlite3(t, path, c.sql)
			db := openDB(t, path)
			defer db.Close(ctx)
			rep, err := db.Verify(ctx, rehash)
			if err != nil {
				t.Fatal(err)
			}
			p := rep.First()
			if p == nil {
				t.Fatal("Verify found nothing")
			}
			if p.Table != c.table || p.RowID != c.row || p.Field != c.field {
				t.Fatalf("first problem: %s\nwant %s row %d field %s\nall: %v", p, c.table, c.row, c.field, rep.Problems)
			}
			var ie *store.IntegrityError
			if err := rep.Err(); !errors.As(err, &ie) || ie.Problem != *p {
				t.Fatalf("Report.Err() = %v", err)
			}
			t.Logf("%s: %s", c.name, rep.Err())
		})
	}

	// Without the invoice hash function, the forged XML still shows: the
	// audit entry that journaled ICV 4 recorded the row's checksum.
	t.Run("forged_XML_without_rehash", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "journal.db")
		b, _ := os.ReadFile(base)
		os.WriteFile(path, b, 0o644)
		sqlite3(t, path, cases[1].sql)
		db := openDB(t, path)
		defer db.Close(ctx)
		rep, err := db.Verify(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p := rep.First(); p == nil || p.Table != "audit" || p.RowID != 7 || p.Field != "details" {
			t.Fatalf("first problem without rehash: %v", p)
		}
		t.Log(rep.Err())
	})

	// The untouched copy verifies.
	db = openDB(t, base)
	defer db.Close(ctx)
	rep, err := db.Verify(ctx, rehash)
	if err != nil || !rep.OK() || rep.Documents != 6 || rep.AuditEntries != 13 {
		t.Fatalf("untouched journal: %+v, %v", rep, err)
	}
}
