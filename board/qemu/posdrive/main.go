// Command posdrive is the point-of-sale side of the QEMU daemon test
// (board/qemu/daemon_test.go): a static linux/arm64 program in the guest's initramfs
// that drives posagentd the way a till does, through posctl, and prints one result line
// per fact the host checks. The guest has no shell, so posdrive is also what reads the
// first administrator's PIN file, loops over the sales and takes the measurements.
//
//	posdrive up                          uptime when the socket first answers
//	posdrive setup -otp OTP …            first administrator login (PIN change), onboarding,
//	                                     a cashier with a changed PIN, all through posctl
//	posdrive ready -cashier ID -pin PIN  uptime when status says ready; the stamping key
//	posdrive sales -n N -prefix P        N sales through `posctl sale`, timed; latency, RSS
//	posdrive retry -prefix P NUM…        the sales NUM… again, same body and idempotency key;
//	                                     a stored document never printed is reprinted
//	posdrive mem -comm posagentd         the process's VmRSS and VmHWM
//	posdrive report -cashier ID -pin PIN waits until every document is reported; lists them
//
// Result lines start with "POSDRIVE " (see the Line constants of lines.go). Sale i of a
// run with prefix P has the idempotency key P%04d and the body of the i-th simplified
// invoice of -sales (cycling, file-name order), so a later boot can retry it exactly.
// posctl is run with $POSAGENT_EXEC_PREFIX in front when set (qemu-user on the host).
//
// posdrive imports agent/apitype and agent/client (no cgo). The daemon never links it.
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
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand.
type command struct {
	name string
	run  func(ctx context.Context, d *driver, fs *flag.FlagSet, args []string) error
}

var commands = []command{
	{"up", runUp},
	{"setup", runSetup},
	{"ready", runReady},
	{"sales", runSales},
	{"retry", runRetry},
	{"report", runReport},
	{"mem", runMem},
}

// run executes one subcommand: exit code 0 on success, 2 on a usage error, 1 otherwise.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: posdrive up|setup|ready|sales|retry|report|mem [flags]")
		return 2
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet("posdrive "+c.name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		d := &driver{out: stdout}
		fs.StringVar(&d.socket, "socket", "/run/posagent/posagent.sock", "posagentd socket")
		fs.StringVar(&d.posctl, "posctl", "/bin/posctl", "posctl program")
		fs.StringVar(&d.sessions, "sessions", "/run/posdrive", "directory of posctl's session files (one per cashier)")
		fs.StringVar(&d.work, "work", os.TempDir(), "directory for the sale bodies")
		fs.DurationVar(&d.timeout, "timeout", 5*time.Minute, "bound on the whole subcommand")
		err := c.run(ctx, d, fs, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "posdrive %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "posdrive %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "posdrive: unknown command %q\n", args[0])
	return 2
}

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// parse parses the flags and refuses positional arguments unless positional is set.
func parse(fs *flag.FlagSet, args []string, positional bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if !positional && fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
