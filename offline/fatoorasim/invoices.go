package fatoorasim

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/ubl"
)

// invoiceRequest is the body of reporting, clearance and compliance checks.
type invoiceRequest struct {
	InvoiceHash string `json:"invoiceHash"`
	UUID        string `json:"uuid"`
	Invoice     string `json:"invoice"`
}

// checked is one submitted document after validation.
type checked struct {
	body invoiceRequest
	xml  []byte
	v    *ubl.Verification // nil when the XML could not be read
	msgs []Message
	icv  int64
	hash string // recomputed invoice hash ("" when unreadable)
}

func (c *checked) hasErrors() bool {
	for _, m := range c.msgs {
		if m.Type == "ERROR" {
			return true
		}
	}
	return false
}

// Fixed texts ZATCA uses for some codes.
const (
	msgBodyHash   = "The invoice hash API body does not match the (calculated) Hash of the XML"
	msgDigestHash = "The invoice hash in the signature (invoiceSignedData DigestValue) does not match the (calculated) Hash of the XML"
	msgXSDValid   = "Complied with UBL 2.1 standards in line with ZATCA specifications"
	msgXSDInvalid = "Schema validation failed; XML does not comply with UBL 2.1 standards in line with ZATCA specifications"
	msgDuplicate  = "Invoice was already Reported successfully earlier."
	msgLate       = "The simplified invoice should be submitted within 24 hours of issuing the invoice."
	msgClearance  = "Clearance is deactiviated. Please use the /invoices/reporting/single endpoint instead."
)

// checkDocument decodes and validates one submitted document: body fields, XML, the
// XSD-level structure, ubl.Verify (hash, signature, certificate, QR, signature IDs),
// the signing certificate against the simulator's CA and the authenticated CSID, and
// the business rules. strictCert demands the authenticated CSID's own certificate
// (compliance checks); otherwise any non-revoked certificate of the same device is
// accepted (documents signed before a renewal).
func (s *Server) checkDocument(ctx context.Context, req *egsRequest, strictCert bool) (*checked, error) {
	c := &checked{}
	if err := json.Unmarshal(req.body, &c.body); err != nil {
		c.msgs = append(c.msgs, errMsg("invalid-request", catInvoice, "the request body must be JSON {\"invoiceHash\",\"uuid\",\"invoice\"}: "+err.Error()))
		return c, nil
	}
	if c.body.InvoiceHash == "" {
		c.msgs = append(c.msgs, errMsg("missing-invoice-hash", catInvoice, "invoiceHash is required"))
	}
	if c.body.UUID == "" {
		c.msgs = append(c.msgs, errMsg("missing-uuid", catInvoice, "uuid is required"))
	}
	if c.body.Invoice == "" {
		c.msgs = append(c.msgs, errMsg("missing-invoice", catInvoice, "invoice is required"))
		return c, nil
	}
	xml, err := base64.StdEncoding.DecodeString(c.body.Invoice)
	if err != nil {
		c.msgs = append(c.msgs, errMsg("invalid-invoice-encoding", catInvoice, "invoice must be base64 of the signed XML: "+err.Error()))
		return c, nil
	}
	c.xml = xml

	v, verr := ubl.Verify(xml, ubl.VerifyOptions{})
	var ve *ubl.VerifyError
	if verr != nil && !errors.As(verr, &ve) {
		return nil, verr
	}
	if v == nil {
		detail := msgXSDInvalid
		if ve != nil && len(ve.Failures) > 0 {
			detail += ": " + ve.Failures[0].Message
		}
		c.msgs = append(c.msgs, errMsg("XSD_ZATCA_INVALID", catXSD, detail))
		return c, nil
	}
	c.v = v
	c.hash = v.Hash
	c.icv, _ = strconv.ParseInt(v.ICV, 10, 64)

	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil || doc.Root() == nil {
		c.msgs = append(c.msgs, errMsg("XSD_ZATCA_INVALID", catXSD, msgXSDInvalid))
		return c, nil
	}
	if problem := checkStructure(doc.Root()); problem != "" {
		c.msgs = append(c.msgs, errMsg("XSD_ZATCA_INVALID", catXSD, msgXSDInvalid+": "+problem))
	} else {
		c.msgs = append(c.msgs, infoMsg("XSD_ZATCA_VALID", catXSD, msgXSDValid))
	}

	if c.body.UUID != "" && c.body.UUID != v.UUID {
		c.msgs = append(c.msgs, errMsg("invalid-uuid", catInvoice,
			fmt.Sprintf("The uuid of the API body (%s) does not match the UUID (KSA-1) of the XML (%s)", c.body.UUID, v.UUID)))
	}
	bodyHashOK := c.body.InvoiceHash == "" || c.body.InvoiceHash == v.Hash
	if !bodyHashOK {
		c.msgs = append(c.msgs, errMsg(string(ubl.CodeInvoiceHash), catHash, msgBodyHash))
	}
	if ve != nil {
		for _, f := range ve.Failures {
			if f.Code == ubl.CodeInvoiceHash {
				if bodyHashOK {
					c.msgs = append(c.msgs, errMsg(string(f.Code), catHash, msgDigestHash))
				}
				continue
			}
			c.msgs = append(c.msgs, verifyMessage(f))
		}
	}

	if v.Certificate != nil {
		s.checkSigner(ctx, c, v.Certificate, req.csid, strictCert)
	}
	c.msgs = append(c.msgs, checkRules(doc.Root(), req.now)...)
	return c, nil
}

