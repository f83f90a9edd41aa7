package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/store"
)

// route is one endpoint.
type route struct {
	pattern string
	name    string       // audit action "api.<name>"
	role    apitype.Role // the least role allowed; "" for login (no session)
	// audit writes an "api.<name>" entry after the request. Routes whose action the
	// journal or the agent already audits with the actor (issuing, printing,
	// onboarding steps) and the status/session polls do not.
	audit bool
	// pinChange: a session with a default PIN may call it.
	pinChange bool
	limit     int64
	h         func(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError
}

// reqCtx is what the middleware found out about a request.
type reqCtx struct {
	peer    peerCred
	session session
	actor   string
	body    []byte
}

func (s *Server) routeTable() []route {
	sale := func(t invoice.DocType) func(http.ResponseWriter, *http.Request, *reqCtx) *apiError {
		return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError {
			d, err := s.be.Sale(r.Context(), rc.body, t)
			if err != nil {
				return errorFor(err, true)
			}
			writeJSON(w, http.StatusOK, d)
			return nil
		}
	}
	return []route{
		{pattern: apitype.RouteLogin, name: "login", limit: apitype.MaxRequestBody, h: s.login},
		{pattern: apitype.RouteLogout, name: "logout", role: apitype.RoleCashier, pinChange: true, limit: apitype.MaxRequestBody, h: s.logout},
		{pattern: apitype.RouteSession, name: "session", role: apitype.RoleCashier, pinChange: true, h: s.sessionInfo},
		{pattern: apitype.RouteChangePIN, name: "change_pin", role: apitype.RoleCashier, pinChange: true, limit: apitype.MaxRequestBody, h: s.changePIN},
		{pattern: apitype.RouteSales, name: "sale", role: apitype.RoleCashier, limit: apitype.MaxSaleBody, h: sale(invoice.TypeInvoice)},
		{pattern: apitype.RouteDebits, name: "debit_note", role: apitype.RoleCashier, limit: apitype.MaxSaleBody, h: sale(invoice.TypeDebitNote)},
		{pattern: apitype.RouteReturns, name: "return", role: apitype.RoleSupervisor, limit: apitype.MaxSaleBody, h: sale(invoice.TypeCreditNote)},
		{pattern: apitype.RouteReprint, name: "reprint", role: apitype.RoleCashier, limit: apitype.MaxRequestBody, h: s.reprint},
		{pattern: apitype.RouteDocument, name: "document", role: apitype.RoleCashier, audit: true, h: s.document},
		{pattern: apitype.RouteDocumentXML, name: "document_xml", role: apitype.RoleCashier, audit: true, h: s.documentXML},
		{pattern: apitype.RouteFindDoc, name: "document_find", role: apitype.RoleCashier, audit: true, h: s.findDocument},
		{pattern: apitype.RouteStatus, name: "status", role: apitype.RoleCashier, h: s.status},
		{pattern: apitype.RouteStats, name: "stats", role: apitype.RoleCashier, audit: true, h: s.stats},
		{pattern: apitype.RouteDeadLetters, name: "dead_letters", role: apitype.RoleSupervisor, audit: true, h: s.deadLetters},
		{pattern: apitype.RouteCorrectDL, name: "dead_letter_correct", role: apitype.RoleSupervisor, audit: true, limit: apitype.MaxSaleBody, h: s.correctDeadLetter},
		{pattern: apitype.RouteResendDL, name: "dead_letter_resend", role: apitype.RoleSupervisor, audit: true, limit: apitype.MaxRequestBody, h: s.resendDeadLetter},
		{pattern: apitype.RouteOnboard, name: "onboard", role: apitype.RoleAdmin, audit: true, limit: apitype.MaxRequestBody, h: s.onboard(false)},
		{pattern: apitype.RouteRenew, name: "renew", role: apitype.RoleAdmin, audit: true, limit: apitype.MaxRequestBody, h: s.onboard(true)},
		{pattern: apitype.RouteCashiers, name: "cashiers", role: apitype.RoleAdmin, audit: true, h: s.listCashiers},
		{pattern: apitype.RouteAddCashier, name: "cashier_add", role: apitype.RoleAdmin, limit: apitype.MaxRequestBody, h: s.addCashier},
		{pattern: apitype.RouteResetPIN, name: "cashier_pin_reset", role: apitype.RoleAdmin, limit: apitype.MaxRequestBody, h: s.resetPIN},
		{pattern: apitype.RouteVerify, name: "verify", role: apitype.RoleAdmin, audit: true, limit: apitype.MaxRequestBody, h: s.verify},
		{pattern: apitype.RouteExport, name: "export", role: apitype.RoleAdmin, audit: true, limit: apitype.MaxRequestBody, h: s.export},
	}
}

// routes is the API's handler: the peer check on every request, then the route, with
// JSON answers for unknown paths (404) and methods (405) too.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		mux.Handle(rt.pattern, s.wrap(rt))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.allowed(peerFrom(r.Context())) {
			s.refusePeer(w, r)
			return
		}
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // sets the path values
			return
		}
		// The mux's own answer: find out whether it is a 404 or a 405, answer in JSON.
		probe := &statusProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeError(w, newError(http.StatusMethodNotAllowed, apitype.CodeMethodNotAllowed,
				r.Method+" is not allowed on "+r.URL.Path+" (allowed: "+probe.header.Get("Allow")+")"))
			return
		}
		writeError(w, newError(http.StatusNotFound, apitype.CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path))
	})
}

