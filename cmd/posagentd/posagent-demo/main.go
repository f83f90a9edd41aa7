// Command posagent-demo is what `make run` starts: the whole product on this machine,
// with the two simulators standing in for what is not reachable here. It starts, as
// separate processes with their state under -var:
//
//   - swtpm (the software TPM QEMU uses) on 127.0.0.1,
//   - fatoora-sim (the ZATCA API simulator) on 127.0.0.1,
//   - printer-sim (a virtual ESC/POS printer on a pseudo-terminal, writing PNGs),
//   - posagentd, configured for all three.
//
// It then onboards the terminal with a portal OTP from the simulator's admin API (first
// run only), creates a demo cashier, makes a demo sale through the socket, prints where
// the receipt PNG and the signed XML are, and keeps everything running until Ctrl-C,
// when it stops what it started, posagentd first. A second run reuses the state.
//
// It is a development tool: posagentd does not link it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
	"github.com/posagent/posagent/agent/localapi"
	"github.com/posagent/posagent/offline/fatoorasim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "posagent-demo:", err)
		os.Exit(1)
	}
}

// demo is the set of processes and paths.
type demo struct {
	varDir, binDir, repo string
	receipts             string // this run's receipt folder
	out                  io.Writer
	procs                []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error
	log  string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("posagent-demo", flag.ContinueOnError)
	varDir := fs.String("var", "var", "state directory of the demo (kept between runs)")
	binDir := fs.String("bin", "bin", "directory of the posagentd, posctl, fatoora-sim and printer-sim binaries")
	repo := fs.String("repo", ".", "the repository (for testdata/seller.json and testdata/sales)")
	once := fs.Bool("once", false, "stop after the demo sale instead of running until Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d := &demo{out: out}
	var err error
	for _, p := range []struct {
		dst *string
		v   string
	}{{&d.varDir, *varDir}, {&d.binDir, *binDir}, {&d.repo, *repo}} {
		if *p.dst, err = filepath.Abs(p.v); err != nil {
			return err
		}
	}
	defer d.stopAll()
	if err := d.start(ctx); err != nil {
		return err
	}
	if *once {
		return nil
	}
	fmt.Fprintln(out, "\nposagent is running. Press Ctrl-C to stop everything.")
	select {
	case <-ctx.Done():
	case err := <-d.anyExit():
		return err
	}
	fmt.Fprintln(out, "\nstopping…")
	return nil
}

func (d *demo) path(p ...string) string { return filepath.Join(append([]string{d.varDir}, p...)...) }

func (d *demo) start(ctx context.Context) error {
	// printer-sim numbers its receipts from 1 on every start: one folder per run.
	d.receipts = d.path("receipts", time.Now().Format("20060102-150405"))
	for _, dir := range []string{d.path("swtpm"), d.path("fatoora"), d.path("state"), d.receipts, d.path("run"), d.path("logs"),
		d.path("documents"), d.path("exports")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	for _, b := range []string{"posagentd", "posctl", "fatoora-sim", "printer-sim"} {
		if _, err := os.Stat(filepath.Join(d.binDir, b)); err != nil {
			return fmt.Errorf("%s is not built (run make build): %w", b, err)
		}
	}
	swtpm, err := exec.LookPath("swtpm")
	if err != nil {
		return fmt.Errorf("swtpm is not installed (apt-get install swtpm swtpm-tools): %w", err)
	}

	// swtpm on two free loopback ports.
	tpmPort, err := freePorts(2)
	if err != nil {
		return err
	}
	if _, err := d.spawn("swtpm", swtpm, "socket", "--tpm2", "--tpmstate", "dir="+d.path("swtpm"),
		"--server", "type=tcp,port="+strconv.Itoa(tpmPort[0])+",bindaddr=127.0.0.1",
		"--ctrl", "type=tcp,port="+strconv.Itoa(tpmPort[1])+",bindaddr=127.0.0.1",
		"--flags", "not-need-init,startup-clear"); err != nil {
		return err
	}
	if err := waitTCP(ctx, "127.0.0.1:"+strconv.Itoa(tpmPort[0]), 15*time.Second); err != nil {
		return fmt.Errorf("swtpm: %w", err)
	}

	// fatoora-sim.
	simPort, err := freePorts(1)
	if err != nil {
		return err
	}
	simURL := "http://127.0.0.1:" + strconv.Itoa(simPort[0])
	if _, err := d.spawn("fatoora-sim", filepath.Join(d.binDir, "fatoora-sim"), "serve", "-addr", "127.0.0.1:"+strconv.Itoa(simPort[0]),
		"-state", d.path("fatoora")); err != nil {
		return err
	}
	if err := waitHTTP(ctx, simURL+"/admin/health", 20*time.Second); err != nil {
		return fmt.Errorf("fatoora-sim: %w", err)
	}

	// printer-sim on a pty, linked from var/run/printer.
	link := d.path("run", "printer")
	os.Remove(link)
	if _, err := d.spawn("printer-sim", filepath.Join(d.binDir, "printer-sim"), "-pty", "-link", link,
		"-out", d.receipts, "-admin", ""); err != nil {
		return err
	}
	if err := waitFile(ctx, link, 15*time.Second); err != nil {
		return fmt.Errorf("printer-sim: %w", err)
	}

	// posagentd.
	cfgPath, err := d.writeConfig(tpmPort[0], simURL, link)
	if err != nil {
		return err
	}
	socket := d.path("run", "posagent.sock")
	if _, err := d.spawn("posagentd", filepath.Join(d.binDir, "posagentd"), "-config", cfgPath); err != nil {
		return err
	}
	c := &client.Client{Socket: socket}
	if err := waitAPI(ctx, c, 60*time.Second); err != nil {
		return fmt.Errorf("posagentd: %w (log: %s)", err, d.path("logs", "posagentd.log"))
	}
	fmt.Fprintf(d.out, "started swtpm, fatoora-sim (%s), printer-sim (%s) and posagentd (%s)\n", simURL, link, socket)
	return d.demoSale(ctx, socket, simURL)
}

// writeConfig writes var/posagentd.json (and the activation secret on the first run).
func (d *demo) writeConfig(tpmPort int, simURL, printerLink string) (string, error) {
	secretFile := d.path("activation-secret")
	if _, err := os.Stat(secretFile); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(secretFile, []byte(randomHex(32)+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	seller, err := os.ReadFile(filepath.Join(d.repo, "testdata", "seller.json"))
	if err != nil {
		return "", err
	}
	host, _ := os.Hostname()
	cfg := map[string]any{
		"state_dir": d.path("state"),
		"socket":    map[string]any{"path": d.path("run", "posagent.sock"), "mode": "0660", "allowed_uids": []int{os.Getuid()}},
		"seller":    json.RawMessage(seller),
		"egs": map[string]any{"common_name": "TST-886431145-399999999900003", "organization_unit": "Riyadh Branch",
			"organization": "Maximum Speed Tech Supply LTD", "location": "RRRD2929", "industry": "Supply activities",
			"invoice_type": "0100", "environment": "simulation", "solution": "posagent", "version": "demo"},
		"board":    map[string]any{"root": "/", "serial": "DEMO-" + sanitize(host)},
		"tpm":      map[string]any{"transport": "tcp:127.0.0.1:" + strconv.Itoa(tpmPort), "activation_secret_file": secretFile},
		"printer":  map[string]any{"device": printerLink, "baud": 115200, "profile": "80mm"},
		"zatca":    map[string]any{"environment": "custom", "base_url": simURL, "timeout": "30s"},
		"uploader": map[string]any{"poll_interval": "5s", "retry_base": "1s", "retry_max": "1m", "probe_interval": "30s"},
		"agent":    map[string]any{"export_root": d.path("exports")},
		"log":      map[string]any{"level": "info", "format": "text"},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	p := d.path("posagentd.json")
	return p, os.WriteFile(p, b, 0o600)
}

// demoSale onboards (first run), makes sure the demo cashier exists, and sells.
func (d *demo) demoSale(ctx context.Context, socket, simURL string) error {
	admin := &client.Client{Socket: socket}
	adminPINFile := d.path("demo-admin-pin")
	pin, err := os.ReadFile(adminPINFile)
	if err != nil {
		initial, ierr := os.ReadFile(d.path("state", "initial-admin-pin"))
		if ierr != nil {
			return fmt.Errorf("no admin PIN: neither %s nor the first administrator's PIN file: %w", adminPINFile, ierr)
		}
		newPIN := randomPIN()
		if _, err := admin.Login(ctx, "admin", strings.TrimSpace(string(initial))); err != nil {
			return err
		}
		if err := admin.ChangePIN(ctx, strings.TrimSpace(string(initial)), newPIN); err != nil {
			return err
		}
		if err := os.WriteFile(adminPINFile, []byte(newPIN+"\n"), 0o600); err != nil {
			return err
		}
		pin = []byte(newPIN)
	}
	if _, err := admin.Login(ctx, "admin", strings.TrimSpace(string(pin))); err != nil {
		return fmt.Errorf("admin login: %w", err)
	}
	st, err := admin.Status(ctx)
	if err != nil {
		return err
	}
	if st.Credentials.State == "missing" || st.Credentials.State == "revoked" {
		otps, err := (&fatoorasim.AdminClient{BaseURL: simURL}).GenerateOTPs(ctx, "399999999900003", 1)
		if err != nil {
			return fmt.Errorf("portal OTP: %w", err)
		}
		fmt.Fprintf(d.out, "onboarding with portal OTP %s …\n", otps[0].Code)
		res, err := admin.Onboard(ctx, otps[0].Code)
		if err != nil {
			return fmt.Errorf("onboard: %w", err)
		}
		fmt.Fprintf(d.out, "onboarded: production CSID %s valid until %s, key %s\n", res.RequestID, res.NotAfter.Format(time.DateOnly), res.KeyFingerprint)
	}

	cashierPINFile := d.path("demo-cashier-pin")
	cpin, err := os.ReadFile(cashierPINFile)
	if err != nil {
		cs, err := admin.Cashiers(ctx)
		if err != nil {
			return err
		}
		initial, final := "4826", randomPIN()
		if slices.ContainsFunc(cs, func(c apitype.Cashier) bool { return c.ID == "demo" }) {
			if _, err := admin.ResetPIN(ctx, "demo", initial); err != nil {
				return err
			}
		} else if _, err := admin.AddCashier(ctx, apitype.AddCashierRequest{ID: "demo", Name: "Demo Cashier", Role: apitype.RoleSupervisor, PIN: initial}); err != nil {
			return err
		}
		tmp := &client.Client{Socket: socket}
		if _, err := tmp.Login(ctx, "demo", initial); err != nil {
			return err
		}
		if err := tmp.ChangePIN(ctx, initial, final); err != nil {
			return err
		}
		if err := os.WriteFile(cashierPINFile, []byte(final+"\n"), 0o600); err != nil {
			return err
		}
		cpin = []byte(final)
		fmt.Fprintln(d.out, "created the demo cashier \"demo\" (supervisor)")
	}
	cashier := &client.Client{Socket: socket}
	if _, err := cashier.Login(ctx, "demo", strings.TrimSpace(string(cpin))); err != nil {
		return fmt.Errorf("cashier login: %w", err)
	}

	body, err := os.ReadFile(filepath.Join(d.repo, "testdata", "sales", "02-mixed-categories.json"))
	if err != nil {
		return err
	}
	key := "demo-" + time.Now().Format("20060102-150405.000")
	var sale map[string]any
	if err := json.Unmarshal(body, &sale); err != nil {
		return err
	}
	sale["idempotency_key"] = key
	before := pngs(d.receipts)
	doc, err := cashier.Sale(ctx, sale)
	if err != nil {
		return fmt.Errorf("demo sale: %w", err)
	}
	xml, err := cashier.DocumentXML(ctx, doc.UUID)
	if err != nil {
		return err
	}
	xmlPath := d.path("documents", fmt.Sprintf("%s-ICV%06d.xml", doc.IRN, doc.ICV))
	if err := os.WriteFile(xmlPath, xml, 0o644); err != nil {
		return err
	}
	png := ""
	for deadline := time.Now().Add(15 * time.Second); png == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, p := range pngs(d.receipts) {
			if !slices.Contains(before, p) {
				png = p
			}
		}
	}
	report := doc.Report.Status
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got, err := cashier.Document(ctx, doc.UUID); err == nil && got.Report.Status != "pending" && got.Report.Status != "retry" {
			report = fmt.Sprintf("%s (HTTP %d)", got.Report.Status, got.Report.HTTPStatus)
			break
		}
	}
	fmt.Fprintf(d.out, `
demo sale issued:
  document      %s ICV %d (%s), %s SAR incl. %s VAT
  signed XML    %s
  receipt PNG   %s
  printed       %v %s
  reported      %s
  QR            %s

try:
  %s/posctl login --socket %s --cashier demo      (PIN in %s)
  %s/posctl status --socket %s
  %s/posctl sale --socket %s testdata/sales/03-tax-inclusive.json
  curl --unix-socket %s http://posagent/v1/status -H "Authorization: Bearer <token>"
logs: %s
`, doc.UUID, doc.ICV, doc.IRN, doc.Totals.TaxInclusive, doc.Totals.VAT, xmlPath, png, doc.Printed, doc.PrintError, report, doc.QR,
		d.binDir, socket, cashierPINFile, d.binDir, socket, d.binDir, socket, socket, d.path("logs"))
	return nil
}

// spawn starts a process with its output in var/logs/<name>.log.
func (d *demo) spawn(name, bin string, args ...string) (*proc, error) {
	logPath := d.path("logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan error, 1), log: logPath}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	d.procs = append(d.procs, p)
	return p, nil
}

// anyExit reports the first process that exits by itself.
func (d *demo) anyExit() <-chan error {
	ch := make(chan error, len(d.procs))
	for _, p := range d.procs {
		go func() {
			err := <-p.done
			p.done <- err
			ch <- fmt.Errorf("%s exited (%v); see %s", p.name, err, p.log)
		}()
	}
	return ch
}

// stopAll stops the processes in reverse start order: SIGTERM, then SIGKILL after 20 s.
func (d *demo) stopAll() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			p.done <- err
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
		}
		fmt.Fprintf(d.out, "stopped %s\n", p.name)
	}
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	return poll(ctx, timeout, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	return poll(ctx, timeout, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
		}
		return nil
	})
}

func waitFile(ctx context.Context, path string, timeout time.Duration) error {
	return poll(ctx, timeout, func() error { _, err := os.Stat(path); return err })
}

func waitAPI(ctx context.Context, c *client.Client, timeout time.Duration) error {
	return poll(ctx, timeout, func() error {
		_, err := c.Status(ctx)
		if client.IsUnauthenticated(err) {
			return nil
		}
		if err == nil {
			return errors.New("status answered without a session")
		}
		return err
	})
}

func poll(ctx context.Context, timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func pngs(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	return m
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

// randomPIN returns a 6-digit PIN that passes the PIN rules.
func randomPIN() string {
	for {
		b := randomBytes(6)
		for i := range b {
			b[i] = '0' + b[i]%10
		}
		if localapi.CheckPIN("pin", string(b)) == nil {
			return string(b)
		}
	}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}