// checkSigner ties the signing certificate to the simulator's CA and to the caller.
func (s *Server) checkSigner(ctx context.Context, c *checked, signer *cert.Certificate, auth *csidRow, strict bool) {
	if !s.ca.issuedBy(signer) {
		c.msgs = append(c.msgs, errMsg(string(ubl.CodeSigningCertificate), catCert,
			fmt.Sprintf("The signing certificate (issuer %q) was not issued by this simulator's CA (%q)", signer.IssuerName(), s.ca.cert.SubjectName())))
		return
	}
	row, err := s.st.csidBySerial(ctx, signer.SerialNumber.String())
	switch {
	case err != nil:
		s.log.Error("check signer", "err", err)
		c.msgs = append(c.msgs, errMsg(string(ubl.CodeSigningCertificate), catCert, "the signing certificate could not be looked up"))
	case row == nil:
		c.msgs = append(c.msgs, errMsg(string(ubl.CodeSigningCertificate), catCert, "The signing certificate is unknown to this simulator"))
	// A signing certificate the caller may not use is the document's fault (400), not
	// the request's: 401 is only about the Authorization header, so a valid credential
	// never pauses an EGS's queue because of one badly signed document.
	case strict && row.RequestID != auth.RequestID:
		c.msgs = append(c.msgs, errMsg(string(ubl.CodeSigningCertificate), catCert,
			fmt.Sprintf("The document is signed with the certificate of CSID %d, not with the certificate of the authenticating CSID %d", row.RequestID, auth.RequestID)))
	case row.DeviceID != auth.DeviceID:
		c.msgs = append(c.msgs, errMsg(string(ubl.CodeCertificatePermissions), catCert,
			"The document is signed with a certificate issued to another EGS unit"))
	case row.Status == "revoked":
		c.msgs = append(c.msgs, errMsg(string(ubl.CodeSigningCertificate), catCert,
			fmt.Sprintf("The signing certificate (CSID %d) has been revoked", row.RequestID)))
	}
}

