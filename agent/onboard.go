package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/cert"
	"github.com/posagent/posagent/agent/csr"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/agent/ubl"
	"github.com/posagent/posagent/hsm"
	"github.com/posagent/posagent/offline/zatca"
	"github.com/posagent/posagent/store"
)

// ErrAlreadyOnboarded: onboarding was asked for while a valid production CSID is in
// force (renew it instead).
var ErrAlreadyOnboarded = errors.New("agent: already onboarded; use renewal")

// Onboarding steps, as audited ("onboard.<step>") and reported.
const (
	stepKey        = "key_generated"
	stepCSR        = "csr_created"
	stepCompliance = "compliance_csid"
	stepRenewal    = "renewal_csid"
	stepCheck      = "compliance_check"
	stepProduction = "production_csid"
	stepSealed     = "credentials_sealed"
	stepActivated  = "key_activated"
)

// complianceSales are the documents the compliance checks need for invoice type 0100:
// a simplified invoice, credit note and debit note (SPEC §2.3 #2). The notes reference
// the invoice's number, filled in at run time.
var complianceSales = []struct {
	typ  invoice.DocType
	body string
}{
	{invoice.TypeInvoice, `{"idempotency_key":"compliance-388","doc_type":"388","invoice_ref_number":"COMPLIANCE-388","payment_means":"10",
		"lineitems":[{"name_ar":"منتج اختبار الامتثال","name_en":"Compliance check item","quantity":"2","tax_exclusive_price":"10.00","tax_percentage":"0.15","tax_category":"S"}]}`},
	{invoice.TypeCreditNote, `{"idempotency_key":"compliance-381","doc_type":"381","invoice_ref_number":"COMPLIANCE-381","payment_means":"10",
		"notes_details":{"related_doc_reference":"COMPLIANCE-388","reason_text":"إرجاع | Compliance check return"},
		"lineitems":[{"name_ar":"منتج اختبار الامتثال","name_en":"Compliance check item","quantity":"1","tax_exclusive_price":"10.00","tax_percentage":"0.15","tax_category":"S"}]}`},
	{invoice.TypeDebitNote, `{"idempotency_key":"compliance-383","doc_type":"383","invoice_ref_number":"COMPLIANCE-383","payment_means":"10",
		"notes_details":{"related_doc_reference":"COMPLIANCE-388","reason_text":"تعديل السعر | Compliance check price adjustment"},
		"lineitems":[{"name_ar":"تعديل","name_en":"Adjustment","quantity":"1","tax_exclusive_price":"1.00","tax_percentage":"0.15","tax_category":"S"}]}`},
}

// onboardRun records the steps of one onboarding or renewal.
type onboardRun struct {
	a       *Agent
	renewal bool
	steps   []apitype.OnboardStep
}

func (r *onboardRun) kind() string {
	if r.renewal {
		return "renewal"
	}
	return "onboarding"
}

func (r *onboardRun) ok(ctx context.Context, step, detail string, audit map[string]any) {
	r.steps = append(r.steps, apitype.OnboardStep{Name: step, Status: "ok", Detail: detail})
	if audit == nil {
		audit = map[string]any{}
	}
	audit["renewal"] = r.renewal
	r.a.audit(ctx, "onboard."+step, 0, audit)
	r.a.setOnboarding("running", step, "")
	r.a.log.Info(r.kind()+" step done", "step", step, "detail", detail)
}

func (r *onboardRun) fail(ctx context.Context, step string, err error) *OnboardError {
	r.steps = append(r.steps, apitype.OnboardStep{Name: step, Status: "failed", Detail: err.Error()})
	oe := &OnboardError{Step: step, Steps: r.steps, Err: err}
	var ce *complianceError
	if errors.As(err, &ce) {
		oe.NotCompliant, oe.Messages = true, ce.messages
	}
	r.a.audit(context.WithoutCancel(ctx), "onboard.failed", 0, map[string]any{"renewal": r.renewal, "step": step, "error": err.Error()})
	r.a.setOnboarding("failed", step, err.Error())
	r.a.log.Error(r.kind()+" failed", "step", step, "err", err)
	return oe
}

