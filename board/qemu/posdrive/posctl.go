package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// driver is what every subcommand shares: where posctl and the socket are, and the
// console.
type driver struct {
	socket, posctl, sessions, work string
	timeout                        time.Duration
	out                            io.Writer
}

// PosctlError is a posctl run that exited with an error.
type PosctlError struct {
	Args   []string
	Err    error
	Output string // stdout and stderr, as posctl printed them
}

func (e *PosctlError) Error() string {
	return fmt.Sprintf("posctl %s: %v: %s", strings.Join(e.Args, " "), e.Err, strings.TrimSpace(e.Output))
}

func (e *PosctlError) Unwrap() error { return e.Err }

// posctl runs `posctl ARGS --socket S` as cashier (its session file under d.sessions; ""
// for none) and returns its standard output and the wall time from start to exit.
func (d *driver) runPosctl(ctx context.Context, cashier string, args ...string) ([]byte, time.Duration, error) {
	argv := append([]string{d.posctl}, args...)
	argv = append(argv, "--socket", d.socket)
	if p := strings.Fields(os.Getenv("POSAGENT_EXEC_PREFIX")); len(p) > 0 {
		argv = append(p, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = os.Environ()
	if cashier != "" {
		if err := os.MkdirAll(d.sessions, 0o700); err != nil {
			return nil, 0, fmt.Errorf("posctl session dir: %w", err)
		}
		cmd.Env = append(cmd.Env, "POSCTL_SESSION_FILE="+filepath.Join(d.sessions, cashier+".session"))
	}
	var stdout, combined bytes.Buffer
	cmd.Stdout = io.MultiWriter(&stdout, &combined)
	cmd.Stderr = &combined
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		return stdout.Bytes(), took, &PosctlError{Args: args, Err: err, Output: combined.String()}
	}
	return stdout.Bytes(), took, nil
}

// echo runs posctl and copies what it printed to the console, each line indented.
func (d *driver) echo(ctx context.Context, cashier string, args ...string) error {
	out, took, err := d.runPosctl(ctx, cashier, args...)
	fmt.Fprintf(d.out, "$ posctl %s (%.0f ms)\n", redact(args), ms(took))
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l != "" {
			fmt.Fprintf(d.out, "  %s\n", l)
		}
	}
	return err
}

// redact hides the values of PIN and OTP flags in a logged command line.
func redact(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if i > 0 && (args[i-1] == "--pin" || args[i-1] == "--new-pin" || args[i-1] == "--otp") {
			out[i] = "***"
		}
	}
	return strings.Join(out, " ")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
