package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/ubl"
)

// runVerifyDoc is `posctl verify-doc FILE`: the checks ZATCA's validator makes on a
// signed document's cryptography, done locally.
func runVerifyDoc(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify-doc", stderr)
	pih := fs.String("pih", "", "expected previous invoice hash")
	certPath := fs.String("cert", "", "expected signing certificate")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		return usageError{"want exactly one document file"}
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	opts := ubl.VerifyOptions{PIH: *pih}
	if *certPath != "" {
		cd, err := os.ReadFile(*certPath)
		if err != nil {
			return fmt.Errorf("read certificate: %w", err)
		}
		if opts.Certificate, err = cert.ParsePEMOrBase64(cd); err != nil {
			return fmt.Errorf("%s: %w", *certPath, err)
		}
	}
	v, err := ubl.Verify(data, opts)
	if v != nil {
		fmt.Fprintf(stdout, "document: %s %s (%s) ICV %s UUID %s\n", v.TypeCode, v.IRN, v.TransactionCode, v.ICV, v.UUID)
		fmt.Fprintf(stdout, "issued:   %sT%s\nhash:     %s\n", v.IssueDate, v.IssueTime, v.Hash)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	fmt.Fprintln(stdout, "verified: hash, CertDigest, SignedProperties digest, signature, QR tags")
	return nil
}
