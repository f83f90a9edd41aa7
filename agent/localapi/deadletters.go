package localapi

import (
	"net/http"
	"strings"

	"github.com/posagent/posagent/agent/apitype"
)

// correctDeadLetter issues the corrected sale in the body as a new document that
// replaces the rejected one.
func (s *Server) correctDeadLetter(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError {
	d, err := s.be.Correct(r.Context(), r.PathValue("uuid"), rc.body)
	if err != nil {
		return errorFor(err, true)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// resendDeadLetter puts the rejected document's bytes back in the reporting queue.
func (s *Server) resendDeadLetter(w http.ResponseWriter, r *http.Request, rc *reqCtx) *apiError {
	var req apitype.ResendRequest
	if e := decodeStrict(rc.body, &req); e != nil {
		return e
	}
	if strings.TrimSpace(req.Reason) == "" {
		return invalidRequest("reason", apitype.RuleRequired, "reason is required: say why the same bytes should pass now (e.g. the certificate problem was fixed)")
	}
	d, err := s.be.Resend(r.Context(), r.PathValue("uuid"), strings.TrimSpace(req.Reason))
	if err != nil {
		return errorFor(err, false)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}
