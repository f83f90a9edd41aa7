package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/agenttest"
	"github.com/posagent/posagent/printer"
)

// salesDir is the repository's sale fixtures.
func salesDir(t *testing.T) string { return filepath.Join(agenttest.RepoRoot(t), "testdata", "sales") }

func TestLoadSalesKeepsSimplifiedInvoices(t *testing.T) {
	files, err := loadSales(salesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	all, _ := filepath.Glob(filepath.Join(salesDir(t), "*.json"))
	notes := 0
	for _, f := range all {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(`"doc_type": "381"`)) || bytes.Contains(b, []byte(`"doc_type": "383"`)) {
			notes++
		}
	}
	if notes == 0 || len(files) != len(all)-notes {
		t.Fatalf("%d files kept of %d (%d notes)", len(files), len(all), notes)
	}
	for i, f := range files {
		if fmt.Sprint(f.Body["doc_type"]) != "388" {
			t.Errorf("%s: doc_type %v", f.Name, f.Body["doc_type"])
		}
		if i > 0 && files[i-1].Name >= f.Name {
			t.Errorf("not in name order: %s after %s", f.Name, files[i-1].Name)
		}
	}

	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "credit.json"), []byte(`{"doc_type": "381"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSales(empty); !errors.Is(err, ErrNoSales) {
		t.Errorf("a directory without invoices: %v, want ErrNoSales", err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "x.json"), []byte(`{"doc_type": "388"} {}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSales(bad); err == nil || !strings.Contains(err.Error(), "x.json") {
		t.Errorf("trailing data: %v, want an error naming the file", err)
	}
}

func TestSaleForReplacesOnlyTheKey(t *testing.T) {
	files, err := loadSales(salesDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2*len(files); i++ {
		key := saleKey("b7-", i)
		name, body, err := saleFor(files, i, key)
		if err != nil {
			t.Fatal(err)
		}
		want := files[(i-1)%len(files)]
		if name != want.Name {
			t.Fatalf("sale %d is %s, want %s", i, name, want.Name)
		}
		got, err := decodeObject(body)
		if err != nil {
			t.Fatalf("sale %d: %v", i, err)
		}
		if got["idempotency_key"] != key {
			t.Errorf("sale %d: key %v, want %s", i, got["idempotency_key"], key)
		}
		orig, _ := os.ReadFile(filepath.Join(salesDir(t), name))
		o, _ := decodeObject(orig)
		o["idempotency_key"] = key
		if a, b := canonical(t, o), canonical(t, got); a != b {
			t.Errorf("sale %d (%s) changed beyond its key:\n%s\n%s", i, name, a, b)
		}
	}
	if key := saleKey("b2-", 20); key != "b2-0020" {
		t.Errorf("saleKey = %q", key)
	}
	// Numbers stay numbers, written as in the file; the shared body is not modified.
	for i, f := range files {
		if f.Name != "20-json-numbers.json" {
			continue
		}
		_, body, _ := saleFor(files, i+1, "k")
		if !bytes.Contains(body, []byte(`"doc_type":388`)) {
			t.Errorf("20-json-numbers: doc_type is no longer the number 388: %s", body)
		}
		if f.Body["idempotency_key"] == "k" {
			t.Error("saleFor modified the loaded file")
		}
	}
	if _, _, err := saleFor(files, 0, "k"); err == nil {
		t.Error("sale 0 accepted")
	}
}

func canonical(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSummarizeNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 50; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	l := summarize(d)
	want := latency{N: 50, P50: 25 * time.Millisecond, P90: 45 * time.Millisecond, P99: 50 * time.Millisecond,
		Max: 50 * time.Millisecond, Mean: 25500 * time.Microsecond}
	if l != want {
		t.Errorf("summarize = %+v, want %+v", l, want)
	}
	if d[0] != 50*time.Millisecond {
		t.Error("summarize sorted its argument")
	}
	if one := summarize([]time.Duration{7}); one.P50 != 7 || one.P99 != 7 {
		t.Errorf("one sample: %+v", one)
	}
	if (summarize(nil) != latency{}) {
		t.Error("no samples")
	}
}

// TestFindPIDAndMemory runs a host program under a unique name and finds it.
func TestFindPIDAndMemory(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("pdsleep%06d", time.Now().UnixNano()%1e6)
	link := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(sleep, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var pid int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if pid, err = findPID(name); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || pid != cmd.Process.Pid {
		t.Fatalf("findPID(%s) = %d, %v; want %d", name, pid, err, cmd.Process.Pid)
	}
	m, err := readMemory(pid)
	if err != nil || m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("readMemory = %+v, %v", m, err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"mem", "-comm", name, "-label", "after-x"}, &out, &errOut); code != 0 {
		t.Fatalf("posdrive mem: exit %d: %s", code, &errOut)
	}
	requireLine(t, out.String(), fmt.Sprintf(`^POSDRIVE RSS after-x pid=%d vmrss_kb=[1-9]\d* vmhwm_kb=[1-9]\d*$`, pid))
	if code := run(context.Background(), []string{"mem", "-comm", name, "-label", "after x"}, &out, &errOut); code != 2 {
		t.Errorf("posdrive mem with a label the host cannot parse: exit %d", code)
	}
	if code := run(context.Background(), []string{"mem", "-comm", "no-such-proc-x"}, &out, &errOut); code != 1 {
		t.Errorf("posdrive mem of nothing: exit %d", code)
	}
	if _, err := findPID("no-such-proc-x"); !errors.Is(err, ErrNoProcess) {
		t.Errorf("findPID of nothing: %v", err)
	}
	if _, err := readMemory(1 << 30); err == nil {
		t.Error("readMemory of a missing process")
	}
	up, err := uptime()
	if err != nil || up <= 0 {
		t.Errorf("uptime = %v, %v", up, err)
	}
}

// buildPosctl builds cmd/posctl for the test's own GOOS/GOARCH (the go command inherits
// them), once per test binary.
func buildPosctl(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "posctl")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/posctl")
	cmd.Dir = agenttest.RepoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/posctl: %v\n%s", err, b)
	}
	return out
}

