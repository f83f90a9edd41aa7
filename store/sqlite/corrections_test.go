package sqlite_test

import (
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

// appendWith appends the next generated document, changed by mod, at now.
func appendWith(db *sqlite.DB, g *storetest.Invoices, key string, now time.Time, mod func(*store.Document)) (*store.Document, error) {
	d, _, err := db.Append(context.Background(), key, now, func(ctx context.Context, head store.Head) (*store.Document, error) {
		d, err := g.Document(head, now)
		if err == nil && mod != nil {
			mod(d)
		}
		return d, err
	})
	return d, err
}

func creditNote(orig *store.Document, lines ...store.ReturnedLine) func(*store.Document) {
	return func(d *store.Document) {
		d.Type, d.TypeName = store.TypeCreditNote, "0200000"
		d.Note = &store.NoteRef{IRN: orig.IRN, ICV: orig.ICV}
		d.Returned = lines
	}
}

func pens(qty, amount string) store.ReturnedLine {
	return store.ReturnedLine{Line: "1", Name: "Pen", Quantity: qty, Amount: amount, SoldQuantity: "3", SoldAmount: "117.30"}
}

// TestReturnLimitsInTransaction: the journal itself, in Append's transaction, refuses
// a credit note that takes the returns of an invoice line beyond what was sold, and
// writes nothing; links are append-only and survive a reopen.
func TestReturnLimitsInTransaction(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	db := openDB(t, path)
	g := newInvoices(t, false, 7)
	at := func(i int) time.Time { return storetest.T0.Add(time.Duration(i) * time.Second) }
	inv := storetest.MustAppend(t, db, g, "inv", at(0))

	if _, err := appendWith(db, g, "cn1", at(1), creditNote(inv, pens("2", "78.20"))); err != nil {
		t.Fatal(err)
	}
	head, _ := db.Head(ctx)
	for _, c := range []struct {
		name string
		line store.ReturnedLine
		want string
	}{
		{"one pen too many", pens("2", "0.01"), "quantity 2 more than was sold: sold 3, already returned 2, 1 remains"},
		{"one halala too much", pens("1", "39.11"), "amount 39.11 more than was sold: sold 117.30, already returned 78.20, 39.10 SAR remains"},
	} {
		_, err := appendWith(db, g, "over", at(2), creditNote(inv, c.line))
		var rl *store.ReturnLimitError
		if !errors.As(err, &rl) || !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %v, want a *ReturnLimitError saying %q", c.name, err, c.want)
		}
		if h, _ := db.Head(ctx); h != head {
			t.Fatalf("%s: the refusal moved the head to ICV %d", c.name, h.ICV)
		}
	}
	if _, err := appendWith(db, g, "cn2", at(2), creditNote(inv, pens("1", "39.10"))); err != nil {
		t.Fatalf("the rest: %v", err)
	}
	// A note's own original must be an invoice of this journal.
	if _, err := appendWith(db, g, "bad-ref", at(3), func(d *store.Document) {
		d.Type, d.TypeName = store.TypeCreditNote, "0200000"
		d.Note = &store.NoteRef{IRN: "X", ICV: 2}
	}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("note of a credit note: %v", err)
	}
	// A foreign original is recorded as given.
	foreign, err := appendWith(db, g, "foreign", at(3), func(d *store.Document) {
		d.Type, d.TypeName = store.TypeCreditNote, "0200000"
		d.Note = &store.NoteRef{IRN: "INV-000002", Foreign: true, EGS: "TST-A", IssueDate: "2026-11-20"}
	})
	if err != nil {
		t.Fatal(err)
	}
	// Only a rejected document is replaced.
	if _, err := appendWith(db, g, "replace", at(4), func(d *store.Document) { d.Replaces = inv.ICV }); !errors.Is(err, store.ErrNotDeadLetter) {
		t.Fatalf("replacing a pending document: %v", err)
	}
	db.Close(ctx)

	db = openDB(t, path)
	defer db.Close(ctx)
	got, err := db.Returned(ctx, inv.ICV)
	if err != nil || len(got) != 2 || got[0].Quantity != "2" || got[1].Quantity != "1" {
		t.Fatalf("returned after reopen: %+v %v", got, err)
	}
	l, err := db.Links(ctx, foreign.ICV)
	if err != nil || l.Note == nil || !l.Note.Foreign || l.Note.EGS != "TST-A" || l.Note.IssueDate != "2026-11-20" || l.Note.ICV != 0 {
		t.Fatalf("foreign links: %+v %v", l, err)
	}
	for _, sql := range []string{
		"UPDATE returned_lines SET quantity = '0' WHERE icv = 2;",
		"DELETE FROM note_refs WHERE icv = 2;",
		"UPDATE report_status SET status = 'rejected', final = 1, final_at = 1 WHERE icv = 1; UPDATE report_status SET status = 'pending', final = 0 WHERE icv = 1;",
	} {
		if out, err := sqlite3Err(path, sql); err == nil {
			t.Fatalf("%s accepted: %s", sql, out)
		}
	}
}