// statusProbe records the status and headers a handler writes, and drops its body.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
func (p *statusProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// refusePeer answers a process whose uid/gid is not allowed, audits it and closes the
// connection.
func (s *Server) refusePeer(w http.ResponseWriter, r *http.Request) {
	p := peerFrom(r.Context())
	s.record(r.Context(), "peer:"+strconv.Itoa(p.uid), "api.peer_refused", map[string]any{"uid": p.uid, "gid": p.gid,
		"pid": p.pid, "known": p.known, "method": r.Method, "path": r.URL.Path})
	s.log.Warn("connection refused: peer not allowed", "uid", p.uid, "gid", p.gid, "pid", p.pid, "known", p.known)
	w.Header().Set("Connection", "close")
	writeError(w, newError(http.StatusForbidden, apitype.CodePeerNotAllowed, "this process (uid "+strconv.Itoa(p.uid)+
		", gid "+strconv.Itoa(p.gid)+") may not use the posagent socket"))
}

// wrap is the middleware of every route (after the peer check): session and role, body
// cap and read, the actor in the context, the handler, and the audit entry.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := &reqCtx{peer: peerFrom(r.Context())}
		now := s.now()
		if rt.role != "" {
			if e := s.authenticate(r, rt, rc, now); e != nil {
				writeError(w, e)
				return
			}
		} else {
			rc.actor = "peer:" + strconv.Itoa(rc.peer.uid)
		}
		r = r.WithContext(store.WithActor(r.Context(), rc.actor))
		if rt.limit > 0 {
			body, e := readBody(w, r, rt.limit)
			if e != nil {
				writeError(w, e)
				return
			}
			rc.body = body
		}
		e := rt.h(w, r, rc)
		if e != nil {
			if e.status >= 500 {
				s.log.Error("request failed", "route", rt.name, "actor", rc.actor, "status", e.status, "code", e.body.Code, "message", e.body.Message)
			}
			writeError(w, e)
		}
		if rt.audit {
			st, code := http.StatusOK, ""
			if e != nil {
				st, code = e.status, e.body.Code
			}
			s.record(r.Context(), rc.actor, "api."+rt.name, map[string]any{"method": r.Method, "path": r.URL.Path,
				"query": r.URL.RawQuery, "status": st, "code": code, "pid": rc.peer.pid})
		}
	})
}

