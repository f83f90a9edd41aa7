// Command qemurun drives the QEMU test harness (package board/qemu) from the command line:
//
//	qemurun setup  [-cache DIR]
//	qemurun disk   -o state.img [-size 256] [-from DIR]
//	qemurun initrd -o initrd.cpio.gz -init testinit -plans plans.json [-file /guest=host]... [-tree /guest=hostdir]...
//	qemurun boot   -initrd initrd.cpio.gz -plan NAME [-env K=V]... [-disk state.img] [-tpm-state DIR]
//	               [-printer-socket PATH [-printer-out FILE | -printer-dial]] [-net] [-timeout 3m]
//	               [-cut-on REGEXP] [-console FILE]
//
// boot exits 0 only when the console shows "TESTINIT DONE fail=0"; with -cut-on it exits
// 0 when the power cut happened (QEMU and swtpm were killed with SIGKILL right after the
// first console line matching REGEXP), so the next boot on the same -disk and
// -tpm-state is the recovery. The console goes to stdout as it arrives.
//
// For boot, -cache names the asset cache whose "current" assets are used.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/posagent/posagent/board/qemu"
	"github.com/posagent/posagent/board/qemu/plan"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "qemurun:", err)
		os.Exit(1)
	}
}

// listFlag collects repeated flag values.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: qemurun setup|disk|initrd|boot [flags] (see go doc ./board/qemu/qemurun)")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	fs := flag.NewFlagSet("qemurun "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cache := fs.String("cache", qemu.DefaultCacheDir(), "asset cache directory")
	switch args[0] {
	case "setup":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		a, err := qemu.Setup(ctx, *cache, func(l string) { fmt.Fprintln(stderr, l) })
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, a.Dir)
		return nil

	case "disk":
		out := fs.String("o", "", "image file")
		size := fs.Int("size", 256, "size in MiB")
		from := fs.String("from", "", "host directory to copy in")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *out == "" {
			return errors.New("disk: -o is required")
		}
		return qemu.MakeDisk(ctx, *out, *size, "posstate", *from)

	case "initrd":
		out := fs.String("o", "", "output initramfs (gzip cpio)")
		initBin := fs.String("init", "", "static arm64 testinit binary")
		plans := fs.String("plans", "", "plan file (JSON, see board/qemu/plan)")
		machineID := fs.String("machine-id", "", "guest /etc/machine-id (default random)")
		var files, trees listFlag
		fs.Var(&files, "file", "/guest/path=host/path (repeatable)")
		fs.Var(&trees, "tree", "/guest/dir=host/dir, copied recursively (repeatable)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *out == "" || *initBin == "" || *plans == "" {
			return errors.New("initrd: -o, -init and -plans are required")
		}
		data, err := os.ReadFile(*plans)
		if err != nil {
			return err
		}
		pf, err := plan.Parse(data)
		if err != nil {
			return err
		}
		g := qemu.Guest{Init: *initBin, Plans: *pf, MachineID: *machineID}
		if g.Files, err = pairs(files); err != nil {
			return err
		}
		if g.Trees, err = pairs(trees); err != nil {
			return err
		}
		a, err := qemu.EnsureAssets(ctx, *cache, func(l string) { fmt.Fprintln(stderr, l) })
		if err != nil {
			return err
		}
		return g.Build(a, *out)

	case "boot":
		m := qemu.Machine{Logger: log, Console: stdout}
		var env listFlag
		fs.StringVar(&m.Initrd, "initrd", "", "initramfs")
		fs.StringVar(&m.Plan, "plan", "", "plan name")
		fs.Var(&env, "env", "KEY=value for the steps (repeatable)")
		fs.StringVar(&m.Disk, "disk", "", "raw disk image (/dev/vda)")
		fs.StringVar(&m.TPMState, "tpm-state", "", "swtpm state directory (enables the vTPM)")
		sock := fs.String("printer-socket", "", "unix socket of the guest's /dev/ttyS0")
		printerOut := fs.String("printer-out", "", "record the printer bytes to this file (harness connects)")
		dial := fs.Bool("printer-dial", false, "QEMU connects to -printer-socket (printer-sim listens there)")
		fs.BoolVar(&m.Network, "net", false, "user-mode network (host at 10.0.2.2)")
		fs.DurationVar(&m.Timeout, "timeout", 3*time.Minute, "wall-clock limit")
		cutOn := fs.String("cut-on", "", "power cut after the first console line matching this regexp")
		consoleLog := fs.String("console", "", "copy the console log here")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		m.Env = env
		var rec *qemu.Recorder
		if *sock != "" {
			m.Printer = &qemu.Printer{Socket: *sock, Dial: *dial}
			if *printerOut != "" {
				if *dial {
					return errors.New("boot: -printer-out and -printer-dial exclude each other")
				}
				rec = qemu.NewRecorder()
				m.Printer.Serve = rec.Serve
			}
		}
		var cutRE *regexp.Regexp
		if *cutOn != "" {
			var err error
			if cutRE, err = regexp.Compile(*cutOn); err != nil {
				return fmt.Errorf("boot: -cut-on: %w", err)
			}
			m.CutWhen = cutRE.MatchString
		}
		a, err := qemu.LoadAssets(*cache + "/current")
		if err != nil {
			return err
		}
		m.Assets = a
		res, err := m.Boot(ctx)
		if res != nil {
			if *consoleLog != "" {
				if werr := os.WriteFile(*consoleLog, []byte(res.Console), 0o644); werr != nil {
					return werr
				}
			}
			if rec != nil {
				if werr := os.WriteFile(*printerOut, rec.Bytes(), 0o644); werr != nil {
					return werr
				}
			}
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "qemurun: wall %v cpu %v done=%t fail=%d passed=%v failed=%v cut=%t\n",
			res.Wall.Round(time.Millisecond), res.CPU.Round(time.Millisecond), res.Done, res.Fail, res.Passed, res.Failed, res.Cut)
		if cutRE != nil {
			if !res.Cut {
				return fmt.Errorf("boot: no console line matched -cut-on %q", *cutOn)
			}
			return nil
		}
		return res.Err()
	}
	return fmt.Errorf("unknown subcommand %q", args[0])
}

// pairs parses "guest=host" flags.
func pairs(l []string) (map[string]string, error) {
	m := map[string]string{}
	for _, p := range l {
		g, h, ok := strings.Cut(p, "=")
		if !ok || g == "" || h == "" {
			return nil, fmt.Errorf("%q: want /guest/path=host/path", p)
		}
		m[g] = h
	}
	return m, nil
}
