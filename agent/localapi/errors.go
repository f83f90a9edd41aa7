package localapi

import (
	"errors"
	"net/http"

	"github.com/posagent/posagent/agent"
	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/offline/zatca"
	"github.com/posagent/posagent/store"
)

// apiError is an HTTP status with the JSON error body.
type apiError struct {
	status int
	body   apitype.Error
}

func invalidRequest(field, rule, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, body: apitype.Error{Code: apitype.CodeInvalidRequest, Message: msg,
		Fields: []apitype.FieldError{{Field: field, Rule: rule, Message: msg}}}}
}

func newError(status int, code, msg string) *apiError {
	return &apiError{status: status, body: apitype.Error{Code: code, Message: msg}}
}

// errorFor classifies an error of the agent or the account directory (by type and
// sentinel, never by message) into the HTTP answer. sale marks the document routes,
// whose input errors are invalid_sale.
func errorFor(err error, sale bool) *apiError {
	inputCode := apitype.CodeInvalidRequest
	if sale {
		inputCode = apitype.CodeInvalidSale
	}
	var (
		ve  *invoice.ValidationError
		ie  *agent.InputError
		fe  *FieldError
		nr  *agent.NotReadyError
		ide *agent.IdempotencyError
		oe  *agent.OnboardError
		le  *LockedError
		sve *store.ValidationError
	)
	switch {
	case errors.As(err, &ve):
		out := &apiError{status: http.StatusBadRequest, body: apitype.Error{Code: inputCode, Message: "the sale breaks ZATCA or POS rules"}}
		for _, f := range ve.Errors {
			out.body.Fields = append(out.body.Fields, apitype.FieldError{Field: f.Field, Rule: f.Rule, Message: f.Message})
		}
		if len(ve.Errors) > 0 && (ve.Errors[0].Rule == invoice.RuleJSON || ve.Errors[0].Rule == invoice.RuleUnknownField || ve.Errors[0].Rule == invoice.RuleType) {
			out.body.Message = "the body is malformed"
		}
		return out
	case errors.As(err, &ie):
		return &apiError{status: http.StatusBadRequest, body: apitype.Error{Code: inputCode, Message: ie.Error(), Fields: ie.Fields}}
	case errors.As(err, &fe):
		return invalidRequest(fe.Field, fe.Rule, fe.Message)
	case errors.As(err, &nr):
		return &apiError{status: http.StatusServiceUnavailable, body: apitype.Error{Code: apitype.CodeNotReady,
			Message: nr.Error(), Reasons: nr.Reasons}}
	case errors.Is(err, store.ErrClockWentBack):
		return newError(http.StatusServiceUnavailable, apitype.CodeClockWentBack, err.Error())
	case errors.Is(err, store.ErrStorageFull):
		return newError(http.StatusInsufficientStorage, apitype.CodeStorageFull, err.Error())
	case errors.As(err, &ide):
		return newError(http.StatusConflict, apitype.CodeIdempotency, ide.Error())
	case errors.Is(err, agent.ErrNotFound), errors.Is(err, ErrNoCashier):
		return newError(http.StatusNotFound, apitype.CodeNotFound, err.Error())
	case errors.Is(err, agent.ErrBusy), errors.Is(err, agent.ErrAlreadyOnboarded), errors.Is(err, agent.ErrNotOnboarded),
		errors.Is(err, agent.ErrNoPrinter), errors.Is(err, ErrExists), errors.Is(err, store.ErrNotDeadLetter):
		return newError(http.StatusConflict, apitype.CodeConflict, err.Error())
	case errors.Is(err, agent.ErrExportForbidden):
		return newError(http.StatusForbidden, apitype.CodeForbidden, err.Error())
	case errors.As(err, &oe):
		out := newError(http.StatusBadGateway, apitype.CodeZATCA, err.Error())
		var ae *zatca.APIError
		switch {
		case oe.NotCompliant:
			out.body.Code = apitype.CodeNotCompliant
			for _, m := range oe.Messages {
				out.body.Fields = append(out.body.Fields, apitype.FieldError{Field: "zatca", Rule: m.Code, Message: m.Message})
			}
		case errors.As(err, &ae):
			for _, m := range ae.Messages {
				out.body.Fields = append(out.body.Fields, apitype.FieldError{Field: "zatca", Rule: m.Code, Message: m.Message})
			}
		case errors.Is(err, zatca.ErrInvalidRequest):
		default:
			out.status, out.body.Code = http.StatusInternalServerError, apitype.CodeInternal
		}
		return out
	case errors.As(err, &le):
		return newError(http.StatusTooManyRequests, apitype.CodeLockedOut, le.Error())
	case errors.Is(err, ErrBadCredentials):
		return newError(http.StatusUnauthorized, apitype.CodeBadCredentials, "wrong cashier or PIN")
	case errors.As(err, &sve):
		return invalidRequest(sve.Field, apitype.RuleValue, sve.Reason)
	}
	return newError(http.StatusInternalServerError, apitype.CodeInternal, "internal error: "+err.Error())
}
