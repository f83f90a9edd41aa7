package offline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/offline/zatca"
	"github.com/posagent/posagent/store"
)

// The SPEC §2.5 table, from the client's typed answers.
func TestClassify(t *testing.T) {
	body := []byte(`{"validationResults":{}}`)
	vr := zatca.ValidationResults{
		Warnings: []zatca.Message{{Type: "WARNING", Code: "BR-KSA-98", Message: "late"}},
		Errors:   []zatca.Message{{Code: "", Message: "no code"}},
	}
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, c := range []struct {
		name       string
		res        *zatca.ReportResult
		err        error
		outcome    store.Outcome
		status     int
		transport  bool
		retryAfter time.Duration
		reason     string
	}{
		{"200", &zatca.ReportResult{HTTPStatus: 200, Status: zatca.Reported, Raw: body}, nil, store.OutcomeReported, 200, false, 0, ""},
		{"202", &zatca.ReportResult{HTTPStatus: 202, Status: zatca.ReportedWithWarnings, ValidationResults: vr}, nil, store.OutcomeReportedWithWarnings, 202, false, 0, ""},
		{"409", &zatca.ReportResult{HTTPStatus: 409, Status: zatca.AlreadyReported}, nil, store.OutcomeAlreadyReported, 409, false, 0, ""},
		{"400", &zatca.ReportResult{HTTPStatus: 400, Status: zatca.Rejected, ValidationResults: vr}, nil, store.OutcomeRejected, 400, false, 0, ""},
		{"400 without messages", &zatca.ReportResult{HTTPStatus: 400, Status: zatca.Rejected, Raw: []byte(`{"code":"400"}`)}, nil, store.OutcomeRejected, 400, false, 0, ""},
		{"401", nil, &zatca.APIError{Op: "zatca report", HTTPStatus: 401, Messages: []zatca.Message{{Message: "bad token"}}}, store.OutcomePaused, 401, false, 0, "HTTP 401"},
		{"406", nil, &zatca.APIError{Op: "zatca report", HTTPStatus: 406}, store.OutcomePaused, 406, false, 0, "HTTP 406"},
		{"403", nil, &zatca.APIError{Op: "zatca report", HTTPStatus: 403}, store.OutcomePaused, 403, false, 0, "HTTP 403"},
		{"413", nil, &zatca.APIError{Op: "zatca report", HTTPStatus: 413}, store.OutcomeRejected, 413, false, 0, ""},
		{"429", nil, &zatca.APIError{Op: "zatca report", HTTPStatus: 429, RetryAfter: 3 * time.Second}, store.OutcomeRetry, 429, false, 3 * time.Second, ""},
		{"500", nil, &zatca.APIError{Op: "zatca report", HTTPStatus: 500}, store.OutcomeRetry, 500, false, 0, ""},
		{"503", nil, &zatca.APIError{Op: "zatca report", HTTPStatus: 503}, store.OutcomeRetry, 503, false, 0, ""},
		{"504", nil, &zatca.APIError{Op: "zatca report", HTTPStatus: 504}, store.OutcomeRetry, 504, false, 0, ""},
		{"network", nil, &zatca.APIError{Op: "zatca report", Err: netErr}, store.OutcomeRetry, 0, true, 0, ""},
		{"timeout", nil, &zatca.APIError{Op: "zatca report", Err: context.DeadlineExceeded}, store.OutcomeRetry, 0, true, 0, ""},
		{"no credentials", nil, fmt.Errorf("zatca uploader: %w", &CredentialsError{Err: errors.New("not onboarded")}), store.OutcomePaused, 0, true, 0, "no usable credentials"},
		{"invalid request", nil, fmt.Errorf("zatca report: document XML is empty: %w", zatca.ErrInvalidRequest), store.OutcomeRejected, 0, true, 0, ""},
		{"unknown error", nil, errors.New("something else"), store.OutcomeRetry, 0, true, 0, ""},
		{"no answer", nil, nil, store.OutcomeRetry, 0, true, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := classify(c.res, c.err)
			if v.outcome != c.outcome || v.httpStatus != c.status || (v.transport != "") != c.transport ||
				v.retryAfter != c.retryAfter || !strings.Contains(v.reason, c.reason) {
				t.Errorf("classify = %+v, want %s HTTP %d transport %v retry-after %v reason %q",
					v, c.outcome, c.status, c.transport, c.retryAfter, c.reason)
			}
			// Whatever comes back must be recordable.
			a := store.Attempt{At: time.Now(), HTTPStatus: v.httpStatus, Outcome: v.outcome, ResponseJSON: v.body,
				Warnings: v.warnings, Errors: v.errors, TransportError: clipText(v.transport, 4096)}
			if !v.outcome.Final() {
				a.NextAttemptAt = a.At
			}
			if err := a.Validate(); err != nil {
				t.Errorf("attempt not recordable: %v", err)
			}
			if v.outcome == store.OutcomeRejected && len(v.errors) == 0 {
				t.Errorf("a dead letter without a reason")
			}
		})
	}
	v := classify(&zatca.ReportResult{HTTPStatus: 202, Status: zatca.ReportedWithWarnings, ValidationResults: vr}, nil)
	if len(v.warnings) != 1 || v.warnings[0].Code != "BR-KSA-98" || len(v.errors) != 1 || v.errors[0].Code != "uncoded" || v.errors[0].Type != "ERROR" {
		t.Errorf("messages not kept: %+v %+v", v.warnings, v.errors)
	}
}

