// Command posagentd is posagent's daemon: it makes a cash register ZATCA-compliant. It
// reads its configuration, opens the board, the TPM key store, the journal, the
// printer, the ZATCA client and the reporting worker in that order, serves the POS API
// on a unix socket, and on SIGTERM or SIGINT shuts down in reverse order without
// losing a sale in flight. A second signal aborts.
//
//	posagentd -config /etc/posagent/posagentd.json
//
// Flags override the file: -state-dir, -socket, -log-level. -check-config validates the
// configuration and exits. The daemon links no simulator, test helper or
// software-only key (deps_test.go).
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
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process
	}()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "posagentd:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run is the daemon: it returns nil after a clean shutdown when ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("posagentd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "/etc/posagent/posagentd.json", "configuration file (JSON)")
	stateDir := fs.String("state-dir", "", "override state_dir")
	socket := fs.String("socket", "", "override socket.path")
	logLevel := fs.String("log-level", "", "override log.level (debug, info, warn, error)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, "posagentd", version)
		return err
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *stateDir != "" {
		cfg.StateDir = *stateDir
	}
	if *socket != "" {
		cfg.Socket.Path = *socket
	}
	if *logLevel != "" {
		cfg.Log.Level = *logLevel
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if *check {
		_, err := fmt.Fprintln(stdout, "configuration OK")
		return err
	}
	log := newLogger(cfg.Log, stderr)
	d, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	return d.serve(ctx)
}
