package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/posagent/posagent/agent"
	"github.com/posagent/posagent/agent/csr"
	"github.com/posagent/posagent/agent/localapi"
	"github.com/posagent/posagent/board"
	"github.com/posagent/posagent/board/linux"
	"github.com/posagent/posagent/hsm/tpm"
	"github.com/posagent/posagent/offline"
	"github.com/posagent/posagent/offline/zatca"
	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/printer/escpos"
	"github.com/posagent/posagent/printer/serialport"
	"github.com/posagent/posagent/store/sqlite"
)

// daemon holds the opened parts, in opening order.
type daemon struct {
	cfg    Config
	log    *slog.Logger
	board  board.Board
	keys   *tpm.KeyStore
	db     *sqlite.DB
	prn    printer.Printer // nil: no printer
	zc     *zatca.Client
	worker *offline.Worker
	agent  *agent.Agent
	api    *localapi.Server
}

func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	o := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

// open opens every part in dependency order: board, TPM, journal, printer, ZATCA
// client, uploader, then the agent and the socket (listening). On failure it closes
// what it opened.
func open(ctx context.Context, cfg Config, log *slog.Logger) (_ *daemon, err error) {
	d := &daemon{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			d.close(context.Background())
		}
	}()
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	log.Info("posagentd starting", "version", version, "state_dir", cfg.StateDir, "pid", os.Getpid())

	// Board: identity (the EGS serial), devices, clock sanity.
	bc := linux.DefaultConfig()
	bc.Root, bc.Profile, bc.Serial, bc.Model = cfg.Board.Root, cfg.Board.Profile, cfg.Board.Serial, cfg.Board.Model
	bc.Logger = log
	if cfg.Board.ClockFloor != "" {
		bc.ClockFloor, _ = parseFloor(cfg.Board.ClockFloor)
	}
	b, err := linux.New(bc)
	if err != nil {
		return nil, fmt.Errorf("board: %w", err)
	}
	d.board = b
	egs, err := egsConfig(cfg, b.Identity())
	if err != nil {
		return nil, err
	}

	// TPM key store.
	tc := tpm.DefaultConfig()
	tc.Transport = cfg.TPM.Transport
	if tc.Transport == "" {
		tc.Transport = b.Devices().TPMSpec()
	}
	tc.StateDir = cfg.path("keys")
	tc.KeyType = tpm.KeyType(cfg.TPM.KeyType)
	tc.PCRs = cfg.TPM.PCRs
	tc.Logger = log
	if f := cfg.path(cfg.TPM.ActivationSecretFile); f != "" {
		secret, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("tpm: activation secret: %w", err)
		}
		tc.ActivationSecret = bytes.TrimSpace(secret)
	}
	if d.keys, err = tpm.Open(ctx, tc); err != nil {
		return nil, err
	}
	clear(tc.ActivationSecret)

	// Journal.
	so := sqlite.DefaultOptions()
	so.Logger = log.With("subsystem", "store")
	so.MaxDatabaseBytes = cfg.Journal.MaxBytes
	if d.db, err = sqlite.Open(ctx, cfg.path(cfg.Journal.Path), so); err != nil {
		return nil, err
	}

	// Printer.
	dev := cfg.Printer.Device
	baud := cfg.Printer.Baud
	if dev == "" {
		dev = b.Devices().Printer.Path
		if bb := b.Devices().Printer.Baud; bb > 0 {
			baud = bb
		}
	}
	if dev != "" && dev != "none" {
		pc := serialport.DefaultConfig()
		pc.Device, pc.Baud = dev, baud
		pc.Profile, _ = escpos.ProfileByName(cfg.Printer.Profile)
		pc.Logger = log.With("subsystem", "printer")
		p, err := serialport.Open(pc)
		if err != nil {
			return nil, fmt.Errorf("printer: %w", err)
		}
		d.prn = p
	} else {
		log.Warn("no receipt printer configured")
	}

	// ZATCA client.
	zc := zatca.DefaultConfig()
	zc.Environment = zatca.Environment(cfg.ZATCA.Environment)
	zc.BaseURL = cfg.ZATCA.BaseURL
	zc.Timeout = time.Duration(cfg.ZATCA.Timeout)
	if cfg.ZATCA.CAFile != "" {
		if zc.CACertPEM, err = os.ReadFile(cfg.path(cfg.ZATCA.CAFile)); err != nil {
			return nil, fmt.Errorf("zatca: ca_file: %w", err)
		}
	}
	if d.zc, err = zatca.New(zc, log.With("subsystem", "zatca")); err != nil {
		return nil, err
	}

	// Uploader: its credentials are the agent's, read at every report.
	wc := offline.DefaultConfig()
	u := cfg.Upload
	wc.Concurrency, wc.RateLimit = u.Concurrency, u.RateLimit
	wc.PollInterval, wc.RetryBase, wc.RetryMax = time.Duration(u.PollInterval), time.Duration(u.RetryBase), time.Duration(u.RetryMax)
	wc.ProbeInterval, wc.WarnAge, wc.AlarmAge = time.Duration(u.ProbeEvery), time.Duration(u.WarnAge), time.Duration(u.AlarmAge)
	if wc.Burst < wc.Concurrency {
		wc.Burst = wc.Concurrency
	}
	up, err := offline.NewZATCAUploader(d.zc, func(context.Context) (zatca.Credentials, error) { return d.agent.Credentials() })
	if err != nil {
		return nil, err
	}
	if d.worker, err = offline.New(offline.Options{Config: wc, Store: d.db, Uploader: up, Logger: log.With("subsystem", "uploader")}); err != nil {
		return nil, err
	}

	// Agent.
	ac := agent.DefaultConfig()
	ac.EGS = egs
	ac.RenewBefore = time.Duration(cfg.Agent.RenewBeforeDays) * 24 * time.Hour
	ac.ExportRoot = cfg.Agent.ExportRoot
	ac.ReceiptFooter = cfg.Agent.ReceiptFooter
	ac.ReturnLookback = cfg.Agent.ReturnLookback
	ac.Version = version
	seller := cfg.Seller
	if d.agent, err = agent.New(agent.Options{Store: d.db, Keys: d.keys, ZATCA: d.zc, Uploader: agent.WorkerUploader(d.worker, time.Second),
		Printer: d.prn, Board: agent.BoardClock(b), Clock: agent.NewSystemClock(), Seller: &seller, Config: ac, Logger: log}); err != nil {
		return nil, err
	}
	if err := d.agent.Start(ctx); err != nil {
		return nil, err
	}

	// Socket API.
	lc := localapi.DefaultConfig()
	lc.SocketPath, lc.SocketMode = cfg.Socket.Path, os.FileMode(cfg.Socket.Mode)
	lc.AllowedUIDs, lc.AllowedGIDs = cfg.Socket.AllowedUIDs, cfg.Socket.AllowedGIDs
	lc.SessionIdle, lc.SessionMax = time.Duration(cfg.Session.Idle), time.Duration(cfg.Session.Max)
	lc.PIN = localapi.PINPolicy{ScryptN: cfg.Session.ScryptN, MaxFailures: cfg.Session.MaxFailedPINs, Lockout: time.Duration(cfg.Session.Lockout)}
	lc.ShutdownTimeout = time.Duration(cfg.ShutdownTimeout)
	lc.BootstrapPINFile = cfg.path("initial-admin-pin")
	accts, err := localapi.OpenAccounts(cfg.path("cashiers.json"), lc.PIN)
	if err != nil {
		return nil, err
	}
	if d.api, err = localapi.New(localapi.Options{Config: lc, Backend: d.agent, Accounts: accts, Audit: d.db, Logger: log}); err != nil {
		return nil, err
	}
	if err := d.api.Bootstrap(ctx); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(lc.SocketPath), 0o755); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	if err := d.api.Listen(); err != nil {
		return nil, err
	}
	return d, nil
}

