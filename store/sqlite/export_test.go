package sqlite

import (
	"context"
	"encoding/hex"
	"testing"

	"github.com/posagent/posagent/store"
)

// WriterPragmaForTest reads a pragma on the write connection.
func WriterPragmaForTest(t testing.TB, db *DB, pragma string) string {
	t.Helper()
	var v string
	if err := db.w.QueryRowContext(context.Background(), "PRAGMA "+pragma).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// ForgedColumnsForTest returns the payload (hex), xml_len, xml_sha256 and
// row_sum a document row would carry with xml in place of d.XML: what a
// forger who rewrites a row consistently, but cannot re-sign, writes.
func ForgedColumnsForTest(t testing.TB, d *store.Document, xml []byte) (payloadHex string, xmlLen int, xmlSHA, sum string) {
	t.Helper()
	p, err := encodePayload(xml, d.QR)
	if err != nil {
		t.Fatal(err)
	}
	f := *d
	f.XML = xml
	xs := sha256Hex(xml)
	return hex.EncodeToString(p), len(xml), xs, rowSum(&f, xs)
}
