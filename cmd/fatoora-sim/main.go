// Command fatoora-sim runs the ZATCA e-invoicing API simulator (offline/fatoorasim) as
// a standalone server, and talks to a running one as the Fatoora portal would.
//
//	fatoora-sim serve -addr 127.0.0.1:8443 -state DIR [-tls] [-sandbox-otps] [-env simulation]
//	fatoora-sim otp -vat 399999999900003 -n 5
//	fatoora-sim otps [-vat V]
//	fatoora-sim devices
//	fatoora-sim revoke -id REQUEST_ID
//	fatoora-sim renewal (-device ID -not-compliant=true|false | -force=true|false)
//	fatoora-sim stats [-month YYYY-MM]
//	fatoora-sim issues [-month YYYY-MM]          (CSV on stdout)
//	fatoora-sim clock [-offset D | -advance D | -now RFC3339]
//	fatoora-sim fault add -endpoint reporting -action status -status 503 [-times N] ...
//	fatoora-sim fault list | fault rm -id N | fault clear
//
// The portal subcommands take -server URL (default http://127.0.0.1:8443) and, for
// https, -cacert FILE or -state DIR (which holds the server's tls-cert.pem).
//
// It owns flags, wiring and signal handling only; everything else is in
// offline/fatoorasim. It is a development and test tool: posagentd never links it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "fatoora-sim:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "fatoora-sim:", err)
		os.Exit(1)
	}
}

// usageError is a command-line mistake (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

const usage = `usage: fatoora-sim <command> [flags]

commands:
  serve     run the simulator (-addr, -state, -tls, -sandbox-otps, -env, -admin-addr)
  otp       generate OTPs for a VAT number (-vat, -n)
  otps      list OTPs (-vat)
  devices   list onboarded devices and their CSIDs
  revoke    revoke a CSID (-id)
  renewal   renewal answer per device (-device, -not-compliant) or for all (-force)
  stats     accepted / with warnings / rejected per month (-month)
  issues    CSV export of errors and warnings (-month)
  clock     show or move the simulator's clock (-offset, -advance, -now)
  fault     fault injection: add, list, rm, clear
  version   print the version

Run "fatoora-sim <command> -h" for the flags of a command.
`

// run executes one command; serve runs until ctx is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, stdout, stderr)
	case "otp", "otps", "devices", "revoke", "renewal", "stats", "issues", "clock", "fault":
		return portal(ctx, cmd, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "fatoora-sim", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown command %q", cmd)
}
