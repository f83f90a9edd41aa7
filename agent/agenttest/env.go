package agenttest

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/agent"
	"github.com/posagent/posagent/hsm/hsmtest"
	"github.com/posagent/posagent/hsm/tpm"
	"github.com/posagent/posagent/offline"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/zatca"
	"github.com/posagent/posagent/printer/serialport"
	"github.com/posagent/posagent/store"
	"github.com/posagent/posagent/store/sqlite"
)

// Options configure NewEnv.
type Options struct {
	// NoPrinter leaves the agent without a printer.
	NoPrinter bool
	// Clock replaces the system clock.
	Clock agent.Clock
	// Board is the clock checker (nil: none).
	Board agent.ClockChecker
	// Config adjusts the agent's configuration.
	Config func(*agent.Config)
	// Uploader replaces the reporting worker (offline.Worker over the simulator).
	Uploader agent.Uploader
	// Worker adjusts the worker's configuration.
	Worker func(*offline.Config)
	// Sim adjusts the simulator's options.
	Sim func(*fatoorasim.Options)
	// WrapKeys wraps the key store the agent uses.
	WrapKeys func(agent.KeyStore) agent.KeyStore
}

// Env is a complete agent on real components.
type Env struct {
	Dir     string
	TPM     *hsmtest.SWTPM
	Sim     *Sim
	Printer *Printer // nil with NoPrinter
	Keys    *tpm.KeyStore
	Store   *sqlite.DB
	Agent   *agent.Agent
	Up      agent.Uploader
	Worker  *offline.Worker // nil when Options.Uploader replaced it
	Config  agent.Config

	opts agent.Options
}

