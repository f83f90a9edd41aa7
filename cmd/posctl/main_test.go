package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posagent/posagent/agent/ubl"
)

const td = "../../testdata"

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func invoiceArgs(sale string, extra ...string) []string {
	return append([]string{"invoice",
		"--sale", sale, "--seller", td + "/seller.json",
		"--cert", td + "/zatca/Certificates/cert.pem",
		"--key", td + "/zatca/Certificates/ec-secp256k1-priv-key.pem",
		"--time", "2026-11-21T10:00:00", "--uuid", "3cf5ee18-ee25-44ea-a444-2bf0e9c1d6c1",
	}, extra...)
}

// TestInvoiceToStdout: the signed XML goes to stdout, verifies, and carries the flags.
func TestInvoiceToStdout(t *testing.T) {
	code, out, errOut := runCLI(t, invoiceArgs(td+"/sales/01-cash-single-line.json", "--icv", "7")...)
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, errOut)
	}
	v, err := ubl.Verify([]byte(out), ubl.VerifyOptions{})
	if err != nil {
		t.Fatalf("stdout does not verify: %v", err)
	}
	if v.ICV != "7" || v.IssueDate != "2026-11-21" || v.IssueTime != "10:00:00" || v.UUID != "3cf5ee18-ee25-44ea-a444-2bf0e9c1d6c1" {
		t.Errorf("document header = ICV %s, %sT%s, UUID %s", v.ICV, v.IssueDate, v.IssueTime, v.UUID)
	}
	if errOut != "" {
		t.Errorf("stderr not empty: %s", errOut)
	}
}

// TestInvoiceOutFile: --out writes the file and prints its path, hash and QR, and the
// same command then verifies the file through verify-doc.
func TestInvoiceOutFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inv.xml")
	code, out, errOut := runCLI(t, invoiceArgs(td+"/sales/02-mixed-categories.json", "--out", path)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr: %s", code, errOut)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := ubl.InvoiceHashBase64(data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "hash: "+hash) || !strings.Contains(out, "xml:  "+path) || !strings.Contains(out, "qr:   ") {
		t.Errorf("summary does not name the file, hash and QR:\n%s", out)
	}
	if code, out, errOut := runCLI(t, "verify-doc", path); code != 0 || !strings.Contains(out, "verified") {
		t.Errorf("verify-doc: exit %d\n%s%s", code, out, errOut)
	}
}

// TestInvoiceBadSale: a sale breaking a ZATCA rule exits 1, names the field and the rule,
// and writes nothing to stdout.
func TestInvoiceBadSale(t *testing.T) {
	sale := filepath.Join(t.TempDir(), "bad.json")
	body := `{"idempotency_key":"k1","doc_type":"388","lineitems":[{"name_ar":"قهوة","quantity":"1","tax_exclusive_price":"10","tax_percentage":"0.16","tax_category":"S"}]}`
	if err := os.WriteFile(sale, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, invoiceArgs(sale)...)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if !strings.Contains(errOut, "lineitems[0].tax_percentage: BR-KSA-84") {
		t.Errorf("stderr does not name the field and rule: %s", errOut)
	}
}

// TestVerifyDocTampered: one changed amount is caught by verify-doc (exit 1).
func TestVerifyDocTampered(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "inv.xml")
	if code, _, errOut := runCLI(t, invoiceArgs(td+"/sales/01-cash-single-line.json", "--out", path)...); code != 0 {
		t.Fatalf("invoice: %s", errOut)
	}
	data, _ := os.ReadFile(path)
	i := bytes.Index(data, []byte("<cbc:PriceAmount"))
	j := bytes.IndexByte(data[i:], '>') + i + 1
	tampered := append(append(append([]byte{}, data[:j]...), '9'), data[j:]...)
	if err := os.WriteFile(path, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "verify-doc", path)
	if code != 1 || !strings.Contains(errOut, "invalid-invoice-hash") {
		t.Errorf("exit %d, stderr: %s", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nonsense"},
		{"invoice", "--sale", "x.json"},
		{"invoice", "--bogus"},
		{"verify-doc"},
	} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("posctl %v: exit %d, want 2", args, code)
		}
	}
}
