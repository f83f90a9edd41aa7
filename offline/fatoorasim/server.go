package fatoorasim

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the simulator. Create it with New, serve Handler() on a listener (a real
// one on 127.0.0.1, or httptest), and Close it when done. It is safe for concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger
	st   *store
	ca   *authority

	faults            faults
	offset            atomic.Int64 // clock offset, nanoseconds
	forceNotCompliant atomic.Bool

	closing   chan struct{}
	closeOnce sync.Once
	// gate: every request holds it shared; Close takes it exclusively, so the database
	// is closed only after the last request finished.
	gate    sync.RWMutex
	closed  bool
	handler http.Handler
}

// meta keys.
const (
	metaClockOffset       = "clock_offset"
	metaForceNotCompliant = "force_not_compliant"
)

// New opens (or creates) the simulator state in opts.Dir: the SQLite database and the
// CA key and certificate, generated at first start.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	st, err := openStore(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("fatoorasim new: %w", err)
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		st:      st,
		closing: make(chan struct{}),
	}
	ctx := context.Background()
	if v, ok, err := st.getMeta(ctx, metaClockOffset); err != nil {
		st.close()
		return nil, fmt.Errorf("fatoorasim new: %w", err)
	} else if ok {
		d, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("fatoorasim new: stored clock offset %q: %w", v, err)
		}
		s.offset.Store(d)
	}
	if v, ok, err := st.getMeta(ctx, metaForceNotCompliant); err != nil {
		st.close()
		return nil, fmt.Errorf("fatoorasim new: %w", err)
	} else if ok {
		s.forceNotCompliant.Store(string(v) == "1")
	}
	s.ca, err = loadOrCreateAuthority(ctx, st, opts, s.Now())
	if err != nil {
		st.close()
		return nil, fmt.Errorf("fatoorasim new: %w", err)
	}
	s.handler = s.routes()
	s.log.Info("fatoorasim ready", "env", opts.Env, "dir", opts.Dir, "ca", s.ca.cert.SubjectName(),
		"sandbox_otps", opts.SandboxOTPs)
	return s, nil
}

// Close releases hanging and delayed requests, waits for the requests in flight, and
// closes the state database. Requests arriving afterwards get 503.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		s.gate.Lock()
		s.closed = true
		s.gate.Unlock()
		err = errors.Join(s.ca.close(), s.st.close())
	})
	if err != nil {
		return fmt.Errorf("fatoorasim close: %w", err)
	}
	return nil
}

// Handler serves the EGS API at the root and under ZATCA's prefix for the configured
// environment (e.g. /e-invoicing/simulation), and the portal/admin API under /admin/.
func (s *Server) Handler() http.Handler { return s.handler }

// EGSHandler serves only the EGS API (for a listener without the admin endpoints).
func (s *Server) EGSHandler() http.Handler { return s.guard(s.egsPrefixed()) }

// AdminHandler serves only the admin API, under /admin/.
func (s *Server) AdminHandler() http.Handler { return s.guard(s.adminRoutes()) }

