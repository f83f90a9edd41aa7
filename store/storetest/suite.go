package storetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/store"
)

// Harness is what Run needs from an implementation's test.
type Harness struct {
	// Open returns a new, empty store; the suite closes it.
	Open func(t *testing.T) store.Store
	// Template is a signed invoice for NewInvoices.
	Template []byte
	// Rehash is the invoice hash function (agent/ubl.InvoiceHashBase64).
	Rehash store.RehashFunc
}

// T0 is the suite's clock origin: 2026-11-21 10:00:00 KSA.
var T0 = time.Date(2026, 11, 21, 10, 0, 0, 0, store.KSA)

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, g *Invoices)
	}{
		{"GenesisHead", testGenesisHead},
		{"AppendAndRead", testAppendAndRead},
		{"Idempotency", testIdempotency},
		{"ChainEnforced", testChainEnforced},
		{"InvalidDocument", testInvalidDocument},
		{"BuildErrorUsesNothing", testBuildError},
		{"ClockGuard", testClockGuard},
		{"ClockEvent", testClockEvent},
		{"MarkPrinted", testMarkPrinted},
		{"Outbox", testOutbox},
		{"Audit", testAudit},
		{"VerifyHealthy", testVerifyHealthy},
		{"Export", testExport},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := h.Open(t)
			closed := false
			t.Cleanup(func() {
				if !closed {
					s.Close(context.Background())
				}
			})
			g, err := NewInvoices(h.Template, h.Rehash, false, 1)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "Closed" {
				closed = true
			}
			tc.fn(t, s, g)
		})
	}
}

// MustAppend appends the next generated document with key at now.
func MustAppend(t testing.TB, s store.Journal, g *Invoices, key string, now time.Time) *store.Document {
	t.Helper()
	d, existed, err := s.Append(context.Background(), key, now, g.Build(now))
	if err != nil {
		t.Fatalf("append %s: %v", key, err)
	}
	if existed {
		t.Fatalf("append %s: existed", key)
	}
	return d
}

// SameDocument fails unless got has want's immutable fields.
func SameDocument(t testing.TB, got, want *store.Document) {
	t.Helper()
	if got.ICV != want.ICV || got.UUID != want.UUID || got.IdempotencyKey != want.IdempotencyKey ||
		got.Type != want.Type || got.TypeName != want.TypeName || got.IRN != want.IRN ||
		!got.IssuedAt.Equal(want.IssuedAt) || got.Hash != want.Hash || got.PIH != want.PIH ||
		!bytes.Equal(got.XML, want.XML) || got.QR != want.QR || got.SellerVAT != want.SellerVAT ||
		got.TaxExclusive != want.TaxExclusive || got.VATTotal != want.VATTotal || got.TaxInclusive != want.TaxInclusive ||
		got.BillingReference != want.BillingReference || got.SupplyDate != want.SupplyDate ||
		got.FailurePeriod != want.FailurePeriod || !got.JournaledAt.Equal(want.JournaledAt) {
		t.Fatalf("documents differ:\n got ICV %d %s %s key %q issued %s journaled %s xml %d bytes\nwant ICV %d %s %s key %q issued %s journaled %s xml %d bytes",
			got.ICV, got.UUID, got.Hash, got.IdempotencyKey, got.IssuedAt, got.JournaledAt, len(got.XML),
			want.ICV, want.UUID, want.Hash, want.IdempotencyKey, want.IssuedAt, want.JournaledAt, len(want.XML))
	}
}

func testGenesisHead(t *testing.T, s store.Store, _ *Invoices) {
	h, err := s.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.ICV != 0 || h.Hash != store.GenesisPIH || !h.IssuedAt.IsZero() {
		t.Fatalf("empty head = %+v, want genesis", h)
	}
	if _, err := s.GetByICV(context.Background(), 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetByICV(1) on empty store: %v, want ErrNotFound", err)
	}
}

