package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

func TestSQLiteWriteVerify(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "wal.db")
	err := sqliteWrite(ctx, []string{"-db", db, "-max", "5"})
	if err == nil || !strings.Contains(err.Error(), "no power cut came") {
		t.Fatalf("sqliteWrite without a cut: %v", err)
	}
	if err := sqliteVerify(ctx, []string{"-db", db, "-min", "5"}); err != nil {
		t.Fatalf("verify 5 rows: %v", err)
	}
	if err := sqliteVerify(ctx, []string{"-db", db, "-min", "6"}); err == nil || !strings.Contains(err.Error(), "6 commits were acknowledged") {
		t.Fatalf("verify with a lost commit: %v", err)
	}
	// Writing again continues the sequence.
	if err := sqliteWrite(ctx, []string{"-db", db, "-max", "7"}); err == nil {
		t.Fatal("second write: no error")
	}
	if err := sqliteVerify(ctx, []string{"-db", db, "-min", "7"}); err != nil {
		t.Fatalf("verify 7 rows: %v", err)
	}
	// A changed row and a missing row are found.
	for name, q := range map[string]string{
		"changed": "UPDATE rows SET v = 'x' WHERE i = 3",
		"missing": "DELETE FROM rows WHERE i = 2",
	} {
		conn, err := sql.Open("sqlite3", db)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(q); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if err := sqliteVerify(ctx, []string{"-db", db, "-min", "1"}); err == nil || !strings.Contains(err.Error(), "is not the row written") {
			t.Fatalf("%s row: verify = %v", name, err)
		}
	}
	if err := sqliteVerify(ctx, []string{"-db", filepath.Join(t.TempDir(), "absent.db")}); err == nil {
		t.Fatal("verify of a missing database passed")
	}
}

func TestSerialPayload(t *testing.T) {
	p := serialPayload()
	if bytes.Contains(p, []byte{0x10, 0x04}) {
		t.Fatal("the payload contains DLE EOT: the printer would answer in the middle")
	}
	for b := 0; b < 256; b++ {
		if !bytes.Contains(p, []byte{byte(b)}) {
			t.Fatalf("byte %#x missing", b)
		}
	}
	if !bytes.HasPrefix(p, []byte{0x1b, '@'}) || !bytes.HasSuffix(p, []byte{0x1d, 'V', 66, 0}) {
		t.Fatalf("payload framing %x...%x", p[:2], p[len(p)-4:])
	}
}
