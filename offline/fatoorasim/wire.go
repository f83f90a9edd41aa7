package fatoorasim

import (
	"encoding/json"
	"net/http"
	"time"
)

// ksa is Saudi local time (UTC+3, no daylight saving): IssueDate/IssueTime are in it.
var ksa = time.FixedZone("AST", 3*60*60)

// Message is one entry of validationResults (SPEC §2.4), or of {"errors":[...]}.
type Message struct {
	Type     string `json:"type"`
	Code     string `json:"code"`
	Category string `json:"category"`
	Message  string `json:"message"`
	Status   string `json:"status"`
}

// Message categories as ZATCA sends them.
const (
	catXSD       = "XSD validation"
	catKSA       = "KSA"
	catEN        = "EN_16931"
	catHash      = "INVOICE_HASHING_ERRORS"
	catQR        = "QRCODE_VALIDATION"
	catSignature = "SIGNATURE_ERRORS"
	catCert      = "CERTIFICATE_ERRORS"
	catInvoice   = "INVOICE_ERRORS"
)

func infoMsg(code, cat, text string) Message {
	return Message{Type: "INFO", Code: code, Category: cat, Message: text, Status: "PASS"}
}

func warnMsg(code, cat, text string) Message {
	return Message{Type: "WARNING", Code: code, Category: cat, Message: text, Status: "WARNING"}
}

func errMsg(code, cat, text string) Message {
	return Message{Type: "ERROR", Code: code, Category: cat, Message: text, Status: "ERROR"}
}

// validationResults is ZATCA's validationResults; the lists are never null.
type validationResults struct {
	InfoMessages    []Message `json:"infoMessages"`
	WarningMessages []Message `json:"warningMessages"`
	ErrorMessages   []Message `json:"errorMessages"`
	Status          string    `json:"status"`
}

func newResults(msgs []Message) validationResults {
	v := validationResults{InfoMessages: []Message{}, WarningMessages: []Message{}, ErrorMessages: []Message{}}
	for _, m := range msgs {
		switch m.Type {
		case "INFO":
			v.InfoMessages = append(v.InfoMessages, m)
		case "WARNING":
			v.WarningMessages = append(v.WarningMessages, m)
		default:
			v.ErrorMessages = append(v.ErrorMessages, m)
		}
	}
	switch {
	case len(v.ErrorMessages) > 0:
		v.Status = "ERROR"
	case len(v.WarningMessages) > 0:
		v.Status = "WARNING"
	default:
		v.Status = "PASS"
	}
	return v
}

// invoiceReply is the body of reporting, clearance and compliance checks (SPEC §2.4),
// with ZATCA's misspelt qrSellertStatus / qrBuyertStatus.
type invoiceReply struct {
	ValidationResults validationResults `json:"validationResults"`
	ReportingStatus   *string           `json:"reportingStatus"`
	ClearanceStatus   *string           `json:"clearanceStatus"`
	ClearedInvoice    *string           `json:"clearedInvoice,omitempty"`
	QRSellertStatus   *string           `json:"qrSellertStatus"`
	QRBuyertStatus    *string           `json:"qrBuyertStatus"`
}

// csidReply is the body of /compliance and /production/csids.
type csidReply struct {
	RequestID           int64     `json:"requestID"`
	TokenType           string    `json:"tokenType,omitempty"`
	DispositionMessage  string    `json:"dispositionMessage"`
	BinarySecurityToken string    `json:"binarySecurityToken"`
	Secret              string    `json:"secret"`
	Errors              []Message `json:"errors"`
}

const tokenTypeX509 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"

// codeMessage is a {"code","message"} pair as used by the onboarding errors.
type codeMessage struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// reply is a response held back until the handler is done, so that a fault can
// replace it or drop it after the work was committed.
type reply struct {
	status int
	ctype  string
	body   []byte
	header http.Header
}

func jsonReply(status int, v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		return textReply(http.StatusInternalServerError, "encode response: "+err.Error())
	}
	return reply{status: status, ctype: "application/json", body: b}
}

func textReply(status int, text string) reply {
	return reply{status: status, ctype: "text/plain;charset=UTF-8", body: []byte(text)}
}

// onboardingError is the {"errors":[{"code","message"}]} body of /compliance.
func onboardingErrors(status int, items ...codeMessage) reply {
	return jsonReply(status, struct {
		Errors []codeMessage `json:"errors"`
	}{items})
}

// codeError is the {"code","message"} body of /production/csids.
func codeError(status int, code, message string) reply {
	return jsonReply(status, codeMessage{Code: code, Message: message})
}

func unauthorized(now time.Time, why string) reply {
	return jsonReply(http.StatusUnauthorized, struct {
		Timestamp int64  `json:"timestamp"`
		Status    int    `json:"status"`
		Error     string `json:"error"`
		Message   string `json:"message"`
	}{now.UnixMilli(), http.StatusUnauthorized, "Unauthorized", why})
}