func testAppendAndRead(t *testing.T, s store.Store, g *Invoices) {
	ctx := context.Background()
	var docs []*store.Document
	for i := range 5 {
		d := MustAppend(t, s, g, "sale-"+strconv.Itoa(i), T0.Add(time.Duration(i)*time.Minute+123*time.Millisecond))
		docs = append(docs, d)
	}
	if docs[0].ICV != 1 || docs[0].PIH != store.GenesisPIH {
		t.Fatalf("first document ICV %d PIH %s, want 1 and the genesis PIH", docs[0].ICV, docs[0].PIH)
	}
	for i := 1; i < len(docs); i++ {
		if docs[i].ICV != docs[i-1].ICV+1 || docs[i].PIH != docs[i-1].Hash {
			t.Fatalf("ICV %d does not continue ICV %d", docs[i].ICV, docs[i-1].ICV)
		}
	}
	if docs[0].Report.Status != store.OutcomePending {
		t.Fatalf("new document report status %q, want pending", docs[0].Report.Status)
	}
	if !docs[0].JournaledAt.Equal(T0.Add(123 * time.Millisecond)) {
		t.Fatalf("JournaledAt %s, want the Append's now", docs[0].JournaledAt)
	}
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := docs[len(docs)-1]
	if head.ICV != last.ICV || head.Hash != last.Hash || !head.IssuedAt.Equal(last.IssuedAt) {
		t.Fatalf("head %+v, want ICV %d %s %s", head, last.ICV, last.Hash, last.IssuedAt)
	}
	for _, want := range docs {
		for name, get := range map[string]func() (*store.Document, error){
			"Get":      func() (*store.Document, error) { return s.Get(ctx, want.UUID) },
			"GetByICV": func() (*store.Document, error) { return s.GetByICV(ctx, want.ICV) },
			"GetByKey": func() (*store.Document, error) { return s.GetByKey(ctx, want.IdempotencyKey) },
		} {
			got, err := get()
			if err != nil {
				t.Fatalf("%s ICV %d: %v", name, want.ICV, err)
			}
			SameDocument(t, got, want)
			if got.IssuedAt.Location() != store.KSA {
				t.Fatalf("%s: IssuedAt in %s, want KSA", name, got.IssuedAt.Location())
			}
		}
	}
	list, err := s.List(ctx, store.Range{From: 2, To: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ICV != 2 || list[2].ICV != 4 {
		t.Fatalf("List(2-4) returned %d documents", len(list))
	}
	all, err := s.List(ctx, store.Range{})
	if err != nil || len(all) != 5 {
		t.Fatalf("List(all) = %d documents, %v", len(all), err)
	}
	if _, err := s.List(ctx, store.Range{From: 4, To: 2}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("List(4-2): %v, want ErrInvalid", err)
	}
	if _, err := s.Get(ctx, "no-such-uuid"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(unknown): %v, want ErrNotFound", err)
	}
}

func testIdempotency(t *testing.T, s store.Store, g *Invoices) {
	ctx := context.Background()
	calls := 0
	build := func(ctx context.Context, h store.Head) (*store.Document, error) {
		calls++
		return g.Build(T0)(ctx, h)
	}
	first, existed, err := s.Append(ctx, "pos-key-1", T0, build)
	if err != nil || existed {
		t.Fatalf("first append: existed %v, %v", existed, err)
	}
	second, existed, err := s.Append(ctx, "pos-key-1", T0.Add(time.Minute), build)
	if err != nil {
		t.Fatal(err)
	}
	if !existed {
		t.Fatal("second append with the same key: existed = false")
	}
	if calls != 1 {
		t.Fatalf("build called %d times, want 1", calls)
	}
	SameDocument(t, second, first)
	// A repeated key is answered even when the clock went back meanwhile.
	third, existed, err := s.Append(ctx, "pos-key-1", T0.Add(-time.Hour), build)
	if err != nil || !existed || calls != 1 {
		t.Fatalf("repeat with clock behind: existed %v, calls %d, %v", existed, calls, err)
	}
	SameDocument(t, third, first)
	head, _ := s.Head(ctx)
	if head.ICV != 1 {
		t.Fatalf("head ICV %d after one distinct key, want 1", head.ICV)
	}
	if _, _, err := s.Append(ctx, "", T0, build); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty key: %v, want ErrInvalid", err)
	}
	if _, _, err := s.Append(ctx, "bad\nkey", T0, build); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("key with a newline: %v, want ErrInvalid", err)
	}
}