// TestDriverAgainstTheAPI runs every subcommand against the real socket API (swtpm,
// fatoorasim over HTTP, escpossim on a pty, SQLite) with a real posctl, and checks the
// result lines the QEMU test relies on.
func TestDriverAgainstTheAPI(t *testing.T) {
	posctl := buildPosctl(t)
	api := agenttest.StartAPI(t, agenttest.APIOptions{})
	ctx := context.Background()
	common := []string{"-socket", api.Socket, "-posctl", posctl, "-sessions", filepath.Join(t.TempDir(), "s"), "-work", t.TempDir(),
		"-timeout", "60s"}
	drive := func(want int, sub string, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		argv := append(append([]string{sub}, common...), args...)
		if code := run(ctx, argv, &out, &errOut); code != want {
			t.Fatalf("posdrive %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(argv, " "), code, want, &out, &errOut)
		}
		return out.String() + errOut.String()
	}

	up := drive(0, "up")
	requireLine(t, up, `^POSDRIVE UP uptime=\d+\.\d{3}s$`)

	drive(2, "setup", "-admin-pin", "271828", "-cashier-pin", "8642") // no OTP
	setup := drive(0, "setup", "-pin-file", api.PINFile, "-otp", api.Env.Sim.OTP(t), "-admin-pin", "271828", "-cashier-pin", "8642")
	requireLine(t, setup, `^POSDRIVE ONBOARDED ms=\d+$`)
	requireLine(t, setup, `^\$ posctl login --cashier admin --pin \*\*\* --new-pin \*\*\* \(\d+ ms\)$`)
	if strings.Contains(setup, "--pin "+api.AdminPIN) {
		t.Error("setup printed the first administrator's PIN")
	}

	ready := drive(0, "ready", "-pin", "8642")
	requireLine(t, ready, `^POSDRIVE READY uptime=\d+\.\d{3}s$`)
	key := requireLine(t, ready, `^POSDRIVE KEY state=unsealed type=\S+ fingerprint=([0-9a-f]{16}) credentials=ok request_id=\S+$`)[1]

	sd := salesDir(t)
	sales := drive(0, "sales", "-sales", sd, "-n", "3", "-prefix", "t-", "-baseline", "2")
	requireLine(t, sales, `^POSDRIVE EXEC posctl-version n=2 p50=\d+\.\dms$`)
	uuids, qrs := map[int]string{}, map[int]string{}
	for i := 1; i <= 3; i++ {
		requireLine(t, sales, fmt.Sprintf(`^POSDRIVE SALE %d BEGIN key=t-%04d file=\S+\.json$`, i, i))
		m := requireLine(t, sales, fmt.Sprintf(`^POSDRIVE SALE %d OK key=t-%04d icv=%d uuid=(\S+) ms=\d+\.\d printed=true replayed=false report=\S+ qr=(\S+)$`, i, i, i))
		uuids[i], qrs[i] = m[1], m[2]
	}
	requireLine(t, sales, `^POSDRIVE LATENCY n=3 p50=\d+\.\dms p90=\S+ p99=\S+ max=\S+ mean=\S+$`)
	if got := len(api.Env.Printer.WaitPages(t, 3, 10*time.Second)); got != 3 {
		t.Fatalf("%d receipts after 3 sales", got)
	}

	// Sale 4 is issued while the printer is offline (its receipt never printed), as
	// when the power goes between the commit and the print.
	files, err := loadSales(sd)
	if err != nil {
		t.Fatal(err)
	}
	_, body4, err := saleFor(files, 4, saleKey("t-", 4))
	if err != nil {
		t.Fatal(err)
	}
	api.Env.Printer.Sim.Update(func(s *printer.Status) { s.Online = false })
	c := api.Client()
	if _, err := c.Login(ctx, "c1", "8642"); err != nil {
		t.Fatal(err)
	}
	doc4, err := c.Sale(ctx, body4)
	if err != nil || doc4.Printed {
		t.Fatalf("sale 4 with the printer offline: %+v, %v", doc4, err)
	}
	api.Env.Printer.Sim.Update(func(s *printer.Status) { s.Online = true })

	retry := drive(0, "retry", "-sales", sd, "-prefix", "t-", "3", "1", "4")
	for _, i := range []int{3, 1} {
		requireLine(t, retry, fmt.Sprintf(`^POSDRIVE RETRY n=%d key=t-%04d icv=%d uuid=%s replayed=true printed=true qr=%s$`, i, i, i,
			regexp.QuoteMeta(uuids[i]), regexp.QuoteMeta(qrs[i])))
		if regexp.MustCompile(fmt.Sprintf(`(?m)^POSDRIVE REPRINT n=%d `, i)).MatchString(retry) {
			t.Errorf("sale %d was printed already and reprinted on retry", i)
		}
	}
	requireLine(t, retry, fmt.Sprintf(`^POSDRIVE RETRY n=4 key=t-0004 icv=4 uuid=%s replayed=true printed=false qr=%s$`, doc4.UUID, regexp.QuoteMeta(doc4.QR)))
	requireLine(t, retry, fmt.Sprintf(`^POSDRIVE REPRINT n=4 icv=4 uuid=%s copy=false$`, doc4.UUID))
	if pages := api.Env.Printer.WaitPages(t, 4, 10*time.Second); len(pages) != 4 || pages[3].Incomplete {
		t.Fatalf("receipts after the retry: %d, last %+v", len(pages), pages[len(pages)-1])
	}
	uuids[4] = doc4.UUID
	drive(2, "retry", "-sales", sd, "-prefix", "t-", "three")

	report := drive(0, "report", "-pin", "8642")
	requireLine(t, report, `^POSDRIVE QUEUE head=4 unreported=0 reported=4 rejected=0$`)
	for i := 1; i <= 4; i++ {
		requireLine(t, report, fmt.Sprintf(`^POSDRIVE DOC icv=%d uuid=%s key=t-%04d report=reported$`, i, regexp.QuoteMeta(uuids[i]), i))
	}
	acc, err := api.Env.Sim.Server.Acceptances(ctx, "reporting")
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range uuids {
		if acc[u] != 1 {
			t.Errorf("sale %d (%s) accepted %d times by the simulator", i, u, acc[u])
		}
	}

	// A sale the daemon refuses fails the run with the rule in the message; the chain
	// does not move.
	bad := t.TempDir()
	b, err := os.ReadFile(filepath.Join(sd, "invalid", "bad-standard-rate.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "bad.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := drive(1, "sales", "-sales", bad, "-n", "1", "-prefix", "x-", "-baseline", "0")
	if !strings.Contains(out, "BR-KSA-84") || strings.Contains(out, "POSDRIVE SALE 1 OK") {
		t.Errorf("refused sale:\n%s", out)
	}
	drive(1, "sales", "-sales", filepath.Join(bad, "missing"), "-n", "1", "-prefix", "x-")
	drive(2, "sales", "-sales", sd, "-n", "1") // no prefix
	requireLine(t, drive(0, "ready", "-pin", "8642"), `^POSDRIVE KEY state=unsealed type=\S+ fingerprint=`+key+` `)
	drive(1, "ready", "-pin", "9999") // wrong PIN
	if code := run(ctx, []string{"nonsense"}, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

// requireLine returns the submatches of the first line matching re.
func requireLine(t *testing.T, out, re string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?m)` + re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no line matching %s in:\n%s", re, out)
	}
	return m
}
