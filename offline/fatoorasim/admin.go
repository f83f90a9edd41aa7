package fatoorasim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The admin API (the simulated Fatoora portal and the simulator's knobs), all JSON
// unless noted:
//
//	GET    /admin/health                 {"env","now","clockOffset"}
//	GET    /admin/ca.pem                 the CA certificate (PEM)
//	POST   /admin/otps                   {"vat","count"} → {"otps":[OTP…]}
//	GET    /admin/otps?vat=              {"otps":[OTP…]}
//	GET    /admin/devices                {"devices":[Device…]}
//	POST   /admin/csids/{id}/revoke      revoke a CSID by requestID
//	PUT    /admin/devices/{id}/renewal   {"notCompliant":bool}
//	GET|PUT /admin/renewal               {"forceNotCompliant":bool}
//	GET    /admin/stats?month=YYYY-MM    {"months":[MonthStats…]}
//	GET    /admin/issues.csv?month=      CSV of errors and warnings
//	GET|PUT /admin/clock                 {"offset"} | {"advance"} | {"now"} → ClockState
//	GET    /admin/faults                 {"faults":[Fault…]}
//	POST   /admin/faults                 Fault → Fault (with id)
//	DELETE /admin/faults                 remove all
//	DELETE /admin/faults/{id}            remove one
func (s *Server) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/health", s.adminHealth)
	mux.HandleFunc("GET /admin/ca.pem", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(s.ca.certPEM())
	})
	mux.HandleFunc("POST /admin/otps", s.adminGenerateOTPs)
	mux.HandleFunc("GET /admin/otps", func(w http.ResponseWriter, r *http.Request) {
		otps, err := s.OTPs(r.Context(), r.URL.Query().Get("vat"))
		adminJSON(w, struct {
			OTPs []OTP `json:"otps"`
		}{otps}, err)
	})
	mux.HandleFunc("GET /admin/devices", func(w http.ResponseWriter, r *http.Request) {
		d, err := s.Devices(r.Context())
		adminJSON(w, struct {
			Devices []Device `json:"devices"`
		}{d}, err)
	})
	mux.HandleFunc("POST /admin/csids/{id}/revoke", func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err == nil {
			err = s.RevokeCSID(r.Context(), id)
		}
		adminJSON(w, struct {
			Revoked int64 `json:"revoked"`
		}{id}, err)
	})
	mux.HandleFunc("PUT /admin/devices/{id}/renewal", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			NotCompliant bool `json:"notCompliant"`
		}
		id, err := pathID(r)
		if err == nil {
			err = decodeAdmin(r, &in)
		}
		if err == nil {
			err = s.SetRenewalNotCompliant(r.Context(), id, in.NotCompliant)
		}
		adminJSON(w, in, err)
	})
	mux.HandleFunc("GET /admin/renewal", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, renewalPolicy{s.RenewalNotCompliantForced()}, nil)
	})
	mux.HandleFunc("PUT /admin/renewal", func(w http.ResponseWriter, r *http.Request) {
		var in renewalPolicy
		err := decodeAdmin(r, &in)
		if err == nil {
			err = s.ForceRenewalNotCompliant(r.Context(), in.ForceNotCompliant)
		}
		adminJSON(w, in, err)
	})
	mux.HandleFunc("GET /admin/stats", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Stats(r.Context(), r.URL.Query().Get("month"))
		adminJSON(w, struct {
			Months []MonthStats `json:"months"`
		}{st}, err)
	})
	mux.HandleFunc("GET /admin/issues.csv", func(w http.ResponseWriter, r *http.Request) {
		month := r.URL.Query().Get("month")
		if err := checkMonth("issues csv", month); err != nil {
			adminJSON(w, nil, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="fatoora-issues.csv"`)
		if err := s.WriteIssuesCSV(r.Context(), w, month); err != nil {
			s.log.Error("issues csv", "err", err)
		}
	})
	mux.HandleFunc("GET /admin/clock", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, s.clockState(), nil)
	})
	mux.HandleFunc("PUT /admin/clock", s.adminSetClock)
	mux.HandleFunc("GET /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		adminJSON(w, struct {
			Faults []Fault `json:"faults"`
		}{s.Faults()}, nil)
	})
	mux.HandleFunc("POST /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		err := decodeAdmin(r, &f)
		if err == nil {
			f, err = s.AddFault(f)
		}
		adminJSON(w, f, err)
	})
	mux.HandleFunc("DELETE /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		adminJSON(w, struct{}{}, nil)
	})
	mux.HandleFunc("DELETE /admin/faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err == nil {
			err = s.RemoveFault(id)
		}
		adminJSON(w, struct{}{}, err)
	})
	return mux
}

type renewalPolicy struct {
	ForceNotCompliant bool `json:"forceNotCompliant"`
}

// ClockState is the simulator's clock as the admin API reports it.
type ClockState struct {
	Now    time.Time `json:"now"`
	Offset Duration  `json:"offset"`
}

func (s *Server) clockState() ClockState {
	return ClockState{Now: s.Now().UTC(), Offset: Duration(s.ClockOffset())}
}

// ClockChange is the body of PUT /admin/clock: exactly one field set. Offset sets the
// offset from the base clock, Advance adds to it, Now sets the clock to an instant.
type ClockChange struct {
	Offset  *Duration  `json:"offset,omitempty"`
	Advance *Duration  `json:"advance,omitempty"`
	Now     *time.Time `json:"now,omitempty"`
}

func (s *Server) adminSetClock(w http.ResponseWriter, r *http.Request) {
	var in ClockChange
	if err := decodeAdmin(r, &in); err != nil {
		adminJSON(w, nil, err)
		return
	}
	n := 0
	for _, set := range []bool{in.Offset != nil, in.Advance != nil, in.Now != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		adminJSON(w, nil, fmt.Errorf("clock: give exactly one of offset, advance, now: %w", ErrInvalidInput))
		return
	}
	var err error
	switch {
	case in.Offset != nil:
		err = s.SetClockOffset(r.Context(), time.Duration(*in.Offset))
	case in.Advance != nil:
		err = s.AdvanceClock(r.Context(), time.Duration(*in.Advance))
	default:
		err = s.SetClockOffset(r.Context(), in.Now.Sub(s.opts.Now()))
	}
	adminJSON(w, s.clockState(), err)
}

func (s *Server) adminHealth(w http.ResponseWriter, r *http.Request) {
	adminJSON(w, struct {
		Env string `json:"env"`
		ClockState
	}{s.opts.Env.String(), s.clockState()}, nil)
}

func (s *Server) adminGenerateOTPs(w http.ResponseWriter, r *http.Request) {
	var in struct {
		VAT   string `json:"vat"`
		Count int    `json:"count"`
	}
	if err := decodeAdmin(r, &in); err != nil {
		adminJSON(w, nil, err)
		return
	}
	otps, err := s.GenerateOTPs(r.Context(), in.VAT, in.Count)
	adminJSON(w, struct {
		OTPs []OTP `json:"otps"`
	}{otps}, err)
}

func pathID(r *http.Request) (int64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("id %q must be a positive integer: %w", v, ErrInvalidInput)
	}
	return id, nil
}

func decodeAdmin(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %v: %w", err, ErrInvalidInput)
	}
	return nil
}

// AdminError is the JSON error body of the admin API.
type AdminError struct {
	Error string `json:"error"`
}

func adminJSON(w http.ResponseWriter, v any, err error) {
	status := http.StatusOK
	if err != nil {
		switch {
		case errors.Is(err, ErrInvalidInput):
			status = http.StatusBadRequest
		case errors.Is(err, ErrNotFound):
			status = http.StatusNotFound
		default:
			status = http.StatusInternalServerError
		}
		v = AdminError{err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
