// Command posctl is posagent's operator and integrator command line.
//
// Subcommands that work without a daemon:
//
//	posctl invoice    issue and sign one document from a sale JSON (developer/integrator tool)
//	posctl verify-doc verify a signed document: hash, XAdES digests, signature, QR
//
// Subcommands that talk to posagentd over its socket (--socket, env POSAGENT_SOCKET;
// --json prints the answer as JSON). The session token of `posctl login` is kept in
// $XDG_RUNTIME_DIR/posctl/session or ~/.posctl/session (mode 0600):
//
//	posctl login --cashier ID [--pin PIN] [--new-pin PIN]   open a session (PIN from stdin if not given)
//	posctl logout | pin --pin CUR --new-pin NEW
//	posctl sale FILE | return FILE | debit FILE              issue a document from a sale JSON (- for stdin)
//	posctl reprint REF | doc REF|--icv N|--key K [--xml|--out F]     REF: UUID or invoice number
//	posctl status | stats [--month YYYY-MM] | deadletters
//	posctl deadletters correct REF FILE | deadletters resend REF --reason TEXT
//	posctl onboard --otp OTP | renew --otp OTP
//	posctl cashier add|list|pin | verify | export --dir D|--tar F
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/posagent/posagent/agent/client"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// command is one posctl subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"invoice", "issue and sign one document from a sale JSON (no daemon)", runInvoice},
		{"verify-doc", "verify a signed document file: hash, XAdES digests, signature, QR", runVerifyDoc},
		{"login", "open a session on posagentd (cashier id and PIN)", runLogin},
		{"logout", "end the session", runLogout},
		{"pin", "change the session cashier's PIN", runPIN},
		{"sale", "issue a simplified tax invoice (388) from a sale JSON file", documentCommand("sale", (*client.Client).Sale)},
		{"return", "issue a credit note (381) for an invoice (supervisor)", documentCommand("return", (*client.Client).Return)},
		{"debit", "issue a debit note (383) for an invoice", documentCommand("debit", (*client.Client).Debit)},
		{"reprint", "print a document again (COPY)", runReprint},
		{"doc", "show a document (by UUID, --icv or --key), or its XML", runDoc},
		{"status", "readiness, clock, key, CSID, printer, chain and reporting queue", runStatus},
		{"stats", "reporting statistics per month", runStats},
		{"deadletters", "documents ZATCA rejected, with reasons and actions; correct|resend (supervisor)", runDeadLetters},
		{"onboard", "onboard this terminal with an OTP from the Fatoora portal (admin)", onboardCommand("onboard", false)},
		{"renew", "renew the production CSID with a new key and an OTP (admin)", onboardCommand("renew", true)},
		{"cashier", "cashier accounts: add, list, pin (admin)", runCashier},
		{"verify", "check the whole journal: chain, hashes, audit log (admin)", runVerify},
		{"export", "export documents and the audit log on the terminal (admin)", runExport},
		{"version", "print the version", func(_ context.Context, _ []string, _ io.Reader, stdout, _ io.Writer) error {
			_, err := fmt.Fprintln(stdout, "posctl", version)
			return err
		}},
	}
}

// run executes one subcommand and returns the process exit code: 0 on success, 2 on a
// usage error, 1 on any other failure.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdin, stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "posctl %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "posctl %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "posctl: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: posctl <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nposctl <command> -h shows the command's flags.")
}

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("posctl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and turns flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
