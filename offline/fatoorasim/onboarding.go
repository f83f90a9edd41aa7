package fatoorasim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/csr"
)

// Compliance steps (the names ZATCA lists in Missing-ComplianceSteps).
const (
	stepStandard           = "standard-compliant"
	stepStandardCreditNote = "standard-credit-note-compliant"
	stepStandardDebitNote  = "standard-debit-note-compliant"
	stepSimplified         = "simplified-compliant"
	stepSimplifiedCredit   = "simplified-credit-note-compliant"
	stepSimplifiedDebit    = "simplified-debit-note-compliant"
)

// requiredSteps are the compliance documents the title flags ("TSCZ") demand.
func requiredSteps(invoiceTypes string) []string {
	var out []string
	if len(invoiceTypes) == 4 && invoiceTypes[0] == '1' {
		out = append(out, stepStandard, stepStandardCreditNote, stepStandardDebitNote)
	}
	if len(invoiceTypes) == 4 && invoiceTypes[1] == '1' {
		out = append(out, stepSimplified, stepSimplifiedCredit, stepSimplifiedDebit)
	}
	return out
}

// stepFor names the compliance step a document type satisfies ("" for none).
func stepFor(simplified bool, typeCode string) string {
	kind := map[string]int{"388": 0, "381": 1, "383": 2}
	i, ok := kind[typeCode]
	if !ok {
		return ""
	}
	if simplified {
		return []string{stepSimplified, stepSimplifiedCredit, stepSimplifiedDebit}[i]
	}
	return []string{stepStandard, stepStandardCreditNote, stepStandardDebitNote}[i]
}

// csrRequest is the body of POST /compliance and PATCH /production/csids.
type csrRequest struct {
	CSR string `json:"csr"`
}

// parseCSRBody reads {"csr": base64(PEM text)} and checks the CSR: signature,
// template for this environment, ZATCA's field rules and the curve. The reply is set
// when the request fails.
func (s *Server) parseCSRBody(body []byte) (*csr.Request, csr.Config, *reply) {
	fail := func(code, format string, args ...any) (*csr.Request, csr.Config, *reply) {
		r := onboardingErrors(http.StatusBadRequest, codeMessage{code, fmt.Sprintf(format, args...)})
		return nil, csr.Config{}, &r
	}
	var in csrRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return fail("Invalid-CSR", "the request body must be JSON {\"csr\": \"<base64 of the CSR PEM text>\"}: %v", err)
	}
	if strings.TrimSpace(in.CSR) == "" {
		return fail("Missing-CSR", "CSR is required")
	}
	pemText, err := base64.StdEncoding.DecodeString(in.CSR)
	if err != nil {
		return fail("Invalid-CSR", "the csr field must be base64 of the CSR PEM text: %v", err)
	}
	if !bytes.Contains(pemText, []byte("-----BEGIN CERTIFICATE REQUEST-----")) {
		return fail("Invalid-CSR", "the csr field must be base64 of the whole PEM text, -----BEGIN CERTIFICATE REQUEST----- included")
	}
	req, err := csr.Parse(pemText)
	if err != nil {
		return fail("Invalid-CSR", "%v", err)
	}
	if want := s.opts.Env.TemplateName(); req.TemplateName != want {
		return fail("Invalid-CSR", "certificate template name %q does not match the %s environment (want %q)", req.TemplateName, s.opts.Env, want)
	}
	cfg, err := req.Config()
	if err != nil {
		return fail("Invalid-CSR", "%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return fail("Invalid-CSR", "%v", err)
	}
	if req.Curve != cert.Secp256k1 && !(s.opts.AcceptP256 && req.Curve == cert.P256) {
		return fail("Invalid-CSR", "the CSR key is on %v; ZATCA requires secp256k1", req.Curve)
	}
	return req, cfg, nil
}

// errReply carries a prepared reply out of a write transaction (which then rolls back).
type errReply struct{ rep reply }

func (e *errReply) Error() string { return fmt.Sprintf("reply %d", e.rep.status) }

// handleComplianceCSID is POST /compliance: OTP + CSR → compliance CSID.
func (s *Server) handleComplianceCSID(ctx context.Context, req *egsRequest) reply {
	otp := req.r.Header.Get("OTP")
	if otp == "" {
		return otpFailure(otpMissing)
	}
	creq, cfg, rep := s.parseCSRBody(req.body)
	if rep != nil {
		return *rep
	}
	var out csidReply
	err := s.st.write(ctx, func(tx *sql.Tx) error {
		if c, err := s.consumeOTP(ctx, tx, otp, cfg.OrganizationIdentifier, req.now); err != nil {
			return err
		} else if c != otpOK {
			return &errReply{otpFailure(c)}
		}
		dev, err := deviceID(ctx, tx, cfg.OrganizationIdentifier, cfg.SerialNumber, cfg.CommonName)
		if err != nil {
			return err
		}
		san := creq.SubjectAltName
		row, secret, err := s.issueCSID(ctx, tx, "compliance", creq.Subject, san, creq.PublicKey, dev, 0, req.now)
		if err != nil {
			return err
		}
		out = csidReply{RequestID: row.RequestID, DispositionMessage: "ISSUED",
			BinarySecurityToken: row.Token, Secret: secret}
		return nil
	})
	if rep, ok := replyOf(err); ok {
		return rep
	}
	if err != nil {
		s.log.Error("compliance csid", "err", err)
		return onboardingErrors(http.StatusInternalServerError, codeMessage{"Internal-Error", "could not issue the compliance CSID"})
	}
	s.log.Info("compliance csid issued", "request_id", out.RequestID, "vat", cfg.OrganizationIdentifier, "egs", cfg.SerialNumber)
	return jsonReply(http.StatusOK, out)
}