// TestResendAndReplace: a rejected document is resent (back to pending, audited) or
// replaced, never both, and each only while it is rejected.
func TestResendAndReplace(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "journal.db"))
	g := newInvoices(t, false, 8)
	at := func(i int) time.Time { return storetest.T0.Add(time.Duration(i) * time.Second) }
	reject := func(d *store.Document, i int) {
		t.Helper()
		if err := db.RecordAttempt(ctx, d.UUID, store.Attempt{At: at(i), HTTPStatus: 400, Outcome: store.OutcomeRejected,
			Errors: []store.Message{{Code: "400", Message: "Bad Request"}}}); err != nil {
			t.Fatal(err)
		}
	}
	a := storetest.MustAppend(t, db, g, "a", at(0))
	b := storetest.MustAppend(t, db, g, "b", at(1))
	if err := db.Resend(ctx, a.UUID, at(2), "x"); !errors.Is(err, store.ErrNotDeadLetter) {
		t.Fatalf("resend of a pending document: %v", err)
	}
	reject(a, 2)
	reject(b, 2)
	if err := db.Resend(store.WithActor(ctx, "cashier:s1"), a.UUID, at(3), "certificate renewed"); err != nil {
		t.Fatal(err)
	}
	if d, _ := db.Get(ctx, a.UUID); d.Report.Status != store.OutcomePending || d.Report.Final() {
		t.Fatalf("after resend: %+v", d.Report)
	}
	ents, _ := db.Entries(ctx, store.AuditFilter{Action: store.ActionResent})
	if len(ents) != 1 || ents[0].Actor != "cashier:s1" || ents[0].DocumentICV != a.ICV {
		t.Fatalf("resend audit %+v", ents)
	}
	fix, err := appendWith(db, g, "fix-b", at(4), func(d *store.Document) { d.Replaces = b.ICV })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appendWith(db, g, "fix-b2", at(5), func(d *store.Document) { d.Replaces = b.ICV }); !errors.Is(err, store.ErrNotDeadLetter) {
		t.Fatalf("second replacement: %v", err)
	}
	if err := db.Resend(ctx, b.UUID, at(5), "x"); !errors.Is(err, store.ErrNotDeadLetter) {
		t.Fatalf("resend of a replaced document: %v", err)
	}
	lb, _ := db.Links(ctx, b.ICV)
	lf, _ := db.Links(ctx, fix.ICV)
	la, _ := db.Links(ctx, a.ICV)
	if lb.ReplacedBy != fix.ICV || lf.Replaces != b.ICV || la.Resends != 1 {
		t.Fatalf("links: b %+v fix %+v a %+v", lb, lf, la)
	}
	if _, err := db.Links(ctx, 99); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("links of an unknown ICV: %v", err)
	}
}

// TestMigrateFromVersion1: a journal written before the corrections tables opens,
// migrates, keeps its documents and verifies.
func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	b, err := os.ReadFile("migrations/0001_journal.sql")
	if err != nil {
		t.Fatal(err)
	}
	v1 := string(b)
	sqlite3(t, path, "PRAGMA page_size = 512; PRAGMA journal_mode = WAL;"+v1+fmt.Sprintf("; PRAGMA user_version = 1; PRAGMA application_id = %d;", 0x504f5341))
	db := openDB(t, path)
	g := newInvoices(t, false, 9)
	d := storetest.MustAppend(t, db, g, "k1", storetest.T0)
	db.Close(ctx)
	ms, _ := os.ReadDir("migrations")
	if out := sqlite3(t, path, "PRAGMA user_version; SELECT count(*) FROM note_refs;"); out != fmt.Sprintf("%d\n0", len(ms)) {
		t.Fatalf("after migration: %q", out)
	}
	db = openDB(t, path)
	defer db.Close(ctx)
	rep, err := db.Verify(ctx, rehash)
	if err != nil || !rep.OK() || rep.Documents != 1 {
		t.Fatalf("verify: %+v %v", rep.First(), err)
	}
	if got, err := db.Get(ctx, d.UUID); err != nil || got.Hash != d.Hash {
		t.Fatalf("document after migration: %v", err)
	}
}
