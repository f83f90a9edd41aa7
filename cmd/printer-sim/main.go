// Command printer-sim is a virtual serial ESC/POS receipt printer. It
// serves printer/escpossim on a pseudo-terminal (for posagentd and tests on
// the host) or on a unix socket (for QEMU's -chardev socket), writes every
// receipt it prints as a PNG file, answers status requests, and can be put
// into paper-out, cover-open or offline state while it runs, through a small
// admin HTTP interface on the loopback address or with signals.
//
// It owns flags, wiring and signal handling only. It is a development and
// test tool: posagentd never links it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/printer/escpossim"
)

const usage = `usage: printer-sim [flags]

A virtual ESC/POS receipt printer on a serial line. Every receipt (a cut ends
one) is written to -out as receipt-NNNN.png; a receipt interrupted by paper
out, cover open or going offline is written as receipt-NNNN-incomplete.png.

Transport (one of):
  -pty            serve on a new pseudo-terminal (the default); its path is
                  printed, and -link PATH makes a symlink to it for the driver,
                  e.g. posagentd's printer device
  -socket PATH    listen on a unix socket, e.g. for QEMU:
                  -chardev socket,id=prn,path=PATH -device pci-serial,chardev=prn

Admin HTTP (loopback only, -admin; "" disables):
  GET  /status    state and counters as JSON
  POST /state     change the state; form or query values:
                  paper=out|near|ok  cover=open|closed  online=true|false  error=true|false
  POST /paper     load a new roll: dots=N (8 dots per mm; 0 = endless)
  e.g. curl -X POST 'http://127.0.0.1:9101/state?paper=out'

Signals:
  SIGUSR1         toggle paper out
  SIGUSR2         toggle cover open
  SIGHUP          toggle offline
  SIGINT, SIGTERM stop (a receipt in progress is written as incomplete)

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, sigs)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "printer-sim:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a command-line mistake (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

type options struct {
	width     int
	paper     string
	out       string
	pty       bool
	link      string
	socket    string
	admin     string
	paperDots int
	verbose   bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("printer-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.paper, "paper", "80", "paper width in mm: 80 (576 dots) or 58 (384 dots)")
	fs.IntVar(&o.width, "width", 0, "printable width in dots, overriding -paper")
	fs.StringVar(&o.out, "out", "receipts", "directory for the receipt images")
	fs.BoolVar(&o.pty, "pty", false, "serve on a new pseudo-terminal (default unless -socket)")
	fs.StringVar(&o.link, "link", "", "symlink to create to the pseudo-terminal")
	fs.StringVar(&o.socket, "socket", "", "unix socket to listen on instead of a pseudo-terminal")
	fs.StringVar(&o.admin, "admin", "127.0.0.1:9101", "loopback address of the admin HTTP interface (\"\" disables)")
	fs.IntVar(&o.paperDots, "paper-dots", 0, "length of the paper roll in dots (0 = endless)")
	fs.BoolVar(&o.verbose, "v", false, "log at debug level")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return o, usagef("unexpected argument %q", fs.Arg(0))
	}
	if o.width == 0 {
		switch o.paper {
		case "80":
			o.width = 576
		case "58":
			o.width = 384
		default:
			return o, usagef("-paper %q: want 80 or 58", o.paper)
		}
	}
	if o.socket != "" && (o.pty || o.link != "") {
		return o, usagef("-socket cannot be combined with -pty or -link")
	}
	if o.socket == "" {
		o.pty = true
	}
	if o.admin != "" {
		host, _, err := net.SplitHostPort(o.admin)
		if err != nil {
			return o, usagef("-admin %q: %v", o.admin, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return o, usagef("-admin %q: only a loopback address is allowed", o.admin)
		}
	}
	return o, nil
}

// run starts the simulator and serves until ctx is cancelled. Lines on
// stdout announce the device and the admin address.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, sigs <-chan os.Signal) error {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("component", "printer-sim")
	cfg := escpossim.DefaultConfig()
	cfg.Width = o.width
	cfg.OutDir = o.out
	cfg.PaperDots = o.paperDots
	cfg.Logger = log
	sim, err := escpossim.New(cfg)
	if err != nil {
		return err
	}
	defer sim.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()

	if o.admin != "" {
		ln, err := net.Listen("tcp", o.admin)
		if err != nil {
			return fmt.Errorf("admin listen: %w", err)
		}
		srv := &http.Server{Handler: adminHandler(sim), ReadHeaderTimeout: 5 * time.Second}
		fmt.Fprintf(stdout, "admin http://%s\n", ln.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin server", "err", err)
			}
		}()
		defer func() {
			sctx, c := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer c()
			_ = srv.Shutdown(sctx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				toggle(sim, s, log)
			}
		}
	}()

	if o.socket != "" {
		return serveSocket(ctx, sim, o.socket, stdout, log)
	}
	return servePTY(ctx, sim, o.link, stdout)
}

// toggle flips one state for a signal.
func toggle(sim *escpossim.Sim, s os.Signal, log *slog.Logger) {
	sim.Update(func(st *printer.Status) {
		switch s {
		case syscall.SIGUSR1:
			st.PaperOut = !st.PaperOut
		case syscall.SIGUSR2:
			st.CoverOpen = !st.CoverOpen
		case syscall.SIGHUP:
			st.Online = !st.Online
		}
	})
	log.Info("signal", "signal", s.String())
}

func servePTY(ctx context.Context, sim *escpossim.Sim, link string, stdout io.Writer) error {
	pty, err := escpossim.OpenPTY()
	if err != nil {
		return err
	}
	defer pty.Close()
	if link != "" {
		if fi, err := os.Lstat(link); err == nil {
			if fi.Mode()&os.ModeSymlink == 0 {
				return fmt.Errorf("-link %s exists and is not a symlink", link)
			}
			if err := os.Remove(link); err != nil {
				return fmt.Errorf("replace link: %w", err)
			}
		}
		if err := os.Symlink(pty.SlavePath, link); err != nil {
			return fmt.Errorf("link: %w", err)
		}
		defer os.Remove(link)
		fmt.Fprintf(stdout, "pty %s link %s\n", pty.SlavePath, link)
	} else {
		fmt.Fprintf(stdout, "pty %s\n", pty.SlavePath)
	}
	err = sim.Serve(ctx, pty.Master)
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		err = errors.New("pseudo-terminal closed")
	}
	return err
}

// serveSocket accepts one connection at a time (QEMU reconnects after a
// restart).
func serveSocket(ctx context.Context, sim *escpossim.Sim, path string, stdout io.Writer, log *slog.Logger) error {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return fmt.Errorf("-socket %s: another simulator is listening", path)
		}
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	fmt.Fprintf(stdout, "socket %s\n", filepath.Clean(path))
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		log.Info("connected", "peer", "unix")
		err = sim.Serve(ctx, conn)
		conn.Close()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			log.Warn("connection ended", "err", err)
		} else {
			log.Info("disconnected")
		}
	}
}

type statusJSON struct {
	Online       bool            `json:"online"`
	CoverOpen    bool            `json:"cover_open"`
	PaperOut     bool            `json:"paper_out"`
	PaperNearEnd bool            `json:"paper_near_end"`
	Error        bool            `json:"error"`
	Stats        escpossim.Stats `json:"stats"`
}

func adminHandler(sim *escpossim.Sim) http.Handler {
	mux := http.NewServeMux()
	writeStatus := func(w http.ResponseWriter) {
		st := sim.Status()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(statusJSON{st.Online, st.CoverOpen, st.PaperOut, st.PaperNearEnd, st.Error, sim.Stats()})
	}
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { writeStatus(w) })
	mux.HandleFunc("POST /state", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		st := sim.Status()
		for key, vals := range r.Form {
			v := vals[len(vals)-1]
			var err error
			switch key {
			case "paper":
				switch v {
				case "out":
					st.PaperOut, st.PaperNearEnd = true, true
				case "near":
					st.PaperOut, st.PaperNearEnd = false, true
				case "ok":
					st.PaperOut, st.PaperNearEnd = false, false
				default:
					err = fmt.Errorf("paper=%q: want out, near or ok", v)
				}
			case "cover":
				switch v {
				case "open", "closed":
					st.CoverOpen = v == "open"
				default:
					err = fmt.Errorf("cover=%q: want open or closed", v)
				}
			case "online", "error":
				var b bool
				if b, err = strconv.ParseBool(v); err != nil {
					err = fmt.Errorf("%s=%q: want true or false", key, v)
				} else if key == "online" {
					st.Online = b
				} else {
					st.Error = b
				}
			default:
				err = fmt.Errorf("unknown field %q (want paper, cover, online, error)", key)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		sim.SetStatus(st)
		writeStatus(w)
	})
	mux.HandleFunc("POST /paper", func(w http.ResponseWriter, r *http.Request) {
		dots, err := strconv.Atoi(r.FormValue("dots"))
		if err != nil || dots < 0 {
			http.Error(w, "dots: want a length in dots >= 0 (0 = endless)", http.StatusBadRequest)
			return
		}
		sim.LoadPaper(dots)
		writeStatus(w)
	})
	return mux
}