// authenticate checks the session token and the role.
func (s *Server) authenticate(r *http.Request, rt route, rc *reqCtx, now time.Time) *apiError {
	h := r.Header.Get(apitype.SessionHeader)
	token, ok := strings.CutPrefix(h, apitype.BearerPrefix)
	if !ok || token == "" {
		return newError(http.StatusUnauthorized, apitype.CodeUnauthenticated, "this action needs a session: log in with POST /v1/login and send \"Authorization: Bearer <token>\"")
	}
	ss, state := s.sessions.use(token, now)
	switch state {
	case sessionUnknown:
		return newError(http.StatusUnauthorized, apitype.CodeUnauthenticated, "unknown session token: log in again")
	case sessionExpired:
		s.record(r.Context(), "cashier:"+ss.cashier, "session.expired", map[string]any{"created_at": ss.created, "last_used": ss.lastUsed})
		return newError(http.StatusUnauthorized, apitype.CodeSessionExpired, "the session expired: log in again")
	}
	rc.session, rc.actor = ss, "cashier:"+ss.cashier
	if ss.mustChange && !rt.pinChange {
		return newError(http.StatusForbidden, apitype.CodePINChange, "the PIN is a default PIN: change it with POST /v1/session/pin first")
	}
	if !ss.role.Allows(rt.role) {
		s.record(r.Context(), rc.actor, "api.forbidden", map[string]any{"method": r.Method, "path": r.URL.Path,
			"role": ss.role, "needs": rt.role})
		return newError(http.StatusForbidden, apitype.CodeForbidden, "the "+string(ss.role)+" role may not "+rt.name+" (needs "+string(rt.role)+")")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable {
		if e.body.RetryAfterSeconds > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(e.body.RetryAfterSeconds))
		}
	}
	writeJSON(w, e.status, e.body)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{"marshal_error":true}`)
	}
	return b
}

// ---------------------------------------------------------------------------------
// Sessions

func (s *Server) login(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError {
	var req apitype.LoginRequest
	if e := decodeStrict(rc.body, &req); e != nil {
		return e
	}
	if req.Cashier == "" {
		return invalidRequest("cashier", apitype.RuleRequired, "cashier is required")
	}
	if req.PIN == "" {
		return invalidRequest("pin", apitype.RuleRequired, "pin is required")
	}
	now := s.now()
	actor := "cashier:" + req.Cashier
	if checkID(req.Cashier) != nil {
		actor = "cashier:(invalid id)"
	}
	c, err := s.accts.Authenticate(req.Cashier, req.PIN, now)
	var le *LockedError
	switch {
	case errors.As(err, &le):
		if le.Now {
			s.record(r.Context(), actor, "session.locked_out", map[string]any{"until": le.Until, "pid": rc.peer.pid, "uid": rc.peer.uid})
			s.log.Warn("cashier locked out after repeated wrong PINs", "cashier", req.Cashier, "until", le.Until)
		} else {
			s.record(r.Context(), actor, "session.login_refused", map[string]any{"reason": "locked_out", "until": le.Until, "pid": rc.peer.pid})
		}
		e := errorFor(err, false)
		e.body.RetryAfterSeconds = int(le.Until.Sub(now).Seconds()) + 1
		return e
	case err != nil:
		s.record(r.Context(), actor, "session.login_failed", map[string]any{"pid": rc.peer.pid, "uid": rc.peer.uid})
		return errorFor(err, false)
	}
	token, ss, err := s.sessions.create(c, now)
	if err != nil {
		return errorFor(err, false)
	}
	s.record(r.Context(), "cashier:"+c.ID, "session.login", map[string]any{"role": c.Role, "must_change_pin": c.MustChangePIN,
		"pid": rc.peer.pid, "uid": rc.peer.uid})
	writeJSON(w, http.StatusOK, s.sessionOut(*ss, token))
	return nil
}

func (s *Server) sessionOut(ss session, token string) apitype.Session {
	return apitype.Session{Token: token, Cashier: ss.cashier, Name: ss.name, Role: ss.role, CreatedAt: ss.created,
		ExpiresAt: s.sessions.expires(ss), MustChangePIN: ss.mustChange}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError {
	s.sessions.end(rc.session.key)
	s.record(r.Context(), rc.actor, "session.logout", map[string]any{"pid": rc.peer.pid})
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (s *Server) sessionInfo(w http.ResponseWriter, _ *http.Request, rc *reqCtx) *apiError {
	writeJSON(w, http.StatusOK, s.sessionOut(rc.session, ""))
	return nil
}

func (s *Server) changePIN(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError {
	var req apitype.ChangePINRequest
	if e := decodeStrict(rc.body, &req); e != nil {
		return e
	}
	if req.PIN == "" {
		return invalidRequest("pin", apitype.RuleRequired, "pin (the current PIN) is required")
	}
	if req.NewPIN == "" {
		return invalidRequest("new_pin", apitype.RuleRequired, "new_pin is required")
	}
	err := s.accts.ChangePIN(rc.session.cashier, req.PIN, req.NewPIN, s.now())
	var le *LockedError
	switch {
	case errors.As(err, &le):
		if le.Now {
			s.record(r.Context(), rc.actor, "session.locked_out", map[string]any{"until": le.Until, "pid": rc.peer.pid})
		}
		s.sessions.endCashier(rc.session.cashier)
		return errorFor(err, false)
	case errors.Is(err, ErrBadCredentials):
		s.record(r.Context(), rc.actor, "session.pin_change_failed", map[string]any{"pid": rc.peer.pid})
		return errorFor(err, false)
	case err != nil:
		return errorFor(err, false)
	}
	s.sessions.pinChanged(rc.session.cashier)
	s.record(r.Context(), rc.actor, "session.pin_changed", map[string]any{"pid": rc.peer.pid})
	if rc.session.cashier == "admin" && s.cfg.BootstrapPINFile != "" {
		if err := os.Remove(s.cfg.BootstrapPINFile); err == nil {
			s.log.Info("removed the first administrator's default PIN file", "path", s.cfg.BootstrapPINFile)
		}
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// ---------------------------------------------------------------------------------
// Documents

func (s *Server) reprint(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError {
	if len(strings.TrimSpace(string(rc.body))) > 0 {
		if e := decodeStrict(rc.body, &struct{}{}); e != nil {
			return e
		}
	}
	d, err := s.be.Reprint(r.Context(), r.PathValue("uuid"))
	if err != nil {
		return errorFor(err, false)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) document(w http.ResponseWriter, r *http.Request, _ *reqCtx) *apiError {
	d, err := s.be.Document(r.Context(), r.PathValue("uuid"))
	if err != nil {
		return errorFor(err, false)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) documentXML(w http.ResponseWriter, r *http.Request, _ *reqCtx) *apiError {
	xml, err := s.be.DocumentXML(r.Context(), r.PathValue("uuid"))
	if err != nil {
		return errorFor(err, false)
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(xml)
	return nil
}

func (s *Server) findDocument(w http.ResponseWriter, r *http.Request, _ *reqCtx) *apiError {
	q := r.URL.Query()
	for k := range q {
		if k != "icv" && k != "key" {
			return invalidRequest(k, apitype.RuleUnknownField, "unknown query parameter (use icv or key)")
		}
	}
	var (
		d   *apitype.Document
		err error
	)
	switch icv, key := q.Get("icv"), q.Get("key"); {
	case icv != "" && key == "":
		n, perr := strconv.ParseUint(icv, 10, 64)
		if perr != nil || n == 0 {
			return invalidRequest("icv", apitype.RuleType, "icv must be a whole number of at least 1")
		}
		d, err = s.be.DocumentByICV(r.Context(), n)
	case key != "" && icv == "":
		d, err = s.be.DocumentByKey(r.Context(), key)
	default:
		return invalidRequest("icv", apitype.RuleRequired, "give exactly one of icv and key")
	}
	if err != nil {
		return errorFor(err, false)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// ---------------------------------------------------------------------------------
// Status and statistics

func (s *Server) status(w http.ResponseWriter, r *http.Request, _ *reqCtx) *apiError {
	writeJSON(w, http.StatusOK, s.be.Status(r.Context()))
	return nil
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request, _ *reqCtx) *apiError {
	q := r.URL.Query()
	for k := range q {
		if k != "month" {
			return invalidRequest(k, apitype.RuleUnknownField, "unknown query parameter (use month=YYYY-MM)")
		}
	}
	month := q.Get("month")
	if month != "" {
		if _, err := time.Parse("2006-01", month); err != nil {
			return invalidRequest("month", apitype.RuleType, "month must be YYYY-MM")
		}
	}
	st, err := s.be.Stats(r.Context(), month)
	if err != nil {
		return errorFor(err, false)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) deadLetters(w http.ResponseWriter, r *http.Request, _ *reqCtx) *apiError {
	dl, err := s.be.DeadLetters(r.Context())
	if err != nil {
		return errorFor(err, false)
	}
	if dl == nil {
		dl = []apitype.DeadLetter{}
	}
	writeJSON(w, http.StatusOK, apitype.DeadLetterList{DeadLetters: dl})
	return nil
}

// ---------------------------------------------------------------------------------
// Administration

func (s *Server) onboard(renewal bool) func(http.ResponseWriter, *http.Request, *reqCtx) *apiError {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError {
		var req apitype.OnboardRequest
		if e := decodeStrict(rc.body, &req); e != nil {
			return e
		}
		if req.OTP == "" {
			return invalidRequest("otp", apitype.RuleRequired, "otp (from the Fatoora portal) is required")
		}
		// Onboarding talks to ZATCA for a while; it must not stop half-way when the
		// caller hangs up.
		ctx := context.WithoutCancel(r.Context())
		var (
			res *apitype.OnboardResult
			err error
		)
		if renewal {
			res, err = s.be.Renew(ctx, req.OTP)
		} else {
			res, err = s.be.Onboard(ctx, req.OTP)
		}
		if err != nil {
			return errorFor(err, false)
		}
		writeJSON(w, http.StatusOK, res)
		return nil
	}
}

func (s *Server) listCashiers(w http.ResponseWriter, _ *http.Request, _ *reqCtx) *apiError {
	writeJSON(w, http.StatusOK, apitype.CashierList{Cashiers: s.accts.List(s.now())})
	return nil
}

func (s *Server) addCashier(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError {
	var req apitype.AddCashierRequest
	if e := decodeStrict(rc.body, &req); e != nil {
		return e
	}
	for _, f := range []struct{ name, v string }{{"id", req.ID}, {"name", req.Name}, {"role", string(req.Role)}, {"pin", req.PIN}} {
		if f.v == "" {
			return invalidRequest(f.name, apitype.RuleRequired, f.name+" is required")
		}
	}
	c, err := s.accts.Add(req.ID, req.Name, req.Role, req.PIN, s.now())
	if err != nil {
		return errorFor(err, false)
	}
	s.record(r.Context(), rc.actor, "cashier.added", map[string]any{"cashier": c.ID, "name": c.Name, "role": c.Role})
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) resetPIN(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError {
	var req apitype.ResetPINRequest
	if e := decodeStrict(rc.body, &req); e != nil {
		return e
	}
	if req.PIN == "" {
		return invalidRequest("pin", apitype.RuleRequired, "pin is required")
	}
	id := r.PathValue("id")
	if err := s.accts.ResetPIN(id, req.PIN, s.now()); err != nil {
		return errorFor(err, false)
	}
	ended := s.sessions.endCashier(id)
	s.record(r.Context(), rc.actor, "cashier.pin_reset", map[string]any{"cashier": id, "sessions_ended": ended})
	c, err := s.accts.Get(id, s.now())
	if err != nil {
		return errorFor(err, false)
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError {
	if len(strings.TrimSpace(string(rc.body))) > 0 {
		if e := decodeStrict(rc.body, &struct{}{}); e != nil {
			return e
		}
	}
	res, err := s.be.Verify(r.Context())
	if err != nil {
		return errorFor(err, false)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) export(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError {
	var req apitype.ExportRequest
	if e := decodeStrict(rc.body, &req); e != nil {
		return e
	}
	res, err := s.be.Export(r.Context(), req)
	if err != nil {
		return errorFor(err, false)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
