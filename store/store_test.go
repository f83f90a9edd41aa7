package store_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestGenesisPIH(t *testing.T) {
	sum := sha256.Sum256([]byte("0"))
	want := base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:])))
	if store.GenesisPIH != want || len(want) != 88 {
		t.Fatalf("GenesisPIH = %s, want base64(hex(sha256(\"0\"))) = %s", store.GenesisPIH, want)
	}
	sdk, err := os.ReadFile("../testdata/zatca/PIH/pih.txt")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(sdk)) != store.GenesisPIH {
		t.Fatalf("GenesisPIH differs from the SDK's PIH/pih.txt")
	}
	if h := store.GenesisHead(); h.ICV != 0 || h.Hash != store.GenesisPIH {
		t.Fatalf("GenesisHead = %+v", h)
	}
}

func validDocument() *store.Document {
	return &store.Document{
		ICV: 7, UUID: "8e6000cf-1a98-4174-b3e7-b5d5954bc10d", IdempotencyKey: "pos-1/sale-7", Type: store.TypeInvoice,
		TypeName: "0200000", IRN: "SME00010", IssuedAt: time.Date(2026, 11, 21, 10, 0, 0, 0, store.KSA),
		Hash: "Hss2gNFjBY5OJn/5CEVZSSNUMrSf4QlCMxwsioPN6fA=", PIH: "NWZlY2ViNjZmZmM4NmYzOGQ5NTI3ODZjNmQ2OTZjNzljMmRiYzIzOWRkNGU5MWI0NjcyOWQ3M2EyN2ZiNTdlOQ==",
		XML: []byte("<Invoice/>"), QR: "AQVTZWxsZXI=", SellerVAT: "399999999900003",
		TaxExclusive: "201.00", VATTotal: "30.15", TaxInclusive: "231.15",
	}
}

func TestDocumentValidate(t *testing.T) {
	if err := validDocument().Validate(); err != nil {
		t.Fatalf("valid document: %v", err)
	}
	cases := []struct {
		field string
		edit  func(d *store.Document)
	}{
		{"ICV", func(d *store.Document) { d.ICV = 0 }},
		{"UUID", func(d *store.Document) { d.UUID = "8e6000cf 1a98" }},
		{"UUID", func(d *store.Document) { d.UUID = "" }},
		{"IdempotencyKey", func(d *store.Document) { d.IdempotencyKey = strings.Repeat("k", 129) }},
		{"IdempotencyKey", func(d *store.Document) { d.IdempotencyKey = "é" }},
		{"Type", func(d *store.Document) { d.Type = "380" }},
		{"TypeName", func(d *store.Document) { d.TypeName = "020000" }},
		{"TypeName", func(d *store.Document) { d.TypeName = "0200200" }},
		{"IRN", func(d *store.Document) { d.IRN = "A\x00B" }},
		{"IRN", func(d *store.Document) { d.IRN = strings.Repeat("9", 128) }},
		{"IssuedAt", func(d *store.Document) { d.IssuedAt = time.Time{} }},
		{"Hash", func(d *store.Document) { d.Hash = store.GenesisPIH }},
		{"Hash", func(d *store.Document) { d.Hash = "Hss2gNFjBY5OJn/5CEVZSSNUMrSf4QlCMxwsioPN6f==" }},
		{"PIH", func(d *store.Document) { d.PIH = "" }},
		{"PIH", func(d *store.Document) { d.ICV = 1; d.PIH = d.Hash }},
		{"XML", func(d *store.Document) { d.XML = make([]byte, store.MaxXMLBytes+1) }},
		{"QR", func(d *store.Document) { d.QR = "" }},
		{"QR", func(d *store.Document) { d.QR = "AQVTZWxsZXI" }},
		{"SellerVAT", func(d *store.Document) { d.SellerVAT = "399999999900004" }},
		{"SellerVAT", func(d *store.Document) { d.SellerVAT = "39999999990003" }},
		{"TaxExclusive", func(d *store.Document) { d.TaxExclusive = "" }},
		{"VATTotal", func(d *store.Document) { d.VATTotal = "30,15" }},
		{"TaxInclusive", func(d *store.Document) { d.TaxInclusive = "+231.15" }},
		{"BillingReference", func(d *store.Document) { d.BillingReference = strings.Repeat("x", 5001) }},
		{"SupplyDate", func(d *store.Document) { d.SupplyDate = "21/11/2026" }},
	}
	for _, c := range cases {
		d := validDocument()
		c.edit(d)
		err := d.Validate()
		var ve *store.ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field || !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want a *ValidationError on %s", c.field, err, c.field)
		}
	}
	d := validDocument()
	d.ICV, d.PIH = 1, store.GenesisPIH
	d.Type, d.BillingReference, d.SupplyDate = store.TypeCreditNote, "SME00009", "2026-11-20"
	if err := d.Validate(); err != nil {
		t.Fatalf("first credit note: %v", err)
	}
}