func (a *Agent) setOnboarding(state, step, lastErr string) {
	t := a.clock.Now().In(ksa)
	a.obMu.Lock()
	a.ob = apitype.OnboardingStatus{State: state, Step: step, LastError: lastErr, At: &t}
	a.obMu.Unlock()
}

// complianceError is a compliance check ZATCA did not pass.
type complianceError struct {
	doc      invoice.DocType
	messages []apitype.Message
}

func (e *complianceError) Error() string {
	s := fmt.Sprintf("ZATCA did not pass the compliance %s", typeName(e.doc))
	for _, m := range e.messages {
		if m.Type == "ERROR" || m.Type == "" {
			s += "; " + m.Code + ": " + m.Message
		}
	}
	return s
}

func checkOTP(otp string) error {
	if len(otp) != 6 {
		return inputError("otp", apitype.RuleValue, "the OTP from the Fatoora portal is 6 digits")
	}
	for i := 0; i < len(otp); i++ {
		if otp[i] < '0' || otp[i] > '9' {
			return inputError("otp", apitype.RuleValue, "the OTP from the Fatoora portal is 6 digits")
		}
	}
	return nil
}

// Onboard registers this terminal as an EGS unit with an OTP from the Fatoora portal:
// a new sealed key (KeyStore.GenerateNext), a CSR from the EGS configuration, the
// compliance CSID, the three compliance documents (388, 381, 383) signed with it and
// checked locally and by ZATCA, the production CSID, the credentials sealed and the key
// activated. Every step is audited. On failure the step and reason are in an
// *OnboardError and nothing in force changes.
func (a *Agent) Onboard(ctx context.Context, otp string) (*apitype.OnboardResult, error) {
	if err := checkOTP(otp); err != nil {
		return nil, err
	}
	if !a.onboardMu.TryLock() {
		return nil, ErrBusy
	}
	defer a.onboardMu.Unlock()
	a.stampMu.RLock()
	state := a.stamp.state
	a.stampMu.RUnlock()
	if state == credOK {
		if _, c := a.credentialsNow(); c.State != credRevoked && c.State != credExpired {
			return nil, ErrAlreadyOnboarded
		}
	}
	run := &onboardRun{a: a}
	a.setOnboarding("running", "", "")
	a.audit(ctx, "onboard.started", 0, map[string]any{"renewal": false, "egs_serial": a.cfg.EGS.SerialNumber, "common_name": a.cfg.EGS.CommonName})

	pending, pem, err := a.newKeyAndCSR(ctx, run)
	if err != nil {
		return nil, err
	}
	defer pending.Close()

	cc, err := a.zatca.ComplianceCSID(ctx, otp, pem)
	if err != nil {
		return nil, run.fail(ctx, stepCompliance, err)
	}
	run.ok(ctx, stepCompliance, "request "+cc.RequestID, map[string]any{"request_id": cc.RequestID})
	if err := a.complianceChecks(ctx, run, pending, cc.Credentials); err != nil {
		return nil, err
	}
	pc, err := a.zatca.ProductionCSID(ctx, cc.Credentials, cc.RequestID)
	if err != nil {
		return nil, run.fail(ctx, stepProduction, err)
	}
	return a.finish(ctx, run, pending, pc)
}

// Renew replaces the production CSID before it expires, with a new key: a CSR for a new
// pending key goes to ZATCA with the OTP under the current CSID. A 428 NOT_COMPLIANT
// answer carries a compliance CSID: the compliance documents are then passed with it
// before the new production CSID is requested. The current key signs until the new
// one is activated.
func (a *Agent) Renew(ctx context.Context, otp string) (*apitype.OnboardResult, error) {
	if err := checkOTP(otp); err != nil {
		return nil, err
	}
	if !a.onboardMu.TryLock() {
		return nil, ErrBusy
	}
	defer a.onboardMu.Unlock()
	current, err := a.Credentials()
	if err != nil {
		return nil, err
	}
	run := &onboardRun{a: a, renewal: true}
	a.setOnboarding("running", "", "")
	a.audit(ctx, "onboard.started", 0, map[string]any{"renewal": true, "egs_serial": a.cfg.EGS.SerialNumber})

	pending, pem, err := a.newKeyAndCSR(ctx, run)
	if err != nil {
		return nil, err
	}
	defer pending.Close()

	res, err := a.zatca.RenewProductionCSID(ctx, current, otp, pem)
	if err != nil {
		return nil, run.fail(ctx, stepRenewal, err)
	}
	notCompliant := res.NotCompliant()
	if notCompliant {
		run.ok(ctx, stepRenewal, "428 NOT_COMPLIANT: compliance CSID "+res.RequestID, map[string]any{"request_id": res.RequestID, "not_compliant": true})
		if err := a.complianceChecks(ctx, run, pending, res.Credentials); err != nil {
			return nil, err
		}
		if res, err = a.zatca.ProductionCSID(ctx, res.Credentials, res.RequestID); err != nil {
			return nil, run.fail(ctx, stepProduction, err)
		}
	}
	out, err := a.finish(ctx, run, pending, res)
	if out != nil {
		out.NotCompliant = notCompliant
	}
	return out, err
}

