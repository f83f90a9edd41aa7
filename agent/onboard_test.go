package agent_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/agent"
	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/invoice"
	"github.com/posagent/posagent/agent/ubl"
	"github.com/posagent/posagent/board/linux"
	"github.com/posagent/posagent/hsm"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/store"
)

// sale issues a testdata sale under a fresh idempotency key.
func sale(t testing.TB, a *agent.Agent, file, key string) (*apitype.Document, error) {
	t.Helper()
	return a.Sale(context.Background(), withKey(t, saleFile(t, file), key), invoice.TypeInvoice)
}

func mustSale(t testing.TB, a *agent.Agent, file, key string) *apitype.Document {
	t.Helper()
	d, err := sale(t, a, file, key)
	if err != nil {
		t.Fatalf("sale %s: %v", key, err)
	}
	return d
}

// signingSerial returns the serial of the certificate a journaled document is signed with.
func signingSerial(t testing.TB, e *agenttest.Env, uuid string) string {
	t.Helper()
	xml, err := e.Agent.DocumentXML(context.Background(), uuid)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ubl.Verify(xml, ubl.VerifyOptions{})
	if err != nil {
		t.Fatalf("document %s does not verify: %v", uuid, err)
	}
	return v.Certificate.SerialNumber.String()
}

func auditActions(t testing.TB, e *agenttest.Env, prefix string) []store.Entry {
	t.Helper()
	ents, err := e.Store.Entries(context.Background(), store.AuditFilter{Action: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return ents
}

// TestOnboardFailureChangesNothing: a malformed OTP is refused before anything
// happens; an OTP the portal never issued fails at the compliance CSID with the step
// audited, and the terminal stays not onboarded; a good OTP then works, with every
// step audited.
func TestOnboardFailureChangesNothing(t *testing.T) {
	e := agenttest.NewEnv(t, agenttest.Options{NoPrinter: true})
	ctx := context.Background()
	var in *agent.InputError
	if _, err := e.Agent.Onboard(ctx, "12a456"); !errors.As(err, &in) || in.Fields[0].Field != "otp" {
		t.Fatalf("malformed OTP: %v", err)
	}
	_, err := e.Agent.Onboard(ctx, "999999")
	var oe *agent.OnboardError
	if !errors.As(err, &oe) || oe.Step != "compliance_csid" {
		t.Fatalf("unknown OTP: %v, want OnboardError at compliance_csid", err)
	}
	st := e.Agent.Status(ctx)
	if st.Ready || st.Credentials.State != "missing" || st.Onboarding.State != "failed" || st.Onboarding.Step != "compliance_csid" {
		t.Fatalf("after a failed onboarding: ready %v credentials %s onboarding %+v", st.Ready, st.Credentials.State, st.Onboarding)
	}
	if _, err := e.Keys.Current(); !errors.Is(err, hsm.ErrNoKey) {
		t.Fatalf("a current key exists after a failed onboarding: %v", err)
	}
	if n := len(auditActions(t, e, "onboard.failed")); n != 1 {
		t.Errorf("%d onboard.failed audit entries, want 1", n)
	}

	res, err := e.Agent.Onboard(ctx, e.Sim.OTP(t))
	if err != nil {
		t.Fatalf("onboard: %v", err)
	}
	want := []string{"key_generated", "csr_created", "compliance_csid", "compliance_check", "compliance_check",
		"compliance_check", "production_csid", "credentials_sealed", "key_activated"}
	if len(res.Steps) != len(want) {
		t.Fatalf("steps %+v", res.Steps)
	}
	for i, s := range res.Steps {
		if s.Name != want[i] || s.Status != "ok" {
			t.Errorf("step %d = %+v, want %s ok", i, s, want[i])
		}
	}
	for _, step := range want {
		if len(auditActions(t, e, "onboard."+step)) == 0 {
			t.Errorf("no audit entry onboard.%s", step)
		}
	}
	if _, err := e.Agent.Onboard(ctx, e.Sim.OTP(t)); !errors.Is(err, agent.ErrAlreadyOnboarded) {
		t.Errorf("second onboarding: %v, want ErrAlreadyOnboarded", err)
	}
	devs, _ := e.Sim.Server.Devices(ctx)
	if len(devs) != 1 || devs[0].EGSSerial != e.Config.EGS.SerialNumber {
		t.Fatalf("simulator devices %+v", devs)
	}
}

// TestRenewal: a renewal uses a new key and a new production CSID; documents issued
// afterwards are signed with it. A 428 NOT_COMPLIANT answer goes through the
// compliance checks with the returned compliance CSID first. Documents signed before
// and after are all reported.
func TestRenewal(t *testing.T) {
	e := agenttest.NewEnv(t, agenttest.Options{NoPrinter: true})
	ctx := context.Background()
	e.Onboard(t)
	fp0 := e.Agent.Status(ctx).Key.Fingerprint
	d1 := mustSale(t, e.Agent, "01-cash-single-line.json", "renew-1")

	res, err := e.Agent.Renew(ctx, e.Sim.OTP(t))
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	if res.NotCompliant || !res.Renewal || res.KeyFingerprint == fp0 {
		t.Fatalf("renewal result %+v (old key %s)", res, fp0)
	}
	d2 := mustSale(t, e.Agent, "01-cash-single-line.json", "renew-2")
	if s1, s2 := signingSerial(t, e, d1.UUID), signingSerial(t, e, d2.UUID); s1 == s2 || s2 != res.Serial {
		t.Fatalf("signing certificates: before %s, after %s, renewed %s", s1, s2, res.Serial)
	}

	if err := e.Sim.Server.ForceRenewalNotCompliant(ctx, true); err != nil {
		t.Fatal(err)
	}
	res3, err := e.Agent.Renew(ctx, e.Sim.OTP(t))
	if err != nil {
		t.Fatalf("renew (428): %v", err)
	}
	if !res3.NotCompliant || res3.KeyFingerprint == res.KeyFingerprint {
		t.Fatalf("428 renewal result %+v", res3)
	}
	checks := 0
	for _, s := range res3.Steps {
		if s.Name == "compliance_check" {
			checks++
		}
	}
	if checks != 3 {
		t.Errorf("428 renewal ran %d compliance checks, want 3", checks)
	}
	d3 := mustSale(t, e.Agent, "01-cash-single-line.json", "renew-3")
	if s3 := signingSerial(t, e, d3.UUID); s3 != res3.Serial {
		t.Fatalf("after the 428 renewal documents are signed with %s, want %s", s3, res3.Serial)
	}
	for _, d := range []*apitype.Document{d1, d2, d3} {
		if r := e.WaitReported(t, d.UUID, 20*time.Second); r.Report.Status != store.OutcomeReported {
			t.Errorf("ICV %d: report %s (HTTP %d)", d.ICV, r.Report.Status, r.Report.HTTPStatus)
		}
	}
}

// TestRevokedCSIDStopsSigning: once ZATCA answers 401 to the production CSID, the agent
// refuses to sign (status says revoked) instead of producing documents ZATCA will not
// take; onboarding again with a new OTP restores signing.
func TestRevokedCSIDStopsSigning(t *testing.T) {
	e := agenttest.NewEnv(t, agenttest.Options{NoPrinter: true})
	ctx := context.Background()
	e.Onboard(t)
	d1 := mustSale(t, e.Agent, "01-cash-single-line.json", "rev-1")
	e.WaitReported(t, d1.UUID, 20*time.Second)
	reqID, err := strconv.ParseInt(e.Agent.Status(ctx).Credentials.RequestID, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Sim.Server.RevokeCSID(ctx, reqID); err != nil {
		t.Fatal(err)
	}
	// The agent learns of the revocation from the next report.
	mustSale(t, e.Agent, "01-cash-single-line.json", "rev-2")
	deadline := time.Now().Add(20 * time.Second)
	var st apitype.Status
	for {
		st = e.Agent.Status(ctx)
		if st.Credentials.State == "revoked" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st.Ready || st.Credentials.State != "revoked" || st.Queue.Uploader != "paused" {
		t.Fatalf("after revocation: ready %v credentials %s queue %+v", st.Ready, st.Credentials.State, st.Queue)
	}
	head, _ := e.Store.Head(ctx)
	_, err = sale(t, e.Agent, "01-cash-single-line.json", "rev-3")
	var nr *agent.NotReadyError
	if !errors.As(err, &nr) || !nr.Has(apitype.ReasonCSIDRevoked) {
		t.Fatalf("sale with a revoked CSID: %v", err)
	}
	if h, _ := e.Store.Head(ctx); h.ICV != head.ICV {
		t.Fatalf("a document was journaled with a revoked CSID (ICV %d → %d)", head.ICV, h.ICV)
	}
	for deadline := time.Now().Add(5 * time.Second); len(auditActions(t, e, "credentials.state")) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			all, _ := e.Store.Entries(ctx, store.AuditFilter{})
			for _, a := range all {
				t.Log(a.Action, string(a.Details))
			}
			t.Fatal("the change to revoked is not audited")
		}
	}

	// Hold reports back while re-onboarding: the simulator answers 401 to documents
	// signed with the revoked certificate, whatever the credentials.
	if _, err := e.Sim.Server.AddFault(fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultLatency,
		Latency: fatoorasim.Duration(10 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Agent.Onboard(ctx, e.Sim.OTP(t)); err != nil {
		t.Fatalf("onboarding again after revocation: %v", err)
	}
	if st := e.Agent.Status(ctx); !st.Ready || st.Credentials.State != "ok" {
		t.Fatalf("after onboarding again: ready %v reasons %+v credentials %s", st.Ready, st.Reasons, st.Credentials.State)
	}
	mustSale(t, e.Agent, "01-cash-single-line.json", "rev-4")
	e.Sim.Server.ClearFaults()
}

// TestExpiredCSIDStopsSigning: status announces the renewal window, and an expired CSID
// stops signing with a clear reason.
func TestExpiredCSIDStopsSigning(t *testing.T) {
	e := agenttest.NewEnv(t, agenttest.Options{NoPrinter: true,
		Sim: func(o *fatoorasim.Options) { o.ProductionValidity = 4 * time.Second }})
	ctx := context.Background()
	e.Onboard(t)
	st := e.Agent.Status(ctx)
	if !st.Ready || st.Credentials.State != "renewal_needed" || !st.Credentials.RenewalNeeded {
		t.Fatalf("CSID expiring in seconds: ready %v credentials %+v", st.Ready, st.Credentials)
	}
	if len(st.Alarms) == 0 {
		t.Error("no alarm for the renewal")
	}
	mustSale(t, e.Agent, "01-cash-single-line.json", "exp-1")
	time.Sleep(time.Until(st.Credentials.NotAfter.Add(1100 * time.Millisecond)))
	st = e.Agent.Status(ctx)
	if st.Ready || st.Credentials.State != "expired" {
		t.Fatalf("after expiry: ready %v credentials %s", st.Ready, st.Credentials.State)
	}
	_, err := sale(t, e.Agent, "01-cash-single-line.json", "exp-2")
	var nr *agent.NotReadyError
	if !errors.As(err, &nr) || !nr.Has(apitype.ReasonCSIDExpired) {
		t.Fatalf("sale with an expired CSID: %v", err)
	}
}

// failingActivate makes the first Activate fail, as a crash between sealing the new
// CSID and activating its key would.
type failingActivate struct {
	agent.KeyStore
	armed atomic.Bool
}

func (f *failingActivate) Activate(ctx context.Context) error {
	if f.armed.CompareAndSwap(true, false) {
		return errors.New("power cut")
	}
	return f.KeyStore.Activate(ctx)
}

// TestInterruptedActivationRecovered: the renewed CSID is sealed but its key was not
// activated; the running agent keeps signing with the old stamp, and the next start
// finishes the activation.
func TestInterruptedActivationRecovered(t *testing.T) {
	var fk *failingActivate
	e := agenttest.NewEnv(t, agenttest.Options{NoPrinter: true, WrapKeys: func(k agent.KeyStore) agent.KeyStore {
		fk = &failingActivate{KeyStore: k}
		return fk
	}})
	ctx := context.Background()
	e.Onboard(t)
	fp0 := e.Agent.Status(ctx).Key.Fingerprint
	fk.armed.Store(true)
	_, err := e.Agent.Renew(ctx, e.Sim.OTP(t))
	var oe *agent.OnboardError
	if !errors.As(err, &oe) || oe.Step != "key_activated" {
		t.Fatalf("renewal with a failing activation: %v", err)
	}
	if st := e.Agent.Status(ctx); !st.Ready || st.Key.Fingerprint != fp0 {
		t.Fatalf("after the failed activation: ready %v key %s (old %s)", st.Ready, st.Key.Fingerprint, fp0)
	}
	mustSale(t, e.Agent, "01-cash-single-line.json", "act-1")

	a := e.Restart(t)
	st := a.Status(ctx)
	if !st.Ready || st.Key.Fingerprint == fp0 || st.Credentials.State != "ok" {
		t.Fatalf("after restart: ready %v reasons %+v key %s (old %s) credentials %s", st.Ready, st.Reasons, st.Key.Fingerprint, fp0, st.Credentials.State)
	}
	if len(auditActions(t, e, "onboard.activation_recovered")) != 1 {
		t.Error("the recovered activation is not audited")
	}
	d := mustSale(t, a, "01-cash-single-line.json", "act-2")
	if got := signingSerial(t, e, d.UUID); got != st.Credentials.Serial {
		t.Errorf("signed with %s, want the renewed %s", got, st.Credentials.Serial)
	}
}

// TestClockGuards: a wall clock stepped back is recorded as a jump; a sale while the
// clock reads earlier than the last document is refused (and the refusal audited by the
// journal); signing resumes once the clock is right. A board that finds the clock
// implausible keeps the agent from signing.
func TestClockGuards(t *testing.T) {
	clock := agenttest.NewClock()
	e := agenttest.NewEnv(t, agenttest.Options{NoPrinter: true, Clock: clock,
		Config: func(c *agent.Config) { c.ClockJumpThreshold = time.Second }})
	ctx := context.Background()
	e.Onboard(t)
	// The last document is issued 3 s after the CSID's validity starts; a clock stepped
	// back 2.5 s is then inside the CSID's validity but behind the last document.
	time.Sleep(3 * time.Second)
	mustSale(t, e.Agent, "01-cash-single-line.json", "clk-1")
	clock.Step(-2500 * time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for e.Agent.Status(ctx).Clock.LastJump == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	st := e.Agent.Status(ctx)
	if st.Clock.LastJump == nil || st.Clock.LastJump.Seconds > -2 {
		t.Fatalf("no clock jump recorded: %+v", st.Clock)
	}
	if n := len(auditActions(t, e, store.ActionClockEvent)); n == 0 {
		t.Error("the clock jump is not in the audit log")
	}
	_, err := sale(t, e.Agent, "01-cash-single-line.json", "clk-2")
	if !errors.Is(err, store.ErrClockWentBack) {
		t.Fatalf("sale with the clock stepped back: %v, want ErrClockWentBack", err)
	}
	if n := len(auditActions(t, e, store.ActionClockRefused)); n != 1 {
		t.Errorf("%d clock refusals audited, want 1", n)
	}
	st = e.Agent.Status(ctx)
	if st.Ready || st.Clock.State != "went_back" {
		t.Fatalf("status after the refusal: ready %v clock %+v", st.Ready, st.Clock)
	}
	clock.Step(2500 * time.Millisecond)
	mustSale(t, e.Agent, "01-cash-single-line.json", "clk-3")

	b, err := linux.New(linux.Config{Root: t.TempDir(), Profile: "generic-amd64", Serial: "TEST-1",
		ClockFloor: time.Now().Add(365 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	e2 := agenttest.NewEnv(t, agenttest.Options{NoPrinter: true, Board: agent.BoardClock(b)})
	e2.Onboard(t)
	st = e2.Agent.Status(ctx)
	if st.Ready || st.Clock.State != "not_sane" {
		t.Fatalf("board clock before the floor: ready %v clock %+v", st.Ready, st.Clock)
	}
	_, err = sale(t, e2.Agent, "01-cash-single-line.json", "clk-4")
	var nr *agent.NotReadyError
	if !errors.As(err, &nr) || !nr.Has(apitype.ReasonClockInsane) {
		t.Fatalf("sale with an implausible clock: %v", err)
	}
}
