package agent_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/agent"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/agent/ubl"
	"github.com/posagent/posagent/store"
)

// TestReceiptMapping maps documents issued from every testdata sale (SDK test key,
// fixed clock) to receipts and compares them with agent/testdata/receipts/*.json (the
// QR payload, which changes with any byte of the document, is checked against the
// document instead). Refresh with -update.
func TestReceiptMapping(t *testing.T) {
	st := sdkStamp(t)
	seller := loadSeller(t)
	files, err := filepath.Glob("../testdata/sales/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sales: %v", err)
	}
	issued := time.Date(2026, 11, 21, 10, 0, 0, 0, ubl.KSA)
	for i, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sale, err := invoice.DecodeSale(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		doc, err := invoice.Compute(sale, seller)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h := ubl.Header{UUID: "3cf5ee18-ee25-44ea-a444-2bf0e9c1d6c1", ICV: uint64(i + 1), PIH: store.GenesisPIH, Issued: issued}
		signed, err := agent.Issue(doc, h, st)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d := &store.Document{ICV: h.ICV, Type: store.DocType(doc.Type), XML: signed.XML, SupplyDate: doc.SupplyDate}
		r, err := agent.Receipt(d, agent.ReceiptOptions{Copy: i%7 == 3, Notices: []string{"Notice " + name}, Footer: []string{"Thank you"}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.QR != signed.QR {
			t.Errorf("%s: the receipt's QR is not the document's", name)
		}
		r.QR = "(the document's QR)"
		got, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		golden := filepath.Join("testdata", "receipts", name+".json")
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%s: %v (run with -update to create it)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: receipt differs from %s:\n%s", name, golden, got)
		}
	}
}