// verifyMessage maps a ubl verification failure to ZATCA's code, category and level.
func verifyMessage(f ubl.Failure) Message {
	code := string(f.Code)
	switch f.Code {
	case ubl.CodeInvalidXML:
		return errMsg("XSD_ZATCA_INVALID", catXSD, msgXSDInvalid+": "+f.Message)
	case ubl.CodeSignedProperties:
		return errMsg(code, catCert, "Invalid signed properties hashing, SignedProperties with id='xadesSignedProperties': "+f.Message)
	case ubl.CodeIssuerName:
		return errMsg(code, catCert, "Wrong X509IssuerName: "+f.Message)
	case ubl.CodeCertificateHashing, ubl.CodeSigningCertificate, ubl.CodeCertificatePermissions, ubl.CodeSerialNumber:
		return errMsg(code, catCert, f.Message)
	case ubl.CodeSignature, ubl.CodeSignatureStructure:
		return errMsg(code, catSignature, f.Message)
	case ubl.CodePIH:
		return warnMsg(code, catKSA, f.Message)
	case ubl.CodeSignaturePresent, ubl.CodeReferencedSignature:
		return warnMsg(code, catKSA, "["+code+"]-"+f.Message)
	case ubl.CodeSignatureInfoID, ubl.CodeSignatureMethodValue:
		return errMsg(code, catKSA, "["+code+"]-"+f.Message)
	case ubl.CodeQRTimestamp:
		return warnMsg(code, catQR, f.Message)
	case ubl.CodeQR, ubl.CodeQRInvoiceHash, ubl.CodeQRPublicKey, ubl.CodeQRCertSignature:
		return errMsg(code, catQR, f.Message)
	}
	return errMsg(code, catInvoice, f.Message)
}

func statusOf(msgs []Message) (httpStatus int, outcome string) {
	v := newResults(msgs)
	switch v.Status {
	case "ERROR":
		return http.StatusBadRequest, "ERROR"
	case "WARNING":
		return http.StatusAccepted, "WARNING"
	}
	return http.StatusOK, "PASS"
}

func strp(s string) *string { return &s }

// handleReporting is POST /invoices/reporting/single.
func (s *Server) handleReporting(ctx context.Context, req *egsRequest) reply {
	c, err := s.checkDocument(ctx, req, false)
	if err != nil {
		s.log.Error("reporting: validate", "err", err)
		return jsonReply(http.StatusInternalServerError, codeMessage{"Internal-Error", "validation failed"})
	}
	if c.v != nil && c.v.TransactionCode != "" && !c.v.Simplified {
		c.msgs = append(c.msgs, errMsg("invalid-invoice-type", catInvoice,
			"Only simplified documents (transaction code 02…) are reported; standard documents must be cleared"))
	}
	if c.v != nil {
		if t, ok := issueInstant(c.v.IssueDate, c.v.IssueTime); ok && req.now.Sub(t) > s.opts.LateAfter {
			c.msgs = append(c.msgs, warnMsg("BR-KSA-98", catKSA, "[BR-KSA-98]-"+msgLate))
		}
	}
	duplicate := false
	sub := &submission{ReceivedAt: req.now, Endpoint: EndpointReporting, CSIDID: req.csid.RequestID,
		DeviceID: req.csid.DeviceID, UUID: c.body.UUID, InvoiceHash: c.hash, ICV: c.icv}
	if c.v != nil {
		sub.UUID, sub.PIH = c.v.UUID, c.v.PIH
	}
	err = s.st.write(ctx, func(tx *sql.Tx) error {
		if c.v != nil && c.icv > 0 && validPIHFormat(c.v.PIH) {
			if w := chainWarning(ctx, tx, req.csid.DeviceID, c.icv, c.v.PIH); w != nil {
				c.msgs = append(c.msgs, *w)
			}
		}
		sub.HTTPStatus, sub.Outcome = statusOf(c.msgs)
		sub.Issues = c.msgs
		if sub.Outcome != "ERROR" {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM reported WHERE uuid = ? OR invoice_hash = ?`,
				sub.UUID, sub.InvoiceHash).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				duplicate = true
				sub.HTTPStatus, sub.Outcome, sub.Issues = http.StatusConflict, "DUPLICATE", nil
			}
		}
		id, err := insertSubmission(ctx, tx, sub)
		if err != nil {
			return err
		}
		if sub.Outcome == "PASS" || sub.Outcome == "WARNING" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO reported(uuid, invoice_hash, submission_id) VALUES(?,?,?)`,
				sub.UUID, sub.InvoiceHash, id); err != nil {
				return err
			}
		}
		if !duplicate && c.icv > 0 && c.hash != "" {
			_, err := tx.ExecContext(ctx, `UPDATE devices SET last_icv = ?, last_hash = ?, last_uuid = ?
				WHERE id = ? AND last_icv < ?`, c.icv, c.hash, sub.UUID, req.csid.DeviceID, c.icv)
			return err
		}
		return nil
	})
	if err != nil {
		s.log.Error("reporting: record", "err", err)
		return jsonReply(http.StatusInternalServerError, codeMessage{"Internal-Error", "could not record the report"})
	}
	if duplicate {
		return jsonReply(http.StatusConflict, invoiceReply{
			ValidationResults: newResults([]Message{errMsg("duplicate-invoice", catInvoice, msgDuplicate)}),
			ReportingStatus:   strp("NOT_REPORTED"),
		})
	}
	rs := "REPORTED"
	if sub.Outcome == "ERROR" {
		rs = "NOT_REPORTED"
	}
	s.log.Debug("reported", "uuid", sub.UUID, "icv", c.icv, "status", sub.HTTPStatus)
	return jsonReply(sub.HTTPStatus, invoiceReply{ValidationResults: newResults(c.msgs), ReportingStatus: strp(rs)})
}