// newKeyAndCSR makes the pending key and its CSR.
func (a *Agent) newKeyAndCSR(ctx context.Context, run *onboardRun) (hsm.Signer, []byte, error) {
	pending, err := a.keys.GenerateNext(ctx)
	if err != nil {
		return nil, nil, run.fail(ctx, stepKey, err)
	}
	fp := fingerprint(pending.Public())
	run.ok(ctx, stepKey, "key "+fp, map[string]any{"fingerprint": fp, "curve": cert.CurveOf(pending.Public()).String()})
	der, err := csr.Create(a.cfg.EGS, pending)
	if err != nil {
		pending.Close()
		return nil, nil, run.fail(ctx, stepCSR, err)
	}
	run.ok(ctx, stepCSR, a.cfg.EGS.CommonName, map[string]any{"common_name": a.cfg.EGS.CommonName,
		"serial": a.cfg.EGS.SerialNumber, "invoice_type": a.cfg.EGS.InvoiceType, "environment": a.cfg.EGS.Environment.String()})
	return pending, csr.PEM(der), nil
}

// complianceChecks signs the compliance documents with the pending key and the
// compliance CSID, verifies each locally, and submits it to ZATCA.
func (a *Agent) complianceChecks(ctx context.Context, run *onboardRun, key hsm.Signer, creds zatca.Credentials) error {
	c, err := certOf(creds)
	if err != nil {
		return run.fail(ctx, stepCheck, fmt.Errorf("compliance certificate: %w", err))
	}
	if !sameKey(key, c) {
		return run.fail(ctx, stepCheck, errors.New("the compliance certificate is not for the new key"))
	}
	pih := store.GenesisPIH
	issued := a.clock.Now().Truncate(time.Second)
	for i, cs := range complianceSales {
		sale, err := invoice.DecodeSale([]byte(cs.body))
		if err != nil {
			return run.fail(ctx, stepCheck, fmt.Errorf("compliance %s: %w", typeName(cs.typ), err))
		}
		doc, err := invoice.Compute(sale, a.seller)
		if err != nil {
			return run.fail(ctx, stepCheck, fmt.Errorf("compliance %s: %w", typeName(cs.typ), err))
		}
		uuid, err := NewUUID()
		if err != nil {
			return run.fail(ctx, stepCheck, err)
		}
		h := ubl.Header{UUID: uuid, ICV: uint64(i + 1), PIH: pih, Issued: issued}
		signed, err := Issue(doc, h, Stamp{Key: key, Cert: c})
		if err != nil {
			return run.fail(ctx, stepCheck, fmt.Errorf("compliance %s: %w", typeName(cs.typ), err))
		}
		if _, err := ubl.Verify(signed.XML, ubl.VerifyOptions{PIH: pih, InvoiceHash: signed.Hash, Certificate: c}); err != nil {
			return run.fail(ctx, stepCheck, fmt.Errorf("compliance %s does not verify locally: %w", typeName(cs.typ), err))
		}
		res, err := a.zatca.ComplianceCheck(ctx, creds, zatca.Document{UUID: uuid, InvoiceHash: signed.Hash, XML: signed.XML})
		if err != nil {
			return run.fail(ctx, stepCheck, fmt.Errorf("compliance %s: %w", typeName(cs.typ), err))
		}
		if !res.Passed {
			return run.fail(ctx, stepCheck, &complianceError{doc: cs.typ, messages: zatcaMessages(res.ValidationResults)})
		}
		warnings := len(res.ValidationResults.Warnings)
		run.ok(ctx, stepCheck, fmt.Sprintf("%s %s (HTTP %d, %d warnings)", cs.typ, res.ValidationResults.Status, res.HTTPStatus, warnings),
			map[string]any{"type": string(cs.typ), "uuid": uuid, "hash": signed.Hash, "http_status": res.HTTPStatus,
				"status": res.ValidationResults.Status, "warnings": warnings})
		pih = signed.Hash
	}
	return nil
}