// egsConfig is the CSR content: the configured names and the serial built from the
// board's identity.
func egsConfig(cfg Config, id board.Identity) (csr.Config, error) {
	env, _ := csr.ParseEnv(cfg.EGS.Environment)
	serial := cfg.EGS.SerialNumber
	if serial == "" {
		if err := id.Validate(); err != nil {
			return csr.Config{}, fmt.Errorf("egs serial: %w (set board.serial or egs.serial_number)", err)
		}
		serial = id.EGSSerial(cfg.EGS.Solution, cfg.EGS.Version)
	}
	c := csr.Config{
		CommonName: cfg.EGS.CommonName, SerialNumber: serial, OrganizationIdentifier: cfg.Seller.VATNumber,
		OrganizationUnit: cfg.EGS.OrganizationUnit, Organization: cfg.EGS.Organization, Country: "SA",
		InvoiceType: cfg.EGS.InvoiceType, Location: cfg.EGS.Location, Industry: cfg.EGS.Industry, Environment: env,
	}
	if err := c.Validate(); err != nil {
		return csr.Config{}, fmt.Errorf("egs: %w", err)
	}
	return c, nil
}

// serve runs the socket API, the uploader and the agent's checks until ctx ends, then
// shuts down in reverse order: the socket first (requests in flight finish within the
// shutdown timeout, so a sale being signed or printed completes), then the uploader
// (reports in flight stay due and are resent at the next start), the agent, and the
// parts close() releases.
func (d *daemon) serve(ctx context.Context) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := d.worker.Run(bg); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Error("uploader stopped", "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := d.agent.Run(bg); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Error("agent checks stopped", "err", err)
		}
	}()
	st := d.agent.Status(ctx)
	d.log.Info("posagentd ready", "socket", d.cfg.Socket.Path, "ready", st.Ready, "reasons", st.Reasons)
	err := d.api.Run(ctx)
	d.log.Info("shutting down")
	stopBG()
	wg.Wait()
	return errors.Join(err, d.close(context.Background()))
}

// close releases the parts in reverse opening order.
func (d *daemon) close(ctx context.Context) error {
	var errs []error
	if d.agent != nil {
		errs = append(errs, d.agent.Close())
	}
	if d.zc != nil {
		d.zc.CloseIdleConnections()
	}
	if d.prn != nil {
		errs = append(errs, d.prn.Close())
	}
	if d.db != nil {
		errs = append(errs, d.db.Close(ctx))
	}
	if d.keys != nil {
		errs = append(errs, d.keys.Close())
	}
	err := errors.Join(errs...)
	d.log.Info("posagentd stopped", "err", err)
	return err
}