func testChainEnforced(t *testing.T, s store.Store, g *Invoices) {
	ctx := context.Background()
	MustAppend(t, s, g, "k1", T0)
	head, _ := s.Head(ctx)
	cases := []struct {
		field string
		edit  func(d *store.Document)
	}{
		{"ICV", func(d *store.Document) { d.ICV++ }},
		{"ICV", func(d *store.Document) { d.ICV = 1 }},
		{"PIH", func(d *store.Document) { d.PIH = store.GenesisPIH }},
		{"IssuedAt", func(d *store.Document) { d.IssuedAt = d.IssuedAt.Add(-2 * time.Second) }},
		{"IssuedAt", func(d *store.Document) { d.IssuedAt = d.IssuedAt.Add(time.Hour) }},
		{"IdempotencyKey", func(d *store.Document) { d.IdempotencyKey = "other" }},
	}
	for _, c := range cases {
		now := T0.Add(time.Minute)
		_, _, err := s.Append(ctx, "k2", now, func(ctx context.Context, h store.Head) (*store.Document, error) {
			d, err := g.Document(h, now)
			if err == nil {
				c.edit(d)
			}
			return d, err
		})
		var ce *store.ChainError
		if !errors.As(err, &ce) || !errors.Is(err, store.ErrChainMismatch) || ce.Field != c.field {
			t.Fatalf("edited %s: %v, want a *ChainError on %s", c.field, err, c.field)
		}
	}
	after, _ := s.Head(ctx)
	if after != head {
		t.Fatalf("head moved after refused appends: %+v, was %+v", after, head)
	}
	if _, err := s.GetByKey(ctx, "k2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused key journaled: %v", err)
	}
	MustAppend(t, s, g, "k2", T0.Add(time.Minute)) // ICV 2 still free
}

func testInvalidDocument(t *testing.T, s store.Store, g *Invoices) {
	ctx := context.Background()
	first := MustAppend(t, s, g, "k1", T0)
	cases := []struct {
		field string
		edit  func(d *store.Document)
	}{
		{"UUID", func(d *store.Document) { d.UUID = "not a uuid!" }},
		{"UUID", func(d *store.Document) { d.UUID = first.UUID }},
		{"Type", func(d *store.Document) { d.Type = "386" }},
		{"TypeName", func(d *store.Document) { d.TypeName = "0300000" }},
		{"IRN", func(d *store.Document) { d.IRN = "" }},
		{"Hash", func(d *store.Document) { d.Hash = "abc" }},
		{"XML", func(d *store.Document) { d.XML = nil }},
		{"QR", func(d *store.Document) { d.QR = "%%%" }},
		{"QR", func(d *store.Document) { d.QR = strings.Repeat("A", 1004) }},
		{"SellerVAT", func(d *store.Document) { d.SellerVAT = "123456789012345" }},
		{"TaxInclusive", func(d *store.Document) { d.TaxInclusive = "-1.00" }},
		{"VATTotal", func(d *store.Document) { d.VATTotal = "1e3" }},
		{"SupplyDate", func(d *store.Document) { d.SupplyDate = "2026-13-01" }},
	}
	for _, c := range cases {
		_, _, err := s.Append(ctx, "k2", T0.Add(time.Minute), func(ctx context.Context, h store.Head) (*store.Document, error) {
			d, err := g.Document(h, T0.Add(time.Minute))
			if err == nil {
				c.edit(d)
			}
			return d, err
		})
		var ve *store.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, store.ErrInvalid) || ve.Field != c.field {
			t.Fatalf("bad %s: %v, want a *ValidationError on %s", c.field, err, c.field)
		}
	}
	if _, _, err := s.Append(ctx, "k2", T0.Add(time.Minute), func(context.Context, store.Head) (*store.Document, error) { return nil, nil }); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("nil document: %v, want ErrInvalid", err)
	}
	if h, _ := s.Head(ctx); h.ICV != 1 {
		t.Fatalf("head ICV %d after refused appends, want 1", h.ICV)
	}
}