// chainWarning checks the document's PIH against the hash of the previous ICV of the
// same device, when known. ZATCA accepts out-of-order reports, so a break is a warning.
func chainWarning(ctx context.Context, tx *sql.Tx, deviceID, icv int64, pih string) *Message {
	if icv == 1 {
		if pih != initialPIH {
			m := warnMsg(string(ubl.CodePIH), catKSA, "The previous invoice hash (KSA-13) of the first document (ICV 1) must be the initial hash base64(hex(SHA-256(\"0\")))")
			return &m
		}
		return nil
	}
	prev, ok, err := hashAtICV(ctx, tx, deviceID, icv-1)
	if err != nil || !ok || prev == pih {
		return nil
	}
	m := warnMsg(string(ubl.CodePIH), catKSA, fmt.Sprintf(
		"The previous invoice hash (KSA-13) %s is not the hash %s of the document with ICV %d of this EGS unit", pih, prev, icv-1))
	return &m
}

// handleComplianceInvoice is POST /compliance/invoices with the compliance CSID.
func (s *Server) handleComplianceInvoice(ctx context.Context, req *egsRequest) reply {
	c, err := s.checkDocument(ctx, req, true)
	if err != nil {
		s.log.Error("compliance invoice: validate", "err", err)
		return jsonReply(http.StatusInternalServerError, codeMessage{"Internal-Error", "validation failed"})
	}
	status, outcome := statusOf(c.msgs)
	step := ""
	simplified := true
	if c.v != nil {
		simplified = c.v.Simplified
		step = stepFor(c.v.Simplified, c.v.TypeCode)
	}
	sub := &submission{ReceivedAt: req.now, Endpoint: "compliance", CSIDID: req.csid.RequestID, DeviceID: req.csid.DeviceID,
		UUID: c.body.UUID, InvoiceHash: c.hash, ICV: c.icv, HTTPStatus: status, Outcome: outcome, Issues: c.msgs}
	if c.v != nil {
		sub.UUID, sub.PIH = c.v.UUID, c.v.PIH
	}
	err = s.st.write(ctx, func(tx *sql.Tx) error {
		if _, err := insertSubmission(ctx, tx, sub); err != nil {
			return err
		}
		if outcome != "ERROR" && step != "" {
			_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO compliance_steps(csid_id, step, passed_at) VALUES(?,?,?)`,
				req.csid.RequestID, step, ms(req.now))
			return err
		}
		return nil
	})
	if err != nil {
		s.log.Error("compliance invoice: record", "err", err)
		return jsonReply(http.StatusInternalServerError, codeMessage{"Internal-Error", "could not record the check"})
	}
	rep := invoiceReply{ValidationResults: newResults(c.msgs)}
	if simplified {
		rep.ReportingStatus = strp(map[bool]string{true: "NOT_REPORTED", false: "REPORTED"}[outcome == "ERROR"])
	} else {
		rep.ClearanceStatus = strp(map[bool]string{true: "NOT_CLEARED", false: "CLEARED"}[outcome == "ERROR"])
	}
	return jsonReply(status, rep)
}

// handleClearance is POST /invoices/clearance/single. Simplified documents get ZATCA's
// 303; standard documents are validated and, when valid, "cleared" by returning the
// submitted XML (the POS never clears, so no ZATCA stamp is added).
func (s *Server) handleClearance(ctx context.Context, req *egsRequest) reply {
	c, err := s.checkDocument(ctx, req, false)
	if err != nil {
		s.log.Error("clearance: validate", "err", err)
		return jsonReply(http.StatusInternalServerError, codeMessage{"Internal-Error", "validation failed"})
	}
	if strings.TrimSpace(req.r.Header.Get("Clearance-Status")) == "0" || c.v != nil && c.v.Simplified {
		return jsonReply(http.StatusSeeOther, struct {
			Message string `json:"message"`
		}{msgClearance})
	}
	status, outcome := statusOf(c.msgs)
	sub := &submission{ReceivedAt: req.now, Endpoint: EndpointClearance, CSIDID: req.csid.RequestID, DeviceID: req.csid.DeviceID,
		UUID: c.body.UUID, InvoiceHash: c.hash, ICV: c.icv, HTTPStatus: status, Outcome: outcome, Issues: c.msgs}
	if c.v != nil {
		sub.UUID, sub.PIH = c.v.UUID, c.v.PIH
	}
	already := false
	err = s.st.write(ctx, func(tx *sql.Tx) error {
		if outcome != "ERROR" {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM reported WHERE invoice_hash = ?`, sub.InvoiceHash).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				already = true
				sub.HTTPStatus, sub.Outcome, sub.Issues = http.StatusAlreadyReported, "DUPLICATE", nil
			}
		}
		id, err := insertSubmission(ctx, tx, sub)
		if err != nil {
			return err
		}
		if sub.Outcome == "PASS" || sub.Outcome == "WARNING" {
			_, err = tx.ExecContext(ctx, `INSERT INTO reported(uuid, invoice_hash, submission_id) VALUES(?,?,?)`,
				sub.UUID, sub.InvoiceHash, id)
		}
		return err
	})
	if err != nil {
		if isUniqueViolation(err) {
			return jsonReply(http.StatusBadRequest, invoiceReply{ValidationResults: newResults([]Message{
				errMsg("duplicate-invoice", catInvoice, "A document with this UUID was already submitted")}), ClearanceStatus: strp("NOT_CLEARED")})
		}
		s.log.Error("clearance: record", "err", err)
		return jsonReply(http.StatusInternalServerError, codeMessage{"Internal-Error", "could not record the clearance"})
	}
	if already {
		return jsonReply(http.StatusAlreadyReported, invoiceReply{
			ValidationResults: newResults([]Message{warnMsg("duplicate-invoice", catInvoice, "Invoice Hash Previously Submitted")}),
			ClearanceStatus:   strp("CLEARED"),
		})
	}
	rep := invoiceReply{ValidationResults: newResults(c.msgs)}
	if outcome == "ERROR" {
		rep.ClearanceStatus = strp("NOT_CLEARED")
	} else {
		rep.ClearanceStatus = strp("CLEARED")
		rep.ClearedInvoice = strp(base64.StdEncoding.EncodeToString(c.xml))
	}
	return jsonReply(status, rep)
}