// guard refuses requests after Close and makes Close wait for those in flight.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.gate.RLock()
		defer s.gate.RUnlock()
		if s.closed {
			writeReply(w, textReply(http.StatusServiceUnavailable, "the simulator is shut down"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Now is the simulator's clock: Options.Now plus the admin offset.
func (s *Server) Now() time.Time { return s.opts.Now().Add(time.Duration(s.offset.Load())) }

// ClockOffset returns the current admin offset of the clock.
func (s *Server) ClockOffset() time.Duration { return time.Duration(s.offset.Load()) }

// SetClockOffset moves the simulator's clock to Options.Now()+d (persisted).
func (s *Server) SetClockOffset(ctx context.Context, d time.Duration) error {
	if err := s.st.putMeta(ctx, metaClockOffset, []byte(strconv.FormatInt(int64(d), 10))); err != nil {
		return fmt.Errorf("set clock offset: %w", err)
	}
	s.offset.Store(int64(d))
	s.log.Info("clock offset set", "offset", d, "now", s.Now())
	return nil
}

// AdvanceClock moves the simulator's clock forward by d.
func (s *Server) AdvanceClock(ctx context.Context, d time.Duration) error {
	return s.SetClockOffset(ctx, s.ClockOffset()+d)
}

// AddFault installs a fault-injection rule and returns it with its ID.
func (s *Server) AddFault(f Fault) (Fault, error) {
	out, err := s.faults.add(f, s.Now())
	if err != nil {
		return Fault{}, fmt.Errorf("add fault: %w", err)
	}
	s.log.Info("fault added", "id", out.ID, "endpoint", out.Endpoint, "action", out.Action)
	return out, nil
}

// Faults lists the rules with their counters.
func (s *Server) Faults() []Fault { return s.faults.list() }

// RemoveFault deletes one rule.
func (s *Server) RemoveFault(id int64) error {
	if !s.faults.remove(id) {
		return fmt.Errorf("remove fault %d: %w", id, ErrNotFound)
	}
	return nil
}

// ClearFaults deletes every rule.
func (s *Server) ClearFaults() { s.faults.clear() }

// ---------------------------------------------------------------------------------
// Routing and the EGS request pipeline

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/admin/", s.adminRoutes())
	mux.Handle("/", s.egsPrefixed())
	return s.guard(mux)
}

// egsPrefixed serves the EGS API at the root and under ZATCA's URL prefix.
func (s *Server) egsPrefixed() http.Handler {
	egs := s.egsRoutes()
	mux := http.NewServeMux()
	mux.Handle("/", egs)
	prefix := pathPrefix(s.opts.Env)
	mux.Handle(prefix+"/", http.StripPrefix(prefix, egs))
	return mux
}

func (s *Server) egsRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /compliance", s.egs(EndpointCompliance, authNone, s.handleComplianceCSID))
	mux.Handle("POST /compliance/invoices", s.egs(EndpointComplianceInvoices, authCompliance, s.handleComplianceInvoice))
	mux.Handle("POST /production/csids", s.egs(EndpointProductionCSIDs, authCompliance, s.handleProductionCSID))
	mux.Handle("PATCH /production/csids", s.egs(EndpointRenewal, authProduction, s.handleRenewal))
	mux.Handle("POST /invoices/reporting/single", s.egs(EndpointReporting, authProduction, s.handleReporting))
	mux.Handle("POST /invoices/clearance/single", s.egs(EndpointClearance, authProduction, s.handleClearance))
	return mux
}

type authMode int

const (
	authNone authMode = iota
	authCompliance
	authProduction
)

// egsRequest is one EGS API request after the common checks.
type egsRequest struct {
	r    *http.Request
	body []byte
	now  time.Time
	csid *csidRow // the authenticated CSID (nil for authNone)
}

type egsHandler func(ctx context.Context, req *egsRequest) reply

// egs wraps an endpoint with fault injection, ZATCA's header, size and auth checks, and
// the deferred reply that makes commit-then-drop possible.
func (s *Server) egs(endpoint string, mode authMode, h egsHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: only then does net/http notice a client that gives up,
		// which ends a "hang" fault.
		body, bodyErr := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
		p := s.faults.decide(endpoint, s.Now())
		if p.latency > 0 && !s.sleep(r.Context(), p.latency) {
			dropConnection(w)
			return
		}
		switch p.terminal {
		case FaultStatus:
			s.log.Debug("fault: status", "endpoint", endpoint, "status", p.status)
			writeReply(w, faultReply(p.status))
			return
		case FaultHang:
			s.log.Debug("fault: hang", "endpoint", endpoint)
			s.sleep(r.Context(), s.opts.MaxHang)
			dropConnection(w)
			return
		case FaultReset, FaultOutage:
			s.log.Debug("fault: reset", "endpoint", endpoint)
			dropConnection(w)
			return
		}
		rep := s.serveEGS(r, body, bodyErr, endpoint, mode, h)
		if p.commitDrop {
			s.log.Debug("fault: commit then drop", "endpoint", endpoint, "status", rep.status)
			dropConnection(w)
			return
		}
		writeReply(w, rep)
	})
}