func replyOf(err error) (reply, bool) {
	var er *errReply
	if errors.As(err, &er) {
		return er.rep, true
	}
	return reply{}, false
}

// handleProductionCSID is POST /production/csids with the compliance CSID.
func (s *Server) handleProductionCSID(ctx context.Context, req *egsRequest) reply {
	var in struct {
		ID json.RawMessage `json:"compliance_request_id"`
	}
	if err := json.Unmarshal(req.body, &in); err != nil {
		return codeError(http.StatusBadRequest, "Invalid-ComplianceRequestId", "the request body must be JSON {\"compliance_request_id\": \"…\"}")
	}
	idText := strings.Trim(strings.TrimSpace(string(in.ID)), `"`)
	if idText == "" || idText == "null" {
		return codeError(http.StatusBadRequest, "Missing-ComplianceRequestId", "compliance_request_id is required")
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id != req.csid.RequestID {
		return codeError(http.StatusBadRequest, "Invalid-ComplianceRequestId",
			fmt.Sprintf("compliance_request_id %q is not the requestID of the compliance CSID used to authenticate", idText))
	}
	steps, err := s.st.complianceSteps(ctx, req.csid.RequestID)
	if err != nil {
		s.log.Error("production csid", "err", err)
		return codeError(http.StatusInternalServerError, "Internal-Error", "could not read the compliance steps")
	}
	var missing []string
	for _, st := range requiredSteps(req.csid.InvoiceTypes) {
		if _, ok := steps[st]; !ok {
			missing = append(missing, st)
		}
	}
	if len(missing) > 0 {
		return codeError(http.StatusBadRequest, "Missing-ComplianceSteps",
			"The compliance certificate is not done with the following compliance steps yet ["+strings.Join(missing, ",")+"]")
	}
	cc, err := cert.Parse(req.csid.CertDER)
	if err != nil {
		s.log.Error("production csid: stored certificate", "err", err)
		return codeError(http.StatusInternalServerError, "Internal-Error", "stored compliance certificate unreadable")
	}
	var out csidReply
	err = s.st.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE csids SET status = 'superseded'
			WHERE device_id = ? AND kind = 'production' AND status = 'active'`, req.csid.DeviceID); err != nil {
			return err
		}
		row, secret, err := s.issueCSID(ctx, tx, "production", cc.Subject, cc.SubjectAltName, cc.PublicKey,
			req.csid.DeviceID, req.csid.RequestID, req.now)
		if err != nil {
			return err
		}
		out = csidReply{RequestID: row.RequestID, TokenType: tokenTypeX509, DispositionMessage: "ISSUED",
			BinarySecurityToken: row.Token, Secret: secret}
		return nil
	})
	if err != nil {
		s.log.Error("production csid", "err", err)
		return codeError(http.StatusInternalServerError, "Internal-Error", "could not issue the production CSID")
	}
	s.log.Info("production csid issued", "request_id", out.RequestID, "compliance_request_id", req.csid.RequestID)
	return jsonReply(http.StatusOK, out)
}

// handleRenewal is PATCH /production/csids: current production CSID + OTP + a CSR for
// a new key → a new production CSID (200), or a compliance CSID to pass the compliance
// checks with first (428 NOT_COMPLIANT).
func (s *Server) handleRenewal(ctx context.Context, req *egsRequest) reply {
	otp := req.r.Header.Get("OTP")
	if otp == "" {
		return otpFailure(otpMissing)
	}
	creq, cfg, rep := s.parseCSRBody(req.body)
	if rep != nil {
		return *rep
	}
	cur := req.csid
	if cfg.OrganizationIdentifier != cur.VAT || cfg.SerialNumber != cur.EGSSerial {
		return onboardingErrors(http.StatusBadRequest, codeMessage{"Invalid-CSR", fmt.Sprintf(
			"the CSR is for VAT %s / EGS %s; the current CSID belongs to VAT %s / EGS %s",
			cfg.OrganizationIdentifier, cfg.SerialNumber, cur.VAT, cur.EGSSerial)})
	}
	if curCert, err := cert.Parse(cur.CertDER); err == nil && bytes.Equal(curCert.SPKI, creq.SPKI) {
		return onboardingErrors(http.StatusBadRequest, codeMessage{"Invalid-CSR",
			"a renewal needs a new stamping key; the CSR carries the key of the current CSID"})
	}
	var out csidReply
	notCompliant := false
	err := s.st.write(ctx, func(tx *sql.Tx) error {
		if c, err := s.consumeOTP(ctx, tx, otp, cur.VAT, req.now); err != nil {
			return err
		} else if c != otpOK {
			return &errReply{otpFailure(c)}
		}
		var flag int
		if err := tx.QueryRowContext(ctx, `SELECT renewal_not_compliant FROM devices WHERE id = ?`, cur.DeviceID).Scan(&flag); err != nil {
			return err
		}
		notCompliant = flag != 0 || s.forceNotCompliant.Load()
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET common_name = ? WHERE id = ?`, cfg.CommonName, cur.DeviceID); err != nil {
			return err
		}
		if notCompliant {
			row, secret, err := s.issueCSID(ctx, tx, "compliance", creq.Subject, creq.SubjectAltName, creq.PublicKey,
				cur.DeviceID, cur.RequestID, req.now)
			if err != nil {
				return err
			}
			out = csidReply{RequestID: row.RequestID, DispositionMessage: "NOT_COMPLIANT",
				BinarySecurityToken: row.Token, Secret: secret}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE csids SET status = 'superseded'
			WHERE device_id = ? AND kind = 'production' AND status = 'active'`, cur.DeviceID); err != nil {
			return err
		}
		row, secret, err := s.issueCSID(ctx, tx, "production", creq.Subject, creq.SubjectAltName, creq.PublicKey,
			cur.DeviceID, cur.RequestID, req.now)
		if err != nil {
			return err
		}
		out = csidReply{RequestID: row.RequestID, TokenType: tokenTypeX509, DispositionMessage: "ISSUED",
			BinarySecurityToken: row.Token, Secret: secret}
		return nil
	})
	if rep, ok := replyOf(err); ok {
		return rep
	}
	if err != nil {
		s.log.Error("renewal", "err", err)
		return onboardingErrors(http.StatusInternalServerError, codeMessage{"Internal-Error", "could not renew the CSID"})
	}
	if notCompliant {
		s.log.Info("renewal answered NOT_COMPLIANT", "old_request_id", cur.RequestID, "compliance_request_id", out.RequestID)
		return jsonReply(http.StatusPreconditionRequired, out)
	}
	s.log.Info("production csid renewed", "old_request_id", cur.RequestID, "request_id", out.RequestID)
	return jsonReply(http.StatusOK, out)
}

// issueCSID signs a certificate and stores the CSID. It returns the row and the secret
// (which is stored only as a hash).
func (s *Server) issueCSID(ctx context.Context, tx *sql.Tx, kind string, subject cert.Name, san *cert.SubjectAltName,
	pub crypto.PublicKey, deviceID, parentID int64, now time.Time) (*csidRow, string, error) {
	if san == nil {
		return nil, "", fmt.Errorf("issue %s csid: no SAN", kind)
	}
	validity := s.opts.ComplianceValidity
	if kind == "production" {
		validity = s.opts.ProductionValidity
	}
	notBefore := now.Add(-5 * time.Minute).Truncate(time.Second)
	c, err := s.ca.issue(subject, san, pub, notBefore, now.Add(validity).Truncate(time.Second))
	if err != nil {
		return nil, "", fmt.Errorf("issue %s csid: %w", kind, err)
	}
	secretRaw := make([]byte, 32)
	if _, err := rand.Read(secretRaw); err != nil {
		return nil, "", err
	}
	secret := base64.StdEncoding.EncodeToString(secretRaw)
	sum := sha256.Sum256([]byte(secret))
	row := &csidRow{
		Kind: kind,
		// binarySecurityToken = base64 of the base64 DER text (SPEC §0.1 item 7).
		Token:        base64.StdEncoding.EncodeToString([]byte(c.Base64())),
		SecretHash:   sum[:],
		CertDER:      c.Raw,
		Serial:       c.SerialNumber.String(),
		DeviceID:     deviceID,
		InvoiceTypes: san.InvoiceType,
		IssuedAt:     now,
		NotAfter:     c.NotAfter,
		Status:       "active",
		ParentID:     parentID,
	}
	for attempt := 0; ; attempt++ {
		id, err := rand.Int(rand.Reader, big.NewInt(9_000_000_000_000))
		if err != nil {
			return nil, "", err
		}
		row.RequestID = id.Int64() + 1_000_000_000_000 // 13 digits, like ZATCA's
		err = insertCSID(ctx, tx, row)
		if err == nil {
			return row, secret, nil
		}
		if !isUniqueViolation(err) || attempt == 10 {
			return nil, "", fmt.Errorf("store %s csid: %w", kind, err)
		}
	}
}