func zatcaMessages(v zatca.ValidationResults) []apitype.Message {
	var out []apitype.Message
	for _, m := range v.Errors {
		out = append(out, apitype.Message{Type: "ERROR", Code: m.Code, Category: m.Category, Message: m.Message})
	}
	for _, m := range v.Warnings {
		out = append(out, apitype.Message{Type: "WARNING", Code: m.Code, Category: m.Category, Message: m.Message})
	}
	return out
}

// finish seals the production CSID, activates its key and puts both in force.
func (a *Agent) finish(ctx context.Context, run *onboardRun, pending hsm.Signer, pc *zatca.CSIDResult) (*apitype.OnboardResult, error) {
	c, err := certOf(pc.Credentials)
	if err != nil {
		return nil, run.fail(ctx, stepProduction, fmt.Errorf("production certificate: %w", err))
	}
	if !sameKey(pending, c) {
		return nil, run.fail(ctx, stepProduction, errors.New("the production certificate is not for the new key"))
	}
	run.ok(ctx, stepProduction, "request "+pc.RequestID+", valid until "+c.NotAfter.In(ksa).Format(time.DateOnly),
		map[string]any{"request_id": pc.RequestID, "serial": c.SerialNumber.String(), "not_after": c.NotAfter.In(ksa).Format(time.RFC3339)})

	// Seal first, then activate: a crash in between leaves the new CSID sealed and its
	// key pending, which loadCredentials finishes at the next start. The other order
	// could destroy the old key before the new CSID is kept.
	a.stampMu.Lock()
	if err := a.sealCredentials(ctx, pc.Credentials, pc.RequestID); err != nil {
		a.stampMu.Unlock()
		return nil, run.fail(ctx, stepSealed, err)
	}
	run.ok(ctx, stepSealed, "", map[string]any{"request_id": pc.RequestID})
	err = a.keys.Activate(ctx)
	var st *stampState
	if err == nil {
		st = a.readStamp(ctx)
		old := a.stamp
		a.stamp = st
		if old != nil && old.key != nil {
			_ = old.key.Close()
		}
	}
	a.stampMu.Unlock()
	if err != nil {
		return nil, run.fail(ctx, stepActivated, err)
	}
	if st.state != credOK {
		return nil, run.fail(ctx, stepActivated, errors.New(st.message))
	}
	fp := st.keyFP
	run.ok(ctx, stepActivated, "key "+fp, map[string]any{"fingerprint": fp, "request_id": pc.RequestID})
	a.up.CredentialsChanged()
	a.stateMu.Lock()
	a.lastCredState = credOK // the state changes audited from here on are the new CSID's
	a.stateMu.Unlock()
	a.setOnboarding("done", stepActivated, "")
	a.audit(ctx, "onboard.completed", 0, map[string]any{"renewal": run.renewal, "request_id": pc.RequestID,
		"serial": c.SerialNumber.String(), "not_after": c.NotAfter.In(ksa).Format(time.RFC3339), "fingerprint": fp})
	return &apitype.OnboardResult{
		Renewal: run.renewal, RequestID: pc.RequestID, Serial: c.SerialNumber.String(),
		NotBefore: c.NotBefore.In(ksa), NotAfter: c.NotAfter.In(ksa), KeyFingerprint: fp, Steps: run.steps,
	}, nil
}

// credentialsNow describes the stamp at the current time.
func (a *Agent) credentialsNow() (apitype.KeyStatus, apitype.CredentialsStatus) {
	up := a.up.UploadState()
	a.stampMu.RLock()
	defer a.stampMu.RUnlock()
	return a.keyAndCredentials(a.clock.Now(), up)
}