func (s *Server) serveEGS(r *http.Request, body []byte, bodyErr error, endpoint string, mode authMode, h egsHandler) reply {
	// ZATCA checks the API version first and answers in text/plain.
	if r.Header.Get("Accept-Version") != "V2" {
		return textReply(http.StatusNotAcceptable, "This Version is not supported or not provided in the header.")
	}
	if bodyErr != nil {
		var mbe *http.MaxBytesError
		if errors.As(bodyErr, &mbe) {
			return jsonReply(http.StatusRequestEntityTooLarge, codeMessage{"Request-Entity-Too-Large", "Request Entity is too large"})
		}
		return jsonReply(http.StatusBadRequest, codeMessage{"Invalid-Request", "could not read the request body: " + bodyErr.Error()})
	}
	req := &egsRequest{r: r, body: body, now: s.Now()}
	if mode != authNone {
		c, why, err := s.authenticate(r.Context(), r, mode, req.now)
		if err != nil {
			s.log.Error("authenticate", "endpoint", endpoint, "err", err)
			return jsonReply(http.StatusInternalServerError, codeMessage{"Internal-Error", "authentication failed"})
		}
		if c == nil {
			s.log.Debug("unauthorized", "endpoint", endpoint, "why", why)
			return unauthorized(req.now, why)
		}
		req.csid = c
	}
	rep := h(r.Context(), req)
	s.log.Debug("egs request", "endpoint", endpoint, "status", rep.status)
	return rep
}

// authenticate checks Basic auth: the username is the binarySecurityToken verbatim, the
// password the secret. It returns the CSID, or nil and the reason for a 401.
func (s *Server) authenticate(ctx context.Context, r *http.Request, mode authMode, now time.Time) (*csidRow, string, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return nil, "Basic authentication (binarySecurityToken:secret) is required", nil
	}
	c, err := s.st.csidByToken(ctx, user)
	if err != nil {
		return nil, "", err
	}
	if c == nil {
		return nil, "unknown binarySecurityToken (it is used verbatim as the username, not re-encoded)", nil
	}
	h := sha256.Sum256([]byte(pass))
	if subtle.ConstantTimeCompare(h[:], c.SecretHash) != 1 {
		return nil, "wrong secret for this binarySecurityToken", nil
	}
	switch c.Status {
	case "revoked":
		return nil, fmt.Sprintf("CSID %d has been revoked", c.RequestID), nil
	case "superseded":
		return nil, fmt.Sprintf("CSID %d was replaced by a newer CSID", c.RequestID), nil
	}
	if !now.Before(c.NotAfter) {
		return nil, fmt.Sprintf("CSID %d expired on %s", c.RequestID, c.NotAfter.Format(time.RFC3339)), nil
	}
	switch {
	case mode == authCompliance && c.Kind != "compliance":
		return nil, "this endpoint needs the compliance CSID; a production CSID was sent", nil
	case mode == authProduction && c.Kind != "production":
		return nil, "this endpoint needs the production CSID; a compliance CSID was sent", nil
	}
	return c, "", nil
}

func faultReply(status int) reply {
	rep := jsonReply(status, codeMessage{Code: strconv.Itoa(status), Message: http.StatusText(status)})
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		rep.header = http.Header{"Retry-After": []string{"1"}}
	}
	return rep
}

func writeReply(w http.ResponseWriter, rep reply) {
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	if rep.ctype != "" {
		w.Header().Set("Content-Type", rep.ctype)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(rep.body)))
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

// sleep waits d, or until the request is cancelled or the server closes. It reports
// whether the full time passed.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

// dropConnection closes the client connection without an answer (http.Hijacker), or
// aborts the stream where hijacking is impossible (HTTP/2).
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
