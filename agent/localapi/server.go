// Package localapi owns posagent's local socket API: HTTP/JSON over a unix socket,
// versioned under /v1 with stdlib ServeMux patterns. It owns the listener (stale-socket
// check, mode after listen), the peer check (SO_PEERCRED uid/gid against the
// configured lists, on every connection), cashier accounts (scrypt PIN hashes, default
// PINs changed at first use, lockout after repeated failures), sessions (idle and
// absolute expiry), roles, request decoding (capped bodies, unknown fields refused),
// the one JSON error shape, and the audit entries of every action with its actor.
//
// It drives the agent through the narrow Backend interface (*agent.Agent implements
// it). It imports agent, agent/apitype, agent/invoice, store (the Audit contract and its
// error sentinels) and offline/zatca (error classification); it must not import
// implementations (store/sqlite, hsm/tpm, printer/*).
package localapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/store"
)

// Backend is what the API drives: *agent.Agent.
type Backend interface {
	Sale(ctx context.Context, body []byte, want invoice.DocType) (*apitype.Document, error)
	Reprint(ctx context.Context, uuid string) (*apitype.Document, error)
	Document(ctx context.Context, uuid string) (*apitype.Document, error)
	DocumentByICV(ctx context.Context, icv uint64) (*apitype.Document, error)
	DocumentByKey(ctx context.Context, key string) (*apitype.Document, error)
	DocumentXML(ctx context.Context, uuid string) ([]byte, error)
	Status(ctx context.Context) apitype.Status
	Stats(ctx context.Context, month string) (*apitype.Stats, error)
	DeadLetters(ctx context.Context) ([]apitype.DeadLetter, error)
	Correct(ctx context.Context, ref string, body []byte) (*apitype.Document, error)
	Resend(ctx context.Context, ref, reason string) (*apitype.Document, error)
	Onboard(ctx context.Context, otp string) (*apitype.OnboardResult, error)
	Renew(ctx context.Context, otp string) (*apitype.OnboardResult, error)
	Verify(ctx context.Context) (*apitype.VerifyResult, error)
	Export(ctx context.Context, req apitype.ExportRequest) (*apitype.ExportResult, error)
}

// Config configures the server. Start from DefaultConfig.
type Config struct {
	// SocketPath is where the socket is created (at most 107 bytes).
	SocketPath string
	// SocketMode is the socket file's mode, set right after listening.
	SocketMode os.FileMode
	// AllowedUIDs and AllowedGIDs: a connecting process is served when its uid is in
	// AllowedUIDs or its gid in AllowedGIDs (SO_PEERCRED). At least one is required.
	AllowedUIDs []int
	AllowedGIDs []int
	// SessionIdle ends a session after this long without a request; SessionMax ends it
	// this long after login in any case.
	SessionIdle time.Duration
	SessionMax  time.Duration
	// PIN hashing and lockout.
	PIN PINPolicy
	// ShutdownTimeout bounds the wait for requests in flight at shutdown.
	ShutdownTimeout time.Duration
	// BootstrapPINFile receives the first administrator's default PIN when the
	// account directory is empty ("" disables the bootstrap).
	BootstrapPINFile string
}

// DefaultConfig returns the defaults: the default socket path, mode 0660, sessions of
// 15 minutes idle and 12 hours at most, scrypt N=32768, lockout for 15 minutes after 5
// wrong PINs, 15 s to finish requests at shutdown. AllowedUIDs/GIDs must be set.
func DefaultConfig() Config {
	return Config{
		SocketPath:      apitype.DefaultSocketPath,
		SocketMode:      0o660,
		SessionIdle:     15 * time.Minute,
		SessionMax:      12 * time.Hour,
		PIN:             PINPolicy{ScryptN: 1 << 15, MaxFailures: 5, Lockout: 15 * time.Minute},
		ShutdownTimeout: 15 * time.Second,
	}
}

// Validate returns every bad field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("localapi config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.SocketPath == "":
		bad("SocketPath", "required")
	case len(c.SocketPath) > 107:
		bad("SocketPath", "%d bytes; a unix socket path has at most 107", len(c.SocketPath))
	}
	if c.SocketMode&^0o777 != 0 || c.SocketMode&0o600 != 0o600 {
		bad("SocketMode", "%#o: want permission bits including owner read/write", c.SocketMode)
	}
	if len(c.AllowedUIDs) == 0 && len(c.AllowedGIDs) == 0 {
		bad("AllowedUIDs", "AllowedUIDs or AllowedGIDs must name who may connect")
	}
	for _, id := range append(slices.Clone(c.AllowedUIDs), c.AllowedGIDs...) {
		if id < 0 {
			bad("AllowedUIDs/AllowedGIDs", "negative id %d", id)
		}
	}
	if c.SessionIdle <= 0 || c.SessionMax <= 0 {
		bad("SessionIdle/SessionMax", "must be positive")
	}
	if err := c.PIN.Validate(); err != nil {
		bad("PIN", "%v", err)
	}
	if c.ShutdownTimeout <= 0 {
		bad("ShutdownTimeout", "must be positive")
	}
	return errors.Join(errs...)
}

