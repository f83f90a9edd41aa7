package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/posagent/posagent/agent"
	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/agent/ubl"
	"github.com/posagent/posagent/hsm/softkey"
	"github.com/posagent/posagent/store"
)

// runInvoice is `posctl invoice`: sale JSON + seller JSON + certificate + key → signed XML.
func runInvoice(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("invoice", stderr)
	salePath := fs.String("sale", "", "sale JSON (POS API body)")
	sellerPath := fs.String("seller", "", "seller JSON (onboarding profile)")
	certPath := fs.String("cert", "", "certificate: PEM, bare base64 DER, or binarySecurityToken")
	keyPath := fs.String("key", "", "secp256k1 private key: SEC1/PKCS#8 PEM or bare base64 (development only)")
	icv := fs.Uint64("icv", 1, "invoice counter value (≥ 1)")
	pih := fs.String("pih", store.GenesisPIH, "previous invoice hash (base64); default: the first document's")
	at := fs.String("time", "", "issue time in KSA local time, YYYY-MM-DDTHH:MM:SS (default: now)")
	uuid := fs.String("uuid", "", "document UUID (default: random)")
	irn := fs.String("irn", "", "invoice reference number (default: the sale's, else derived from the ICV)")
	out := fs.String("out", "", "write the XML to this file and print its path, hash and QR instead")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{{"--sale", *salePath}, {"--seller", *sellerPath}, {"--cert", *certPath}, {"--key", *keyPath}} {
		if f.v == "" {
			return usageError{f.name + " is required"}
		}
	}
	if *icv == 0 {
		return usageError{"--icv must be at least 1 (BR-KSA-33)"}
	}
	issued := time.Now()
	if *at != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04:05", *at, ubl.KSA)
		if err != nil {
			return usageError{fmt.Sprintf("--time %q: want YYYY-MM-DDTHH:MM:SS (KSA local time)", *at)}
		}
		issued = t
	}
	if *uuid == "" {
		u, err := agent.NewUUID()
		if err != nil {
			return err
		}
		*uuid = u
	}

	sale, err := readJSON(*salePath, invoice.DecodeSale)
	if err != nil {
		return err
	}
	seller, err := readJSON(*sellerPath, invoice.DecodeSeller)
	if err != nil {
		return err
	}
	doc, err := invoice.Compute(sale, seller)
	if err != nil {
		return describe(*salePath, err)
	}
	certData, err := os.ReadFile(*certPath)
	if err != nil {
		return fmt.Errorf("read certificate: %w", err)
	}
	c, err := cert.ParsePEMOrBase64(certData)
	if err != nil {
		return fmt.Errorf("%s: %w", *certPath, err)
	}
	keyData, err := os.ReadFile(*keyPath)
	if err != nil {
		return fmt.Errorf("read key: %w", err)
	}
	key, err := softkey.ParseKey(keyData)
	clear(keyData)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyPath, err)
	}
	defer key.Close()

	signed, err := agent.Issue(doc, ubl.Header{IRN: *irn, UUID: *uuid, ICV: *icv, PIH: *pih, Issued: issued},
		agent.Stamp{Key: key, Cert: c})
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(signed.XML)
		return err
	}
	if err := os.WriteFile(*out, signed.XML, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	_, err = fmt.Fprintf(stdout, "xml:  %s\nuuid: %s\nicv:  %d\nhash: %s\nqr:   %s\n", *out, *uuid, *icv, signed.Hash, signed.QR)
	return err
}

// readJSON reads a file and decodes it, prefixing errors with the file name.
func readJSON[T any](path string, decode func([]byte) (T, error)) (T, error) {
	var zero T
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("read: %w", err)
	}
	v, err := decode(data)
	if err != nil {
		return zero, describe(path, err)
	}
	return v, nil
}

// describe renders validation errors one field per line.
func describe(path string, err error) error {
	var ve *invoice.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("%s: %w", path, err)
	}
	msg := fmt.Sprintf("%s: %d invalid field(s):", path, len(ve.Errors))
	for _, fe := range ve.Errors {
		msg += "\n  " + fe.Error()
	}
	return errors.New(msg)
}