func TestFileName(t *testing.T) {
	d := validDocument()
	for irn, want := range map[string]string{
		"SME00010":         "399999999900003_20261121T100000_SME00010.xml",
		"2021/05/26 23555": "399999999900003_20261121T100000_2021-05-26-23555.xml",
		"فاتورة-7":         "399999999900003_20261121T100000_-------7.xml",
		"../../etc/passwd": "399999999900003_20261121T100000_------etc-passwd.xml",
	} {
		d.IRN = irn
		if got := store.FileName(d); got != want {
			t.Errorf("FileName(IRN %q) = %s, want %s", irn, got, want)
		}
	}
	// KSA time, whatever zone IssuedAt is in.
	d.IRN, d.IssuedAt = "X", time.Date(2026, 11, 21, 21, 30, 5, 0, time.UTC)
	if got, want := store.FileName(d), "399999999900003_20261122T003005_X.xml"; got != want {
		t.Errorf("FileName across midnight KSA = %s, want %s", got, want)
	}
}

func TestAttemptValidate(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, store.KSA)
	good := []store.Attempt{
		{At: at, HTTPStatus: 200, Outcome: store.OutcomeReported},
		{At: at, HTTPStatus: 409, Outcome: store.OutcomeAlreadyReported},
		{At: at, HTTPStatus: 0, Outcome: store.OutcomeRetry, NextAttemptAt: at.Add(time.Minute), TransportError: "timeout"},
		{At: at, HTTPStatus: 401, Outcome: store.OutcomePaused, NextAttemptAt: at},
	}
	for i, a := range good {
		if err := a.Validate(); err != nil {
			t.Errorf("good attempt %d: %v", i, err)
		}
	}
	bad := map[string]store.Attempt{
		"Attempt.At":              {HTTPStatus: 200, Outcome: store.OutcomeReported},
		"Attempt.HTTPStatus":      {At: at, HTTPStatus: 600, Outcome: store.OutcomeReported},
		"Attempt.Outcome":         {At: at, HTTPStatus: 200, Outcome: store.OutcomePending},
		"Attempt.NextAttemptAt":   {At: at, HTTPStatus: 503, Outcome: store.OutcomeRetry, NextAttemptAt: at.Add(-time.Second)},
		"Attempt.ResponseJSON":    {At: at, HTTPStatus: 200, Outcome: store.OutcomeReported, ResponseJSON: make([]byte, store.MaxResponseBytes+1)},
		"Attempt.Warnings/Errors": {At: at, HTTPStatus: 400, Outcome: store.OutcomeRejected, Errors: []store.Message{{Message: "no code"}}},
	}
	for field, a := range bad {
		var ve *store.ValidationError
		if err := a.Validate(); !errors.As(err, &ve) || ve.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
}