// Options are the server's dependencies.
type Options struct {
	Config   Config
	Backend  Backend
	Accounts *Accounts
	// Audit receives the session and request entries.
	Audit store.Audit
	// Now defaults to time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Server is the socket API.
type Server struct {
	cfg      Config
	be       Backend
	accts    *Accounts
	audit    store.Audit
	now      func() time.Time
	log      *slog.Logger
	sessions *sessions
	handler  http.Handler

	mu sync.Mutex
	ln net.Listener
}

// New checks the options and builds the server (it does not listen yet).
func New(o Options) (*Server, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Backend == nil || o.Accounts == nil || o.Audit == nil {
		return nil, errors.New("localapi new: Backend, Accounts and Audit are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: o.Config, be: o.Backend, accts: o.Accounts, audit: o.Audit, now: o.Now,
		log: o.Logger.With("subsystem", "localapi"), sessions: newSessions(o.Config.SessionIdle, o.Config.SessionMax)}
	s.handler = s.routes()
	return s, nil
}

// Bootstrap creates the first administrator when there are no cashiers (see
// Accounts.Bootstrap) and audits it.
func (s *Server) Bootstrap(ctx context.Context) error {
	if s.cfg.BootstrapPINFile == "" {
		return nil
	}
	created, err := s.accts.Bootstrap(s.cfg.BootstrapPINFile, s.now())
	if err != nil {
		return err
	}
	if created {
		s.record(ctx, "system", "cashier.bootstrap", map[string]any{"cashier": "admin", "pin_file": s.cfg.BootstrapPINFile})
		s.log.Warn("created the first administrator; its default PIN must be changed at first login",
			"cashier", "admin", "pin_file", s.cfg.BootstrapPINFile)
	}
	return nil
}

// Handler is the API's HTTP handler (the peer check needs the connection context that
// Serve sets; requests without it are refused).
func (s *Server) Handler() http.Handler { return s.handler }

// ErrSocketInUse: another process serves the socket path.
var ErrSocketInUse = errors.New("localapi: socket in use by another process")

// Listen creates the socket. A leftover socket file is removed only when nothing
// answers on it (a live daemon makes Listen fail with ErrSocketInUse). The socket's
// mode is set right after listening.
func (s *Server) Listen() error {
	path := s.cfg.SocketPath
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("localapi listen: %s exists and is not a socket", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return fmt.Errorf("localapi listen %s: %w", path, ErrSocketInUse)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("localapi listen: probing %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("localapi listen: removing stale socket: %w", err)
		}
		s.log.Info("removed a stale socket", "path", path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("localapi listen: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, s.cfg.SocketMode); err != nil {
		ln.Close()
		return fmt.Errorf("localapi listen: chmod: %w", err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.log.Info("listening", "socket", path, "mode", fmt.Sprintf("%#o", s.cfg.SocketMode),
		"allowed_uids", s.cfg.AllowedUIDs, "allowed_gids", s.cfg.AllowedGIDs)
	return nil
}

// Run serves the socket (listening first if Listen was not called) until ctx ends,
// then stops accepting and waits up to ShutdownTimeout for requests in flight (a sale
// being signed or printed finishes) before cutting them off. It returns nil after a
// clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
		s.mu.Lock()
		ln = s.ln
		s.mu.Unlock()
	}
	// Requests run under a context that outlives ctx until the shutdown deadline, so
	// a signal does not abort a sale half-way.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	hs := &http.Server{
		Handler:           s.handler,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext:       func(c context.Context, conn net.Conn) context.Context { return withPeer(c, peerOf(conn)) },
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("localapi serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	cancelBase()
	if err != nil {
		hs.Close()
		s.log.Warn("requests still running at the shutdown deadline were cut off", "err", err)
	}
	<-errc
	s.log.Info("socket closed", "socket", s.cfg.SocketPath)
	return nil
}

// peerCred is the connecting process as the kernel reports it.
type peerCred struct {
	known         bool
	uid, gid, pid int
}

type peerKey struct{}

func withPeer(ctx context.Context, p peerCred) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

func peerFrom(ctx context.Context) peerCred {
	p, _ := ctx.Value(peerKey{}).(peerCred)
	return p
}

// allowed reports whether the peer may use the API.
func (s *Server) allowed(p peerCred) bool {
	return p.known && (slices.Contains(s.cfg.AllowedUIDs, p.uid) || slices.Contains(s.cfg.AllowedGIDs, p.gid))
}

// record writes one audit entry; failures are logged (the action already happened).
func (s *Server) record(ctx context.Context, actor, action string, details map[string]any) {
	e := store.Entry{At: s.now(), Actor: actor, Action: action, Details: mustJSON(details)}
	if _, err := s.audit.Record(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("audit write failed", "action", action, "actor", actor, "err", err)
	}
}
