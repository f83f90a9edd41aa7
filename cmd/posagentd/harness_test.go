package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
	"github.com/posagent/posagent/hsm/hsmtest"
	"github.com/posagent/posagent/offline/fatoorasim"
)

// TestMain runs the daemon instead of the tests when the test binary is re-executed as
// a child process (crash tests, benchmarks): POSAGENTD_CHILD_ARGS holds its arguments.
func TestMain(m *testing.M) {
	if args := os.Getenv("POSAGENTD_CHILD_ARGS"); args != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			fmt.Fprintln(os.Stderr, "posagentd child:", err)
			os.Exit(2)
		}
		if err := run(ctx, argv, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "posagentd child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// infra is what the daemon talks to: a private swtpm, the ZATCA simulator on
// 127.0.0.1, and (optionally) the printer simulator on a pty.
type infra struct {
	tpm     *hsmtest.SWTPM
	sim     *agenttest.Sim
	printer *agenttest.Printer // nil: no printer
	dir     string             // the test's directory (state, config, logs)
	sockDir string
}

func startInfra(t testing.TB, withPrinter bool) *infra {
	t.Helper()
	in := &infra{dir: t.TempDir(), sockDir: agenttest.ShortDir(t)}
	in.tpm = agenttest.TPM(t)
	in.sim = agenttest.StartSim(t, "", func(o *fatoorasim.Options) { o.Logger = agenttest.Logger(t) })
	if withPrinter {
		in.printer = agenttest.StartPrinter(t, filepath.Join(in.dir, "receipts"))
	}
	return in
}

// config writes a daemon configuration for the infra and returns its path.
func (in *infra) config(t testing.TB, mod func(*Config)) string {
	t.Helper()
	cfg := DefaultConfig()
	cfg.StateDir = filepath.Join(in.dir, "state")
	cfg.Socket.Path = filepath.Join(in.sockDir, "posagentd.sock")
	cfg.Socket.AllowedUIDs = []int{os.Getuid()}
	cfg.Seller = *agenttest.Seller(t)
	egs := agenttest.EGS(t)
	cfg.EGS = EGSConfig{CommonName: egs.CommonName, OrganizationUnit: egs.OrganizationUnit, Organization: egs.Organization,
		Location: egs.Location, Industry: egs.Industry, InvoiceType: "0100", Environment: "simulation", Solution: "posagent", Version: "test"}
	boardRoot := filepath.Join(in.dir, "board")
	if err := os.MkdirAll(boardRoot, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Board = BoardConfig{Root: boardRoot, Profile: boardProfile(),
		Serial: "TEST-" + filepath.Base(in.dir), ClockFloor: "2026-01-01"}
	secret := filepath.Join(in.dir, "activation-secret")
	if err := os.WriteFile(secret, agenttest.ActivationSecret, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.TPM.Transport = in.tpm.Spec()
	cfg.TPM.ActivationSecretFile = secret
	cfg.Printer.Device = "none"
	if in.printer != nil {
		cfg.Printer.Device = in.printer.Device
	}
	cfg.ZATCA = ZATCAConfig{Environment: "custom", BaseURL: in.sim.URL, Timeout: Duration(20 * time.Second)}
	cfg.Upload.PollInterval = Duration(500 * time.Millisecond)
	cfg.Upload.RetryBase = Duration(100 * time.Millisecond)
	cfg.Upload.RetryMax = Duration(time.Second)
	cfg.Upload.ProbeEvery = Duration(500 * time.Millisecond)
	cfg.Upload.RateLimit = 0
	cfg.Session.ScryptN = 1024
	cfg.Agent.ExportRoot = filepath.Join(in.dir, "exports")
	cfg.Log.Level = "warn"
	if testing.Verbose() {
		cfg.Log.Level = "debug"
	}
	cfg.ShutdownTimeout = Duration(10 * time.Second)
	if mod != nil {
		mod(&cfg)
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(in.dir, "posagentd.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// boardProfile is the generic board profile of the test's architecture.
func boardProfile() string {
	switch runtime.GOARCH {
	case "arm64":
		return "generic-arm64"
	case "arm":
		return "generic-armv7"
	}
	return "generic-amd64"
}

func (in *infra) socket() string { return filepath.Join(in.sockDir, "posagentd.sock") }

// waitUp waits until the daemon answers on its socket.
func waitUp(t testing.TB, socket string, timeout time.Duration, exited <-chan error) {
	t.Helper()
	c := &client.Client{Socket: socket}
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.Status(context.Background())
		if client.IsUnauthenticated(err) {
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("the daemon exited while starting: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon does not answer on %s within %v: %v", socket, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runInProcess runs the daemon's run() in a goroutine; stop cancels it (as SIGTERM
// does) and returns run's result.
func runInProcess(t testing.TB, cfgPath string, socket string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logw := io.Discard
	if testing.Verbose() {
		logw = tLog{t}
	}
	go func() { done <- run(ctx, []string{"-config", cfgPath}, io.Discard, logw) }()
	waitUp(t, socket, 30*time.Second, done)
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return fmt.Errorf("the daemon did not stop within 30 s")
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

type tLog struct{ t testing.TB }

func (w tLog) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

// child is the daemon as a separate process (the test binary re-executed).
type child struct {
	cmd    *exec.Cmd
	exited chan error
	log    string
}

// startChild starts the daemon as a child process. Under qemu-user the test binary is
// prefixed with $POSAGENT_EXEC_PREFIX (an arm64 binary cannot exec itself there).
func startChild(t testing.TB, cfgPath, logPath string) *child {
	t.Helper()
	args, _ := json.Marshal([]string{"-config", cfgPath})
	argv := []string{os.Args[0]}
	if p := strings.Fields(os.Getenv("POSAGENT_EXEC_PREFIX")); len(p) > 0 {
		argv = append(p, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "POSAGENTD_CHILD_ARGS="+string(args))
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the daemon: %v", err)
	}
	c := &child{cmd: cmd, exited: make(chan error, 1), log: logPath}
	go func() { c.exited <- cmd.Wait(); f.Close() }()
	t.Cleanup(func() { c.kill() })
	return c
}

// kill sends SIGKILL and waits for the process.
func (c *child) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
	}
}

// logTail returns the end of the child's log, for failure messages.
func (c *child) logTail() string {
	b, _ := os.ReadFile(c.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// adminClient logs in as the bootstrap administrator (reading its default PIN from the
// state directory) and sets its PIN to pin.
func adminClient(t testing.TB, socket, stateDir, pin string) *client.Client {
	t.Helper()
	ctx := context.Background()
	b, err := os.ReadFile(filepath.Join(stateDir, "initial-admin-pin"))
	if err != nil {
		t.Fatalf("bootstrap PIN: %v", err)
	}
	c := &client.Client{Socket: socket}
	if _, err := c.Login(ctx, "admin", strings.TrimSpace(string(b))); err != nil {
		t.Fatalf("admin login: %v", err)
	}
	if err := c.ChangePIN(ctx, strings.TrimSpace(string(b)), pin); err != nil {
		t.Fatalf("admin PIN change: %v", err)
	}
	return c
}

// cashierClient adds a cashier (as admin) and logs it in with a changed PIN.
func cashierClient(t testing.TB, socket string, admin *client.Client, id string, role apitype.Role) *client.Client {
	t.Helper()
	ctx := context.Background()
	if _, err := admin.AddCashier(ctx, apitype.AddCashierRequest{ID: id, Name: "Cashier " + id, Role: role, PIN: "4711"}); err != nil {
		t.Fatalf("add cashier: %v", err)
	}
	c := &client.Client{Socket: socket}
	if _, err := c.Login(ctx, id, "4711"); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangePIN(ctx, "4711", "8642"); err != nil {
		t.Fatal(err)
	}
	return c
}