func TestBackoff(t *testing.T) {
	base, maxd := time.Second, time.Minute
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		if got := backoff(n, base, maxd, 0, nil); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
	if got := backoff(1000, base, maxd, 0, nil); got != time.Minute {
		t.Errorf("backoff(1000) = %v, want the cap", got)
	}
	for _, r := range []float64{0, 0.5, 0.999} {
		got := backoff(3, base, maxd, 0.2, func() float64 { return r })
		if got > 8*time.Second || got < time.Duration(float64(8*time.Second)*0.8) {
			t.Errorf("jittered backoff(3) with %v = %v, want within [6.4s, 8s]", r, got)
		}
	}
}

// stepClock is a minimal Clock for the limiter's arithmetic.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time                 { return c.now }
func (c *stepClock) NewTimer(d time.Duration) Timer { panic("not used") }

func TestLimiter(t *testing.T) {
	c := &stepClock{now: time.Unix(1000, 0)}
	l := newLimiter(c, 10, 3)
	for i := range 3 {
		if d := l.delay(); d != 0 {
			t.Fatalf("token %d of the burst: delay %v", i, d)
		}
	}
	if d := l.delay(); d != 100*time.Millisecond {
		t.Fatalf("after the burst: delay %v, want 100ms", d)
	}
	c.now = c.now.Add(100 * time.Millisecond)
	if d := l.delay(); d != 0 {
		t.Fatalf("after 100ms: delay %v, want 0", d)
	}
	c.now = c.now.Add(time.Hour)
	n := 0
	for l.delay() == 0 {
		n++
	}
	if n != 3 {
		t.Fatalf("after an hour idle: %d tokens, want the burst of 3", n)
	}
	if d := newLimiter(c, 0, 0).delay(); d != 0 {
		t.Fatalf("no limit: delay %v", d)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for _, c := range []struct {
		field string
		mod   func(*Config)
	}{
		{"Concurrency", func(c *Config) { c.Concurrency = 0 }},
		{"RateLimit", func(c *Config) { c.RateLimit = -1 }},
		{"Burst", func(c *Config) { c.Burst = 0 }},
		{"BatchSize", func(c *Config) { c.BatchSize = 5000 }},
		{"PollInterval", func(c *Config) { c.PollInterval = 0 }},
		{"RetryMax", func(c *Config) { c.RetryMax = time.Millisecond }},
		{"Jitter", func(c *Config) { c.Jitter = 1.5 }},
		{"AlarmAge", func(c *Config) { c.AlarmAge = c.WarnAge }},
		{"Deadline", func(c *Config) { c.Deadline = c.AlarmAge }},
		{"Actor", func(c *Config) { c.Actor = "" }},
	} {
		cfg := DefaultConfig()
		c.mod(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("%s: Validate = %v, want an ErrInvalidConfig naming the field", c.field, err)
		}
	}
	cfg := DefaultConfig()
	cfg.Concurrency, cfg.Actor = -1, ""
	var ce *ConfigError
	if err := cfg.Validate(); !errors.As(err, &ce) || len(ce.Errs) != 2 {
		t.Errorf("two bad fields: %v", err)
	}
	if _, err := New(Options{Config: DefaultConfig()}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New without a store: %v", err)
	}
}

// The tracker raises each level once, keeps its counts through removals
// and finds the oldest document.
func TestTracker(t *testing.T) {
	tr := newTracker()
	base := time.Unix(0, 0)
	ages := [numLevels]time.Duration{levelWarning: 12 * time.Hour, levelAlarm: 20 * time.Hour, levelOverdue: 24 * time.Hour}
	for i := uint64(1); i <= 5; i++ {
		tr.add(i, fmt.Sprint(i), base.Add(time.Duration(i)*time.Hour))
	}
	tr.fired[6] = levelAlarm // audited by an earlier run
	tr.add(6, "6", base.Add(6*time.Hour))
	tr.advance(6)
	warn, alarm := tr.crossings(base.Add(22*time.Hour), ages)
	// Ages 21h…17h for ICV 1…5: all past 12 h; ICV 1 and 2 past 20 h; ICV 6
	// (16 h) was audited at alarm level before.
	if len(warn) != 5 || len(alarm) != 2 || tr.count[levelWarning] != 6 || tr.count[levelAlarm] != 3 || tr.count[levelOverdue] != 0 {
		t.Fatalf("crossings: warn %d alarm %d counts %v", len(warn), len(alarm), tr.count)
	}
	if want := base.Add(3*time.Hour + 20*time.Hour); !tr.next.Equal(want) {
		t.Errorf("next crossing %v, want %v (ICV 3 at 20 h)", tr.next, want)
	}
	if warn, alarm := tr.crossings(base.Add(22*time.Hour), ages); len(warn)+len(alarm) != 0 {
		t.Errorf("second pass fired again: %d %d", len(warn), len(alarm))
	}
	tr.remove(1)
	tr.remove(9) // finalised before it was read
	if o := tr.oldest(); o == nil || o.icv != 2 || tr.count[levelWarning] != 5 || tr.count[levelAlarm] != 2 {
		t.Errorf("after removing ICV 1: oldest %+v counts %v", o, tr.count)
	}
	tr.add(9, "9", base)
	if _, ok := tr.docs[9]; ok {
		t.Errorf("a finalised document was tracked again")
	}
	tr.lower(tr.docs[2], levelWarning)
	if warn, alarm := tr.crossings(base.Add(30*time.Hour), ages); len(alarm) != 4 || len(warn) != 0 || tr.count[levelOverdue] != 5 {
		t.Errorf("after lowering ICV 2 and 8 more hours: warn %d alarm %d counts %v", len(warn), len(alarm), tr.count)
	}
}