func testBuildError(t *testing.T, s store.Store, g *Invoices) {
	ctx := context.Background()
	boom := errors.New("signer unavailable")
	_, _, err := s.Append(ctx, "k1", T0, func(context.Context, store.Head) (*store.Document, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("build error: %v, want it wrapped", err)
	}
	d := MustAppend(t, s, g, "k1", T0)
	if d.ICV != 1 {
		t.Fatalf("ICV after a failed build %d, want 1 (nothing used up)", d.ICV)
	}
}

func testClockGuard(t *testing.T, s store.Store, g *Invoices) {
	ctx := store.WithActor(context.Background(), "cashier:7")
	last := MustAppend(t, s, g, "k1", T0.Add(10*time.Minute))
	called := false
	_, _, err := s.Append(ctx, "k2", T0, func(ctx context.Context, h store.Head) (*store.Document, error) {
		called = true
		return g.Build(T0)(ctx, h)
	})
	var ce *store.ClockError
	if !errors.As(err, &ce) || !errors.Is(err, store.ErrClockWentBack) {
		t.Fatalf("append with the clock 10 minutes back: %v, want a *ClockError", err)
	}
	if called {
		t.Fatal("build was called although the clock went back")
	}
	if ce.LastICV != 1 || !ce.Last.Equal(last.IssuedAt) || !ce.Now.Equal(T0) {
		t.Fatalf("ClockError %+v", ce)
	}
	if h, _ := s.Head(ctx); h.ICV != 1 {
		t.Fatalf("head moved: ICV %d", h.ICV)
	}
	entries, err := s.Entries(ctx, store.AuditFilter{Action: store.ActionClockRefused})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Seq != ce.AuditSeq || entries[0].Actor != "cashier:7" ||
		entries[0].DocumentICV != 1 || entries[0].ChainHash != last.Hash {
		t.Fatalf("clock refusal audit entries = %+v (AuditSeq %d)", entries, ce.AuditSeq)
	}
	var det map[string]any
	if err := json.Unmarshal(entries[0].Details, &det); err != nil || det["last_icv"] != float64(1) || det["idempotency_key"] != "k2" {
		t.Fatalf("clock refusal details %s (%v)", entries[0].Details, err)
	}
	// Same second as the last document: allowed.
	MustAppend(t, s, g, "k2", last.IssuedAt.Add(500*time.Millisecond))
}

func testClockEvent(t *testing.T, s store.Store, _ *Invoices) {
	ctx := context.Background()
	ev := store.ClockEvent{Kind: store.ClockJumpedForward, At: T0.Add(time.Hour), Previous: T0, Source: "board", Detail: "RTC resync"}
	if err := s.RecordClockEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	entries, _ := s.Entries(ctx, store.AuditFilter{Action: store.ActionClockEvent})
	if len(entries) != 1 || !entries[0].At.Equal(ev.At) || !strings.Contains(string(entries[0].Details), `"delta_ms":3600000`) {
		t.Fatalf("clock event entries %+v", entries)
	}
	if err := s.RecordClockEvent(ctx, store.ClockEvent{Kind: "sideways", At: T0, Source: "board"}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("bad kind: %v, want ErrInvalid", err)
	}
}

func testMarkPrinted(t *testing.T, s store.Store, g *Invoices) {
	ctx := context.Background()
	d := MustAppend(t, s, g, "k1", T0)
	if d.Printed.Printed() {
		t.Fatal("new document already printed")
	}
	if err := s.MarkPrinted(ctx, d.UUID, T0.Add(time.Second), false); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPrinted(ctx, d.UUID, T0.Add(2*time.Second), false); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("second original print: %v, want ErrInvalid", err)
	}
	for i := range 2 {
		if err := s.MarkPrinted(ctx, d.UUID, T0.Add(time.Duration(3+i)*time.Second), true); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(ctx, d.UUID)
	if err != nil {
		t.Fatal(err)
	}
	p := got.Printed
	if !p.Printed() || !p.FirstPrintedAt.Equal(T0.Add(time.Second)) || !p.LastPrintedAt.Equal(T0.Add(4*time.Second)) || p.Copies != 2 {
		t.Fatalf("print state %+v", p)
	}
	SameDocument(t, got, d)
	if err := s.MarkPrinted(ctx, "unknown", T0, true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown UUID: %v, want ErrNotFound", err)
	}
	if err := s.MarkPrinted(ctx, d.UUID, T0.Add(-time.Hour), true); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("printed before journaled: %v, want ErrInvalid", err)
	}
	reprints, _ := s.Entries(ctx, store.AuditFilter{Action: store.ActionReprinted, DocumentICV: d.ICV})
	if len(reprints) != 2 {
		t.Fatalf("%d reprint audit entries, want 2", len(reprints))
	}
}

