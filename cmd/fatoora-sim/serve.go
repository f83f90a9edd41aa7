package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/posagent/posagent/agent/csr"
	"github.com/posagent/posagent/offline/fatoorasim"
)

// URLFile is written into the state directory once the server listens: the base URL
// of the EGS API (and of the admin API unless -admin-addr is used).
const URLFile = "fatoora-sim.url"

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "listen address of the EGS API (loopback)")
	adminAddr := fs.String("admin-addr", "", "separate listen address for the admin API (default: /admin/ on -addr)")
	state := fs.String("state", "", "state directory (SQLite database, CA, TLS files); required")
	useTLS := fs.Bool("tls", false, "serve HTTPS with a self-signed certificate kept in the state directory")
	certFile := fs.String("tls-cert", "", "serve HTTPS with this certificate (PEM) instead of the self-signed one")
	keyFile := fs.String("tls-key", "", "private key (PEM) of -tls-cert")
	sandbox := fs.Bool("sandbox-otps", false, "accept the developer-portal OTPs 123345 (valid), 111111 (invalid), 222222 (expired)")
	env := fs.String("env", "simulation", "environment whose certificate template CSRs must carry: sandbox, simulation or production")
	acceptP256 := fs.Bool("accept-p256", false, "accept CSRs on NIST P-256 (ZATCA is only known to accept secp256k1)")
	clockOffset := fs.Duration("clock-offset", 0, "start with the clock moved by this offset (overrides the stored one)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return usagef("serve: %v", err)
	}
	if fs.NArg() > 0 {
		return usagef("serve: unexpected arguments %q", fs.Args())
	}
	if *state == "" {
		return usagef("serve: -state DIR is required")
	}
	if (*certFile == "") != (*keyFile == "") {
		return usagef("serve: -tls-cert and -tls-key go together")
	}
	e, err := csr.ParseEnv(*env)
	if err != nil {
		return usagef("serve: -env: %v", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("serve: -log-level: %v", err)
	}
	for _, a := range []string{*addr, *adminAddr} {
		if a != "" {
			if err := checkLoopback(a); err != nil {
				return usagef("serve: %v", err)
			}
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("component", "fatoora-sim")

	opts := fatoorasim.DefaultOptions()
	opts.Dir = *state
	opts.Env = e
	opts.SandboxOTPs = *sandbox
	opts.AcceptP256 = *acceptP256
	opts.Logger = logger
	sim, err := fatoorasim.New(opts)
	if err != nil {
		return err
	}
	closeSim := func() error { return sim.Close() }
	defer closeSim()
	if isFlagSet(fs, "clock-offset") {
		if err := sim.SetClockOffset(ctx, *clockOffset); err != nil {
			return err
		}
	}

	var tlsCfg *tls.Config
	switch {
	case *certFile != "":
		c, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("serve: load -tls-cert: %w", err)
		}
		tlsCfg = serverTLS(c)
	case *useTLS:
		c, _, err := fatoorasim.LoadOrCreateTLS(*state, time.Now())
		if err != nil {
			return err
		}
		tlsCfg = serverTLS(c)
	}

	apiHandler := sim.Handler()
	var servers []*http.Server
	var listeners []net.Listener
	add := func(a string, h http.Handler) (string, error) {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return "", fmt.Errorf("serve: listen %s: %w", a, err)
		}
		hs := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return ctx },
			// HTTP/1.1 only: the commit-then-drop fault hijacks the connection.
			TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		}
		scheme := "http"
		if tlsCfg != nil {
			hs.TLSConfig = tlsCfg
			l = tls.NewListener(l, tlsCfg)
			scheme = "https"
		}
		servers = append(servers, hs)
		listeners = append(listeners, l)
		return scheme + "://" + l.Addr().String(), nil
	}
	if *adminAddr != "" {
		apiHandler = sim.EGSHandler()
	}
	url, err := add(*addr, apiHandler)
	if err != nil {
		return err
	}
	adminURL := url
	if *adminAddr != "" {
		if adminURL, err = add(*adminAddr, sim.AdminHandler()); err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return err
		}
	}
	fmt.Fprintf(stdout, "fatoora-sim %s listening: api %s admin %s/admin/ env %s state %s\n", version, url, adminURL, e, *state)
	if tlsCfg != nil && *certFile == "" {
		fmt.Fprintf(stdout, "fatoora-sim: trust %s\n", filepath.Join(*state, fatoorasim.TLSCertFile))
	}
	// The URL file is the readiness signal for scripts: written last.
	if err := writeFileAtomic(filepath.Join(*state, URLFile), []byte(url+"\n")); err != nil {
		for _, l := range listeners {
			l.Close()
		}
		return fmt.Errorf("serve: %w", err)
	}

	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() {
			err := hs.Serve(listeners[i])
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	logger.Info("shutting down")
	shCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, len(servers))
	for _, hs := range servers {
		go func() { done <- hs.Shutdown(shCtx) }()
	}
	// Closing the simulator releases hanging requests, so Shutdown can finish.
	closeErr := closeSim()
	var errs []error
	for range servers {
		if err := <-done; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, serveErr, closeErr)...)
}

func serverTLS(c tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// checkLoopback refuses listen addresses off the machine: the admin API has no
// authentication.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %v", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q: listen on a loopback address (127.0.0.1, ::1): the admin API has no authentication", addr)
	}
	return nil
}

// writeFileAtomic writes path through a temporary file and a rename, so a reader never
// sees it half written.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