// Restart builds a new agent on the same journal, key store (unwrapped), simulator,
// printer and uploader, as a daemon restart would, and starts it (without Run). The
// previous agent stays in e.Agent's place no longer.
func (e *Env) Restart(t testing.TB) *agent.Agent {
	t.Helper()
	o := e.opts
	o.Keys = e.Keys
	a, err := agent.New(o)
	if err != nil {
		t.Fatalf("agenttest: restart: %v", err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("agenttest: restart: %v", err)
	}
	e.Agent = a
	// A restarted daemon starts a fresh uploader: no pause is carried over.
	e.Up.CredentialsChanged()
	t.Cleanup(func() { a.Close() })
	return a
}

// Clock is the system clock with a settable offset on the wall clock (the monotonic
// clock is untouched), so tests can step the time as an operator or NTP would.
type Clock struct {
	origin time.Time
	offset atomic.Int64
}

// NewClock returns a clock reading the system time.
func NewClock() *Clock { return &Clock{origin: time.Now()} }

// Now implements agent.Clock.
func (c *Clock) Now() time.Time { return time.Now().Round(0).Add(time.Duration(c.offset.Load())) }

// Monotonic implements agent.Clock.
func (c *Clock) Monotonic() time.Duration { return time.Since(c.origin) }

// Step moves the wall clock by d (negative: back).
func (c *Clock) Step(d time.Duration) { c.offset.Add(int64(d)) }

// NewEnv builds and starts an agent (not onboarded).
func NewEnv(t testing.TB, o Options) *Env {
	t.Helper()
	ctx := context.Background()
	e := &Env{Dir: t.TempDir()}
	e.TPM = TPM(t)
	e.Sim = StartSim(t, "", o.Sim)
	var err error
	tc := tpm.DefaultConfig()
	tc.Transport = e.TPM.Spec()
	tc.StateDir = filepath.Join(e.Dir, "keys")
	tc.ActivationSecret = ActivationSecret
	tc.Logger = Logger(t)
	if e.Keys, err = tpm.Open(ctx, tc); err != nil {
		t.Fatalf("agenttest: tpm.Open: %v", err)
	}
	t.Cleanup(func() { e.Keys.Close() })
	so := sqlite.DefaultOptions()
	so.Logger = Logger(t).With("subsystem", "store")
	if e.Store, err = sqlite.Open(ctx, filepath.Join(e.Dir, "journal.db"), so); err != nil {
		t.Fatalf("agenttest: sqlite.Open: %v", err)
	}
	t.Cleanup(func() { e.Store.Close(context.Background()) })

	cfg := agent.DefaultConfig()
	cfg.EGS = EGS(t)
	cfg.CheckInterval = 200 * time.Millisecond
	cfg.ExportRoot = filepath.Join(e.Dir, "exports")
	if o.Config != nil {
		o.Config(&cfg)
	}
	e.Config = cfg
	clock := o.Clock
	if clock == nil {
		clock = agent.NewSystemClock()
	}
	var keys agent.KeyStore = e.Keys
	if o.WrapKeys != nil {
		keys = o.WrapKeys(keys)
	}
	opts := agent.Options{Store: e.Store, Keys: keys, ZATCA: e.Sim.Client(t), Board: o.Board, Clock: clock,
		Seller: Seller(t), Config: cfg, Logger: Logger(t)}
	if !o.NoPrinter {
		e.Printer = StartPrinter(t, "")
		pc := serialport.DefaultConfig()
		pc.Device = e.Printer.Device
		pc.Logger = Logger(t).With("subsystem", "printer")
		p, err := serialport.Open(pc)
		if err != nil {
			t.Fatalf("agenttest: serialport.Open: %v", err)
		}
		t.Cleanup(func() { p.Close() })
		opts.Printer = p
	}
	e.Up = o.Uploader
	if e.Up == nil {
		wc := WorkerConfig()
		if o.Worker != nil {
			o.Worker(&wc)
		}
		up, err := offline.NewZATCAUploader(e.Sim.Client(t), func(context.Context) (zatca.Credentials, error) {
			return e.Agent.Credentials()
		})
		if err != nil {
			t.Fatal(err)
		}
		if e.Worker, err = offline.New(offline.Options{Config: wc, Store: e.Store, Uploader: up,
			Logger: Logger(t).With("subsystem", "uploader")}); err != nil {
			t.Fatalf("agenttest: offline.New: %v", err)
		}
		e.Up = agent.WorkerUploader(e.Worker, 50*time.Millisecond)
	}
	opts.Uploader = e.Up
	e.opts = opts
	if e.Agent, err = agent.New(opts); err != nil {
		t.Fatalf("agenttest: agent.New: %v", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if err := e.Agent.Start(ctx); err != nil {
		t.Fatalf("agenttest: agent start: %v", err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = e.Agent.Run(runCtx) }()
	if e.Worker != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = e.Worker.Run(runCtx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait(); e.Agent.Close() })
	return e
}

// WorkerConfig is the reporting worker's configuration for tests: quick polls,
// retries and probes.
func WorkerConfig() offline.Config {
	c := offline.DefaultConfig()
	c.PollInterval = 500 * time.Millisecond
	c.RetryBase = 100 * time.Millisecond
	c.RetryMax = time.Second
	c.ProbeInterval = 500 * time.Millisecond
	c.RateLimit = 0
	return c
}

// WaitReported waits until the document is reported (or already reported) and
// returns its state.
func (e *Env) WaitReported(t testing.TB, uuid string, timeout time.Duration) *store.Document {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		d, err := e.Store.Get(context.Background(), uuid)
		if err != nil {
			t.Fatal(err)
		}
		if d.Report.Final() || time.Now().After(deadline) {
			if !d.Report.Final() {
				t.Fatalf("agenttest: document %s not reported within %v: %+v", uuid, timeout, d.Report)
			}
			return d
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Onboard onboards the agent with a fresh simulator OTP.
func (e *Env) Onboard(t testing.TB) {
	t.Helper()
	if _, err := e.Agent.Onboard(context.Background(), e.Sim.OTP(t)); err != nil {
		t.Fatalf("agenttest: onboard: %v", err)
	}
}

// KickCounter is an uploader that only counts kicks; its state is settable. It stands
// in where a test must control what the agent sees of reporting.
type KickCounter struct {
	Kicks   atomic.Int64
	Changes atomic.Int64
	mu      sync.Mutex
	State   agent.UploadState
}

// Kick implements agent.Uploader.
func (k *KickCounter) Kick() { k.Kicks.Add(1) }

// CredentialsChanged implements agent.Uploader.
func (k *KickCounter) CredentialsChanged() { k.Changes.Add(1) }

// UploadState implements agent.Uploader.
func (k *KickCounter) UploadState() agent.UploadState {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.State
	if s.State == "" {
		s.State = "running"
	}
	return s
}

// Set replaces the state.
func (k *KickCounter) Set(s agent.UploadState) {
	k.mu.Lock()
	k.State = s
	k.mu.Unlock()
}