func testOutbox(t *testing.T, s store.Store, g *Invoices) {
	ctx := context.Background()
	var docs []*store.Document
	for i := range 4 {
		docs = append(docs, MustAppend(t, s, g, "k"+strconv.Itoa(i), T0.Add(time.Duration(i)*time.Second)))
	}
	now := T0.Add(time.Minute)
	pending, err := s.Pending(ctx, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 4 || pending[0].ICV != 1 || pending[3].ICV != 4 {
		t.Fatalf("pending %d documents", len(pending))
	}
	SameDocument(t, pending[0], docs[0])
	// ICV 1: 503, retry in 5 minutes. ICV 2: rejected. ICV 3: reported with warnings. ICV 4: untouched.
	retryAt := now.Add(5 * time.Minute)
	if err := s.RecordAttempt(ctx, docs[0].UUID, store.Attempt{At: now, HTTPStatus: 503, Outcome: store.OutcomeRetry, NextAttemptAt: retryAt, ResponseJSON: []byte("Service Unavailable")}); err != nil {
		t.Fatal(err)
	}
	rejection := []store.Message{{Type: "ERROR", Code: "BR-KSA-37", Category: "KSA", Message: "building number must be 4 digits"}}
	if err := s.RecordAttempt(ctx, docs[1].UUID, store.Attempt{At: now, HTTPStatus: 400, Outcome: store.OutcomeRejected, Errors: rejection, ResponseJSON: []byte(`{"reportingStatus":"NOT_REPORTED"}`)}); err != nil {
		t.Fatal(err)
	}
	warn := []store.Message{{Type: "WARNING", Code: "BR-KSA-98", Message: "submitted after 24 hours"}}
	if err := s.RecordAttempt(ctx, docs[2].UUID, store.Attempt{At: now, HTTPStatus: 202, Outcome: store.OutcomeReportedWithWarnings, Warnings: warn}); err != nil {
		t.Fatal(err)
	}
	pending, _ = s.Pending(ctx, now, 10)
	if len(pending) != 1 || pending[0].ICV != 4 {
		t.Fatalf("pending after attempts: %d documents, want only ICV 4", len(pending))
	}
	pending, _ = s.Pending(ctx, retryAt, 10)
	if len(pending) != 2 || pending[0].ICV != 1 || pending[0].Report.Status != store.OutcomeRetry || pending[0].Report.Attempts != 1 {
		t.Fatalf("pending at retry time: %d documents", len(pending))
	}
	if pending, _ = s.Pending(ctx, retryAt, 1); len(pending) != 1 || pending[0].ICV != 1 {
		t.Fatal("limit 1 must return the oldest document")
	}
	if _, err := s.Pending(ctx, now, 0); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("limit 0: %v, want ErrInvalid", err)
	}
	err = s.RecordAttempt(ctx, docs[1].UUID, store.Attempt{At: now.Add(time.Minute), HTTPStatus: 200, Outcome: store.OutcomeReported})
	if !errors.Is(err, store.ErrReportFinal) {
		t.Fatalf("attempt after rejection: %v, want ErrReportFinal", err)
	}
	for name, a := range map[string]store.Attempt{
		"retry without next attempt": {At: now, HTTPStatus: 500, Outcome: store.OutcomeRetry},
		"final with next attempt":    {At: now, HTTPStatus: 200, Outcome: store.OutcomeReported, NextAttemptAt: now},
		"unknown outcome":            {At: now, HTTPStatus: 200, Outcome: "done"},
		"bad status":                 {At: now, HTTPStatus: 42, Outcome: store.OutcomeReported},
	} {
		if err := s.RecordAttempt(ctx, docs[3].UUID, a); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if err := s.RecordAttempt(ctx, "unknown", store.Attempt{At: now, HTTPStatus: 200, Outcome: store.OutcomeReported}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown UUID: %v, want ErrNotFound", err)
	}
	got, _ := s.Get(ctx, docs[2].UUID)
	if got.Report.Status != store.OutcomeReportedWithWarnings || !got.Report.Final() || !got.Report.FinalAt.Equal(now) ||
		len(got.Report.Warnings) != 1 || got.Report.Warnings[0].Code != "BR-KSA-98" || got.Report.HTTPStatus != 202 {
		t.Fatalf("report state %+v", got.Report)
	}
	SameDocument(t, got, docs[2])
	atts, err := s.Attempts(ctx, docs[0].UUID)
	if err != nil || len(atts) != 1 || atts[0].HTTPStatus != 503 || string(atts[0].ResponseJSON) != "Service Unavailable" || !atts[0].NextAttemptAt.Equal(retryAt) {
		t.Fatalf("attempts %+v, %v", atts, err)
	}
	dl, err := s.DeadLetters(ctx)
	if err != nil || len(dl) != 1 || dl[0].ICV != 2 || dl[0].HTTPStatus != 400 || len(dl[0].Errors) != 1 || dl[0].Errors[0].Code != "BR-KSA-37" || !dl[0].RejectedAt.Equal(now) {
		t.Fatalf("dead letters %+v, %v", dl, err)
	}
	st, err := s.Stats(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	want := store.OutboxStats{Unreported: 2, Due: 1, NeverAttempted: 1, Retrying: 1, ReportedWithWarnings: 1, Rejected: 1,
		OldestUnreported: docs[0].IssuedAt, OldestUnreportedAge: now.Sub(docs[0].IssuedAt)}
	if !st.OldestUnreported.Equal(want.OldestUnreported) {
		t.Fatalf("stats oldest %s, want %s", st.OldestUnreported, want.OldestUnreported)
	}
	st.OldestUnreported = want.OldestUnreported
	if st != want {
		t.Fatalf("stats %+v\nwant  %+v", st, want)
	}
	finals, _ := s.Entries(ctx, store.AuditFilter{Action: store.ActionReportFinal})
	if len(finals) != 2 {
		t.Fatalf("%d final-outcome audit entries, want 2", len(finals))
	}
}

func testAudit(t *testing.T, s store.Store, g *Invoices) {
	ctx := store.WithActor(context.Background(), "cashier:9")
	e, err := s.Record(ctx, store.Entry{At: T0, Action: "session.login", Details: json.RawMessage(`{ "terminal" : 1 }`)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 1 || e.Actor != "cashier:9" || e.PrevHash != store.AuditGenesis || e.ChainHash != store.GenesisPIH || string(e.Details) != `{"terminal":1}` {
		t.Fatalf("first entry %+v", e)
	}
	d := MustAppend(t, s, g, "k1", T0.Add(time.Second))
	e2, err := s.Record(ctx, store.Entry{At: T0.Add(2 * time.Second), Actor: "operator", Action: "sale.voided", DocumentICV: d.ICV})
	if err != nil {
		t.Fatal(err)
	}
	if e2.ChainHash != d.Hash {
		t.Fatalf("entry after ICV 1 carries chain hash %s, want %s", e2.ChainHash, d.Hash)
	}
	for name, bad := range map[string]store.Entry{
		"reserved action": {At: T0, Action: store.ActionIssued},
		"bad action":      {At: T0, Action: "Login Now"},
		"details array":   {At: T0, Action: "x.y", Details: json.RawMessage(`[1]`)},
		"details broken":  {At: T0, Action: "x.y", Details: json.RawMessage(`{`)},
		"zero time":       {Action: "x.y"},
		"unknown ICV":     {At: T0, Action: "x.y", DocumentICV: 99},
		"seq preset":      {At: T0, Action: "x.y", Seq: 5},
	} {
		if _, err := s.Record(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("%s: %v, want ErrInvalid", name, err)
		}
	}
	all, err := s.Entries(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[1].Action != store.ActionIssued || all[1].DocumentICV != 1 || all[1].ChainHash != d.Hash {
		t.Fatalf("entries %+v", all)
	}
	prev := store.AuditGenesis
	for _, e := range all {
		h, err := store.AuditHash(prev, &e)
		if err != nil || h != e.Hash || e.PrevHash != prev {
			t.Fatalf("entry %d: hash %s, recomputed %s (%v)", e.Seq, e.Hash, h, err)
		}
		prev = e.Hash
	}
	for name, f := range map[string]struct {
		filter store.AuditFilter
		want   int
	}{
		"by action":  {store.AuditFilter{Action: "sale.voided"}, 1},
		"by prefix":  {store.AuditFilter{Action: "journal."}, 1},
		"by actor":   {store.AuditFilter{Actor: "operator"}, 1},
		"by ICV":     {store.AuditFilter{DocumentICV: 1}, 2},
		"by seq":     {store.AuditFilter{FromSeq: 2, ToSeq: 3}, 2},
		"by time":    {store.AuditFilter{Since: T0.Add(time.Second), Until: T0.Add(2 * time.Second)}, 1},
		"with limit": {store.AuditFilter{Limit: 2}, 2},
	} {
		got, err := s.Entries(ctx, f.filter)
		if err != nil || len(got) != f.want {
			t.Fatalf("%s: %d entries, want %d (%v)", name, len(got), f.want, err)
		}
	}
}

func testVerifyHealthy(t *testing.T, s store.Store, g *Invoices) {
	ctx := context.Background()
	for i := range 6 {
		d := MustAppend(t, s, g, "k"+strconv.Itoa(i), T0.Add(time.Duration(i)*time.Second))
		if i%2 == 0 {
			if err := s.MarkPrinted(ctx, d.UUID, T0.Add(time.Duration(i)*time.Second), false); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := s.Verify(ctx, g.rehash)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Documents != 6 || rep.Head.ICV != 6 || !rep.Rehashed || rep.AuditEntries != 9 {
		t.Fatalf("verify report %+v (first problem %v)", rep, rep.First())
	}
	if rep.Err() != nil {
		t.Fatal(rep.Err())
	}
	// A rehash that disagrees shows on ICV 1.
	rep, err = s.Verify(ctx, func([]byte) (string, error) { return store.GenesisPIH[:43] + "=", nil })
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.First(); p == nil || p.Table != "documents" || p.RowID != 1 || p.Field != "hash" {
		t.Fatalf("verify with a disagreeing hash: first problem %v", p)
	}
}

func testExport(t *testing.T, s store.Store, g *Invoices) {
	ctx := context.Background()
	var docs []*store.Document
	for i := range 4 {
		docs = append(docs, MustAppend(t, s, g, "k"+strconv.Itoa(i), T0.Add(time.Duration(i)*time.Second)))
	}
	if err := s.RecordAttempt(ctx, docs[0].UUID, store.Attempt{At: T0.Add(time.Minute), HTTPStatus: 200, Outcome: store.OutcomeReported}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, tarPath := filepath.Join(dir, "archive"), filepath.Join(dir, "archive.tar")
	res, err := store.Export(ctx, s, store.ExportOptions{Dir: out, TarPath: tarPath, Range: store.Range{From: 2}, Now: T0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Documents != 3 || res.FirstICV != 2 || res.LastICV != 4 {
		t.Fatalf("export result %+v", res)
	}
	wantName := "399999999900003_20261121T100001_SME-2.xml"
	if name := store.FileName(docs[1]); name != wantName {
		t.Fatalf("FileName = %s, want %s", name, wantName)
	}
	// Folder.
	for _, d := range docs[1:] {
		b, err := os.ReadFile(filepath.Join(out, store.FileName(d)))
		if err != nil || !bytes.Equal(b, d.XML) {
			t.Fatalf("exported %s: %v (equal %v)", store.FileName(d), err, bytes.Equal(b, d.XML))
		}
	}
	if _, err := os.Stat(filepath.Join(out, store.FileName(docs[0]))); !os.IsNotExist(err) {
		t.Fatalf("ICV 1 exported outside the range: %v", err)
	}
	rows, err := csv.NewReader(mustOpen(t, filepath.Join(out, store.ManifestName))).ReadAll()
	if err != nil || len(rows) != 4 || rows[1][0] != "2" || rows[1][1] != docs[1].UUID || rows[1][6] != docs[1].Hash || rows[1][8] != "pending" || rows[1][9] != wantName {
		t.Fatalf("manifest %v, %v", rows, err)
	}
	checkAuditLog(t, mustOpen(t, filepath.Join(out, store.AuditLogName)), 5)
	// Tar: the same files.
	tr := tar.NewReader(mustOpen(t, tarPath))
	names := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names[hdr.Name] = b
	}
	files := 5 // 3 documents, manifest, audit log
	if _, ok := s.(store.Corrections); ok {
		files++ // links.csv
	}
	if len(names) != files || !bytes.Equal(names[wantName], docs[1].XML) {
		t.Fatalf("tar holds %d files", len(names))
	}
	checkAuditLog(t, bytes.NewReader(names[store.AuditLogName]), 5)
	// Audited, and never overwrites.
	exp, _ := s.Entries(ctx, store.AuditFilter{Action: store.ActionExported})
	if len(exp) != 1 || exp[0].Seq != res.AuditSeq || !strings.Contains(string(exp[0].Details), res.ManifestSHA256) {
		t.Fatalf("export audit entries %+v", exp)
	}
	if _, err := store.Export(ctx, s, store.ExportOptions{Dir: out, Now: T0.Add(2 * time.Hour)}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("export into a non-empty folder: %v, want ErrInvalid", err)
	}
	if _, err := store.Export(ctx, s, store.ExportOptions{TarPath: tarPath, Now: T0.Add(2 * time.Hour)}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("export over an existing tar: %v, want ErrInvalid", err)
	}
	failed, _ := s.Entries(ctx, store.AuditFilter{Action: store.ActionExportFailed})
	if len(failed) != 2 {
		t.Fatalf("%d failed-export audit entries, want 2", len(failed))
	}
	if _, err := store.Export(ctx, s, store.ExportOptions{Now: T0}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("export without a target: %v, want ErrInvalid", err)
	}
}

// checkAuditLog re-checks an exported audit.jsonl with store.AuditHash.
func checkAuditLog(t *testing.T, r io.Reader, want int) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	prev, n := store.AuditGenesis, 0
	for sc.Scan() {
		var x store.ExportedEntry
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			t.Fatal(err)
		}
		e, err := x.Entry()
		if err != nil {
			t.Fatal(err)
		}
		h, err := store.AuditHash(prev, &e)
		if err != nil || h != e.Hash || e.PrevHash != prev {
			t.Fatalf("exported audit entry %d does not chain (%v)", e.Seq, err)
		}
		prev, n = e.Hash, n+1
	}
	if n != want {
		t.Fatalf("exported audit log has %d entries, want %d", n, want)
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func testClosed(t *testing.T, s store.Store, g *Invoices) {
	ctx := context.Background()
	MustAppend(t, s, g, "k1", T0)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, "k2", T0, g.Build(T0)); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
	if _, err := s.Head(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("head after close: %v, want ErrClosed", err)
	}
}