// TestAuditHashGolden pins the audit hash definition: a change breaks
// every exported log, so it is a golden file (refresh with -update and
// review).
func TestAuditHashGolden(t *testing.T) {
	e := store.Entry{Seq: 42, At: time.Date(2026, 11, 21, 10, 0, 0, 123456789, store.KSA), Actor: "cashier:17",
		Action: "session.login", Details: json.RawMessage(`{"terminal":"T1"}`), DocumentICV: 7,
		ChainHash: "Hss2gNFjBY5OJn/5CEVZSSNUMrSf4QlCMxwsioPN6fA="}
	first, err := store.AuditHash(store.AuditGenesis, &e)
	if err != nil {
		t.Fatal(err)
	}
	e.DocumentICV = 0
	second, err := store.AuditHash(first, &e)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s\n%s\n", first, second)
	golden := filepath.Join("testdata", "audit_hash.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("audit hashes:\n%s\nwant (golden):\n%s", got, want)
	}
	// Every field counts.
	base := e
	for name, edit := range map[string]func(e *store.Entry){
		"seq":     func(e *store.Entry) { e.Seq++ },
		"at":      func(e *store.Entry) { e.At = e.At.Add(time.Nanosecond) },
		"actor":   func(e *store.Entry) { e.Actor += "x" },
		"action":  func(e *store.Entry) { e.Action += "x" },
		"details": func(e *store.Entry) { e.Details = json.RawMessage(`{"terminal":"T2"}`) },
		"icv":     func(e *store.Entry) { e.DocumentICV = 1 },
		"chain":   func(e *store.Entry) { e.ChainHash = store.GenesisPIH },
		// Field boundaries are length-prefixed: moving bytes between fields changes the hash.
		"boundary": func(e *store.Entry) { e.Actor, e.Action = "cashier:1", "7session.login" },
	} {
		x := base
		edit(&x)
		if h, _ := store.AuditHash(first, &x); h == second {
			t.Errorf("changing %s leaves the hash unchanged", name)
		}
	}
	if _, err := store.AuditHash("zz", &e); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad prev hash: %v", err)
	}
}

func TestEntryPrepare(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, store.KSA)
	e := store.Entry{At: at, Actor: "operator", Action: "session.login", Details: json.RawMessage(" {\n \"a\" : 1 } ")}
	if err := e.Prepare(false); err != nil || string(e.Details) != `{"a":1}` {
		t.Fatalf("Prepare: %v, details %s", err, e.Details)
	}
	e = store.Entry{At: at, Actor: "operator", Action: "session.login"}
	if err := e.Prepare(false); err != nil || string(e.Details) != `{}` {
		t.Fatalf("empty details: %v, %s", err, e.Details)
	}
	e = store.Entry{At: at, Actor: "operator", Action: store.ActionIssued}
	if err := e.Prepare(true); err != nil {
		t.Fatalf("internal journal action: %v", err)
	}
	if err := (&store.Entry{At: at, Actor: "", Action: "a.b"}).Prepare(false); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty actor: %v", err)
	}
}

func TestExportedEntryRoundTrip(t *testing.T) {
	e := store.Entry{Seq: 3, At: time.Date(2026, 11, 21, 10, 0, 0, 987654321, store.KSA), Actor: "a", Action: "b.c",
		Details: json.RawMessage(`{}`), ChainHash: store.GenesisPIH, PrevHash: store.AuditGenesis}
	h, err := store.AuditHash(e.PrevHash, &e)
	if err != nil {
		t.Fatal(err)
	}
	e.Hash = h
	b, err := json.Marshal(store.ExportedEntry{Seq: e.Seq, At: e.At.Format(time.RFC3339Nano), Actor: e.Actor, Action: e.Action,
		Details: e.Details, ChainHash: e.ChainHash, PrevHash: e.PrevHash, Hash: e.Hash})
	if err != nil {
		t.Fatal(err)
	}
	var x store.ExportedEntry
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	back, err := x.Entry()
	if err != nil {
		t.Fatal(err)
	}
	if h2, _ := store.AuditHash(back.PrevHash, &back); h2 != e.Hash {
		t.Fatalf("re-hashed exported entry: %s, want %s", h2, e.Hash)
	}
}
