//go:build qemu

package qemu_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/board/qemu"
	"github.com/posagent/posagent/board/qemu/plan"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/printer/escpossim"
)

// Guest paths of the daemon test.
const (
	guestState   = "/var/lib/posagent"
	guestSocket  = "/run/posagent/posagent.sock"
	guestConfig  = "/etc/posagent/posagentd.json"
	guestSecret  = "/etc/posagent/activation-secret"
	guestCA      = "/etc/posagent/fatoora-ca.pem"
	guestSales   = "/src/testdata/sales"
	guestSession = "/run/posdrive"
	sellerVAT    = "399999999900003"

	// Sales of the three boots: boot 1 sells firstSales, boot 2 is cut while sale cutSale
	// of its stream is in flight, boot 3 retries it and sells afterSales more.
	firstSales = 50
	cutSale    = 20
	afterSales = 5
)

// TestDaemonInGuest runs the product on the emulated ARM terminal: static arm64
// posagentd, posctl and the till driver posdrive (board/qemu/posdrive) in the
// initramfs; the state on the ext4 disk; the stamping key in the vTPM (/dev/tpmrm0,
// swtpm on the host); the receipt printer on /dev/ttyS0, wired to escpossim on the
// host, which renders PNGs; fatoora-sim on the host's 127.0.0.1 over TLS, reached by
// the guest as https://10.0.2.2:PORT through user-mode networking.
//
//  1. "sell": the first administrator logs in (PIN change), onboards with a portal OTP
//     the host generated, adds a cashier; 50 sales through posctl; every document is
//     reported and the simulator accepted each exactly once; 50 receipts rendered, and
//     their QR codes (zbarimg) are the documents' QR payloads.
//  2. "powercut": a sale stream, and QEMU and swtpm are SIGKILLed the moment the daemon
//     logs that sale 20's document is journaled (committed, not yet answered).
//  3. "recover": the daemon starts on the same disk and TPM state; the stamping key
//     unseals with the same public key; the till's retry of sale 20 (same idempotency
//     key) returns the stored document, not a second one, and the till reprints its
//     receipt, which never printed; the chain continues; every journaled document is
//     eventually accepted exactly once; `posctl verify` passes; e2fsck finds the disk
//     clean.
//
// Measured in the guest: sale latency (posctl start to exit) p50/p99 over the 50 sales,
// the daemon's VmRSS after them, and the time from kernel start to the socket answering
// and to status ready.
func TestDaemonInGuest(t *testing.T) {
	runStart := time.Now()
	ctx := context.Background()
	assets, err := qemu.EnsureAssets(ctx, qemu.DefaultCacheDir(), func(l string) { t.Log(l) })
	if err != nil {
		t.Fatal(err)
	}
	root, err := qemu.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	buildStart := time.Now()
	for _, b := range []qemu.Build{
		{Package: "./board/qemu/testinit", Out: filepath.Join(bin, "testinit")},
		{Package: "./cmd/posagentd", Out: filepath.Join(bin, "posagentd"), CGO: true},
		{Package: "./cmd/posctl", Out: filepath.Join(bin, "posctl")},
		{Package: "./board/qemu/posdrive", Out: filepath.Join(bin, "posdrive")},
	} {
		if err := qemu.GoBuild(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("guest binaries built in %v", time.Since(buildStart).Round(time.Millisecond))

	sim, port := startTLSSim(t)
	otps, err := sim.GenerateOTPs(ctx, sellerVAT, 1)
	if err != nil {
		t.Fatal(err)
	}
	const adminPIN, cashierPIN = "271828", "8642"

	// The guest's configuration, as a terminal is configured.
	etc := filepath.Join(bin, "etc")
	if err := os.Mkdir(etc, 0o700); err != nil {
		t.Fatal(err)
	}
	seller, err := os.ReadFile(filepath.Join(root, "testdata", "seller.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"state_dir": guestState,
		"socket":    map[string]any{"path": guestSocket, "mode": "0660", "allowed_uids": []int{0}},
		"seller":    json.RawMessage(seller),
		"egs": map[string]any{"common_name": "TST-886431145-399999999900003", "organization_unit": "Riyadh Branch",
			"organization": "Maximum Speed Tech Supply LTD", "location": "RRRD2929", "industry": "Supply activities",
			"invoice_type": "0100", "environment": "simulation", "solution": "posagent", "version": "qemu"},
		"board":    map[string]any{"root": "/"},
		"tpm":      map[string]any{"transport": "dev:/dev/tpmrm0", "key_type": "secp256k1-sealed", "activation_secret_file": guestSecret},
		"journal":  map[string]any{"path": "journal.db"},
		"printer":  map[string]any{"device": "/dev/ttyS0", "baud": 115200, "profile": "80mm"},
		"zatca":    map[string]any{"environment": "custom", "base_url": fmt.Sprintf("https://10.0.2.2:%d", port), "timeout": "60s", "ca_file": guestCA},
		"uploader": map[string]any{"poll_interval": "2s", "retry_base": "1s", "retry_max": "10s", "probe_interval": "5s"},
		"agent":    map[string]any{"export_root": guestState + "/exports"},
		"log":      map[string]any{"level": "info", "format": "text"},
		// testinit stops background steps with SIGTERM and kills them 5 s later.
		"shutdown_timeout": "3s",
	}
	writeJSON(t, filepath.Join(etc, "posagentd.json"), cfg)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	if err := os.WriteFile(filepath.Join(etc, "activation-secret"), []byte(fmt.Sprintf("%x\n", secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "fatoora-ca.pem"), sim.caPEM, 0o644); err != nil {
		t.Fatal(err)
	}

	daemon := func(extra ...string) plan.Step {
		return plan.Step{Name: "posagentd", Args: append([]string{"/bin/posagentd", "-config", guestConfig}, extra...),
			Background: true, WaitFor: guestSocket, Timeout: "240s"}
	}
	drive := func(name string, args ...string) plan.Step {
		return plan.Step{Name: name, Args: append([]string{"/bin/posdrive", args[0], "-timeout", "20m"}, args[1:]...), Timeout: "21m"}
	}
	posctl := func(name, cashier string, args ...string) plan.Step {
		return plan.Step{Name: name, Args: append([]string{"/bin/posctl"}, args...), Timeout: "120s",
			Env: []string{"POSCTL_SESSION_FILE=" + guestSession + "/" + cashier + ".session"}}
	}
	login := posctl("login", "c1", "login", "--cashier", "c1", "--pin", "${CASHIER_PIN}")
	g := qemu.Guest{
		Init: filepath.Join(bin, "testinit"),
		Files: map[string]string{
			"/bin/posagentd": filepath.Join(bin, "posagentd"),
			"/bin/posctl":    filepath.Join(bin, "posctl"),
			"/bin/posdrive":  filepath.Join(bin, "posdrive"),
			guestConfig:      filepath.Join(etc, "posagentd.json"),
			guestSecret:      filepath.Join(etc, "activation-secret"),
			guestCA:          filepath.Join(etc, "fatoora-ca.pem"),
		},
		Trees: map[string]string{guestSales: filepath.Join(root, "testdata", "sales")},
		Plans: plan.File{
			Network: true,
			Disk:    &plan.Disk{Device: "/dev/vda", Mount: guestState, FSType: "ext4"},
			WaitFor: []string{"/dev/tpmrm0"},
			Plans: map[string][]plan.Step{
				"sell": {
					daemon(),
					drive("up", "up"),
					drive("mem0", "mem", "-label", "after-start"),
					drive("setup", "setup", "-otp", "${OTP}", "-admin-pin", "${ADMIN_PIN}", "-cashier-pin", "${CASHIER_PIN}"),
					drive("ready", "ready", "-pin", "${CASHIER_PIN}"),
					drive("mem", "mem", "-label", "after-onboarding"),
					drive("sales", "sales", "-n", strconv.Itoa(firstSales), "-prefix", "b1-", "-rss", "posagentd"),
					drive("report", "report", "-pin", "${CASHIER_PIN}"),
				},
				"powercut": {
					// Debug level: the journal logs every commit, which is where the cut goes.
					daemon("-log-level", "debug"),
					drive("up", "up"),
					drive("ready", "ready", "-pin", "${CASHIER_PIN}"),
					login,
					drive("sales", "sales", "-n", "40", "-prefix", "b2-", "-baseline", "0"),
				},
				"recover": {
					daemon(),
					drive("up", "up"),
					drive("ready", "ready", "-pin", "${CASHIER_PIN}"),
					login,
					drive("retry", "retry", "-prefix", "b2-", "${CUT_N}", "${LAST_OK}"),
					drive("sales", "sales", "-n", strconv.Itoa(afterSales), "-prefix", "b3-", "-baseline", "0"),
					drive("report", "report", "-pin", "${CASHIER_PIN}"),
					posctl("admin-login", "admin", "login", "--cashier", "admin", "--pin", "${ADMIN_PIN}"),
					posctl("verify", "admin", "verify"),
					posctl("status", "admin", "status"),
				},
			},
		},
	}
	initrd := filepath.Join(bin, "initrd.cpio.gz")
	if err := g.Build(assets, initrd); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(bin, "state.img")
	if err := qemu.MakeDisk(ctx, disk, 256, "posstate", ""); err != nil {
		t.Fatal(err)
	}
	tpmState := filepath.Join(bin, "tpm")

	boot := func(planName string, env []string, cut func(string) bool) (*guestRun, *printerSim) {
		t.Helper()
		work, err := os.MkdirTemp("", "pq")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(work) })
		prn := newPrinterSim(t, filepath.Join(bin, "receipts-"+planName))
		m := qemu.Machine{
			Assets: assets, Initrd: initrd, Plan: planName, Env: env,
			Disk: disk, TPMState: tpmState, Network: true,
			Printer: &qemu.Printer{Socket: filepath.Join(work, "prn.sock"), Serve: prn.serve},
			Timeout: 25 * time.Minute, CutWhen: cut, WorkDir: work,
			Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		}
		res, err := m.Boot(ctx)
		if err != nil {
			t.Fatalf("boot %s: %v", planName, err)
		}
		prn.wait(t)
		if dir := os.Getenv("POSAGENT_QEMU_CONSOLE_DIR"); dir != "" {
			if err := os.WriteFile(filepath.Join(dir, "daemon-"+planName+".log"), []byte(res.Console), 0o644); err != nil {
				t.Error(err)
			}
		}
		t.Logf("boot %s: wall %v (QEMU CPU %v), passed %v, failed %v, %d receipts", planName, res.Wall.Round(time.Millisecond),
			res.CPU.Round(time.Millisecond), res.Passed, res.Failed, len(prn.pages()))
		return &guestRun{t: t, name: planName, res: res, console: strings.ReplaceAll(res.Console, "\r", "")}, prn
	}

	// 1. sell
	sell, prn1 := boot("sell", []string{"OTP=" + otps[0].Code, "ADMIN_PIN=" + adminPIN, "CASHIER_PIN=" + cashierPIN}, nil)
	sell.requireDone("posagentd", "up", "mem0", "setup", "ready", "mem", "sales", "report")
	key1 := sell.key()
	sales1 := sell.sales()
	if len(sales1) != firstSales {
		sell.fatalf("%d sales answered, want %d", len(sales1), firstSales)
	}
	for i := 1; i <= firstSales; i++ {
		s, ok := sales1[i]
		if !ok || s.icv != uint64(i) || !s.printed {
			sell.fatalf("sale %d: %+v (want ICV %d, printed)", i, s, i)
		}
	}
	lat := sell.line(`^POSDRIVE LATENCY n=(\d+) p50=([\d.]+)ms p90=([\d.]+)ms p99=([\d.]+)ms max=([\d.]+)ms mean=([\d.]+)ms$`)
	execBase := sell.line(`^POSDRIVE EXEC posctl-version n=\d+ p50=([\d.]+)ms$`)[1]
	rssStart := sell.line(`^POSDRIVE RSS after-start pid=\d+ vmrss_kb=(\d+) vmhwm_kb=(\d+)$`)
	rss0 := sell.line(`^POSDRIVE RSS after-onboarding pid=\d+ vmrss_kb=(\d+) vmhwm_kb=(\d+)$`)
	rss := sell.line(`^POSDRIVE RSS after-sales pid=\d+ vmrss_kb=(\d+) vmhwm_kb=(\d+)$`)
	up1 := sell.line(`^POSDRIVE UP uptime=([\d.]+)s$`)[1]
	onboardMS := sell.line(`^POSDRIVE ONBOARDED ms=(\d+)$`)[1]
	sell.requireQueue(firstSales)
	docs1 := sell.docs()
	for i, s := range sales1 {
		if d := docs1[uint64(i)]; d.uuid != s.uuid || d.key != s.key {
			sell.fatalf("ICV %d is %+v in the journal, the till got %+v", i, d, s)
		}
	}
	requireAcceptedOnce(t, sim, docs1)
	var want1 []string
	for i := 1; i <= firstSales; i++ {
		want1 = append(want1, sales1[i].qr)
	}
	checkReceipts(t, sell, prn1, want1)

	// 2. power cut while sale cutSale of the stream is in flight: right after the
	// daemon's commit of its document, before the till has the answer.
	cutICV := firstSales + cutSale
	journaled := regexp.MustCompile(`msg="document journaled" .*\bicv=(\d+) `)
	pc, _ := boot("powercut", []string{"CASHIER_PIN=" + cashierPIN}, func(line string) bool {
		m := journaled.FindStringSubmatch(line)
		return m != nil && m[1] == strconv.Itoa(cutICV)
	})
	if !pc.res.Cut || pc.res.Done {
		pc.fatalf("no power cut (cut=%t done=%t)", pc.res.Cut, pc.res.Done)
	}
	if k := pc.key(); k != key1 {
		pc.fatalf("stamping key %s after a clean restart, %s before", k, key1)
	}
	pc.line(fmt.Sprintf(`^POSDRIVE SALE %d BEGIN key=b2-%04d `, cutSale, cutSale))
	sales2 := pc.sales()
	lastOK := 0
	for i, s := range sales2 {
		if s.icv != uint64(firstSales+i) {
			pc.fatalf("sale %d got ICV %d, want %d", i, s.icv, firstSales+i)
		}
		lastOK = max(lastOK, i)
	}
	cutAnswered := lastOK == cutSale
	if lastOK != cutSale-1 && !cutAnswered {
		pc.fatalf("the till's last answered sale before the cut is %d, want %d or %d", lastOK, cutSale-1, cutSale)
	}
	up2, ready2 := pc.line(`^POSDRIVE UP uptime=([\d.]+)s$`)[1], pc.line(`^POSDRIVE READY uptime=([\d.]+)s$`)[1]

	// 3. recovery on the same disk and TPM state
	rec, prn3 := boot("recover", []string{"CASHIER_PIN=" + cashierPIN, "ADMIN_PIN=" + adminPIN,
		"CUT_N=" + strconv.Itoa(cutSale), "LAST_OK=" + strconv.Itoa(lastOK)}, nil)
	rec.requireDone("posagentd", "up", "ready", "login", "retry", "sales", "report", "admin-login", "verify", "status")
	if k := rec.key(); k != key1 {
		rec.fatalf("stamping key %s after the power cut, %s before: the sealed key did not come back", k, key1)
	}
	up3, ready3 := rec.line(`^POSDRIVE UP uptime=([\d.]+)s$`)[1], rec.line(`^POSDRIVE READY uptime=([\d.]+)s$`)[1]
	// The cut sale was journaled (its commit was logged) before the power went: the
	// retry must return that document, not issue another.
	r := rec.line(fmt.Sprintf(`^POSDRIVE RETRY n=%d key=b2-%04d icv=(\d+) uuid=(\S+) replayed=(\w+) printed=(\w+) qr=(\S+)$`, cutSale, cutSale))
	if r[1] != strconv.Itoa(cutICV) || r[3] != "true" {
		rec.fatalf("retry of the cut sale: ICV %s replayed=%s, want the journaled ICV %d replayed", r[1], r[3], cutICV)
	}
	if cutAnswered && r[2] != sales2[cutSale].uuid {
		rec.fatalf("retry of the cut sale: %s, the till had %s", r[2], sales2[cutSale].uuid)
	}
	// Its receipt never printed: the till prints it after the retry, then sells on.
	var want3 []string
	if r[4] == "false" {
		rec.line(fmt.Sprintf(`^POSDRIVE REPRINT n=%d icv=%d uuid=%s copy=false$`, cutSale, cutICV, regexp.QuoteMeta(r[2])))
		want3 = append(want3, r[5])
	}
	if !cutAnswered {
		r := rec.line(fmt.Sprintf(`^POSDRIVE RETRY n=%d key=b2-%04d icv=(\d+) uuid=(\S+) replayed=true printed=true `, lastOK, lastOK))
		if r[1] != strconv.FormatUint(sales2[lastOK].icv, 10) || r[2] != sales2[lastOK].uuid {
			rec.fatalf("retry of answered sale %d: ICV %s %s, the till had %+v", lastOK, r[1], r[2], sales2[lastOK])
		}
	}
	sales3 := rec.sales()
	for i := 1; i <= afterSales; i++ {
		if s := sales3[i]; s.icv != uint64(cutICV+i) || !s.printed {
			rec.fatalf("sale %d after recovery: %+v, want ICV %d printed", i, s, cutICV+i)
		}
		want3 = append(want3, sales3[i].qr)
	}
	checkReceipts(t, rec, prn3, want3)
	head := cutICV + afterSales
	rec.requireQueue(head)
	docs3 := rec.docs()
	keys := map[string]uint64{}
	for icv, d := range docs3 {
		if prev, dup := keys[d.key]; dup {
			rec.fatalf("idempotency key %s is on ICV %d and ICV %d", d.key, prev, icv)
		}
		keys[d.key] = icv
	}
	for _, run := range []struct {
		sales map[int]sale
		name  string
	}{{sales1, "boot 1"}, {sales2, "boot 2"}, {sales3, "boot 3"}} {
		for i, s := range run.sales {
			if d := docs3[s.icv]; d.uuid != s.uuid || d.key != s.key {
				rec.fatalf("%s sale %d: the till got %+v, the journal has %+v", run.name, i, s, d)
			}
		}
	}
	requireAcceptedOnce(t, sim, docs3)
	if v := rec.line(`^(\d+) documents, \d+ audit entries, head ICV (\d+) `); v[1] != strconv.Itoa(head) || v[2] != strconv.Itoa(head) {
		rec.fatalf("posctl verify: %s", v[0])
	}
	rec.line(`^journal OK$`)
	if err := qemu.CheckDisk(ctx, disk); err != nil {
		t.Error(err)
	}

	wall := time.Since(runStart)
	t.Logf("sale latency over %s posctl sales (posctl start to exit, in the guest): p50 %s ms, p90 %s ms, p99 %s ms, max %s ms, mean %s ms; posctl start alone p50 %s ms",
		lat[1], lat[2], lat[3], lat[4], lat[5], lat[6], execBase)
	t.Logf("posagentd VmRSS after start: %s kB; after onboarding: %s kB (peak %s kB); after %d sales: %s kB (peak %s kB)",
		rssStart[1], rss0[1], rss0[2], firstSales, rss[1], rss[2])
	t.Logf("kernel start to socket answering: %s s (first start), %s s (restart), %s s (after the power cut); onboarding %s ms",
		up1, up2, up3, onboardMS)
	t.Logf("kernel start to status ready (a cashier logged in): %s s (restart), %s s (after the power cut)", ready2, ready3)
	t.Logf("boots: sell %v, powercut %v, recover %v; whole test %v", sell.res.Wall.Round(time.Second), pc.res.Wall.Round(time.Second),
		rec.res.Wall.Round(time.Second), wall.Round(time.Second))
	t.Logf("SUMMARY qemu-daemon: sales=%s p50=%sms p99=%sms rss=%skB boot_to_socket=%ss boot_to_ready=%ss/%ss cut_at_icv=%d cut_answered=%t docs=%d wall=%s",
		lat[1], lat[2], lat[4], rss[1], up1, ready2, ready3, cutICV, cutAnswered, head, wall.Round(time.Second))
}

// guestRun is one boot's result, with console parsing that fails the test with the
// console's tail.
type guestRun struct {
	t       *testing.T
	name    string
	res     *qemu.Result
	console string // without carriage returns
}

func (g *guestRun) fatalf(format string, args ...any) {
	g.t.Helper()
	lines := strings.Split(strings.TrimRight(g.console, "\n"), "\n")
	if len(lines) > 120 {
		lines = lines[len(lines)-120:]
	}
	g.t.Fatalf("boot %s: %s\n--- console tail (POSAGENT_QEMU_CONSOLE_DIR=DIR keeps it all) ---\n%s", g.name, fmt.Sprintf(format, args...),
		strings.Join(lines, "\n"))
}

// requireDone checks the boot ended with TESTINIT DONE fail=0 after exactly these steps.
func (g *guestRun) requireDone(steps ...string) {
	g.t.Helper()
	if err := g.res.Err(); err != nil {
		g.fatalf("%v", err)
	}
	if strings.Join(g.res.Passed, ",") != strings.Join(steps, ",") {
		g.fatalf("passed steps %v, want %v", g.res.Passed, steps)
	}
}

// line returns the submatches of the first console line matching re.
func (g *guestRun) line(re string) []string {
	g.t.Helper()
	m := regexp.MustCompile(`(?m)` + re).FindStringSubmatch(g.console)
	if m == nil {
		g.fatalf("no console line matches %s", re)
	}
	return m
}

func (g *guestRun) key() string {
	g.t.Helper()
	return g.line(`^POSDRIVE KEY state=unsealed type=\S+ fingerprint=([0-9a-f]{16}) credentials=ok `)[1]
}

// sale is what the till got for one sale.
type sale struct {
	key, uuid, qr string
	icv           uint64
	printed       bool
}

var saleRE = regexp.MustCompile(`(?m)^POSDRIVE SALE (\d+) OK key=(\S+) icv=(\d+) uuid=(\S+) ms=[\d.]+ printed=(\w+) replayed=false report=\S+ qr=(\S+)$`)

// sales returns the answered sales by number; a number twice fails.
func (g *guestRun) sales() map[int]sale {
	g.t.Helper()
	out := map[int]sale{}
	for _, m := range saleRE.FindAllStringSubmatch(g.console, -1) {
		n, _ := strconv.Atoi(m[1])
		icv, _ := strconv.ParseUint(m[3], 10, 64)
		if _, dup := out[n]; dup {
			g.fatalf("sale %d answered twice", n)
		}
		out[n] = sale{key: m[2], icv: icv, uuid: m[4], printed: m[5] == "true", qr: m[6]}
	}
	return out
}

func (g *guestRun) requireQueue(head int) {
	g.t.Helper()
	want := fmt.Sprintf("POSDRIVE QUEUE head=%d unreported=0 reported=%d rejected=0", head, head)
	if q := g.line(`^POSDRIVE QUEUE .*$`)[0]; q != want {
		g.fatalf("queue %q, want %q", q, want)
	}
}

// journaled is one document as the journal lists it.
type journaled struct{ uuid, key, report string }

// docs returns the DOC lines by ICV; they must run from 1 without a gap.
func (g *guestRun) docs() map[uint64]journaled {
	g.t.Helper()
	out := map[uint64]journaled{}
	for i, m := range regexp.MustCompile(`(?m)^POSDRIVE DOC icv=(\d+) uuid=(\S+) key=(\S+) report=(\S+)$`).FindAllStringSubmatch(g.console, -1) {
		icv, _ := strconv.ParseUint(m[1], 10, 64)
		if icv != uint64(i+1) {
			g.fatalf("document %d of the list has ICV %d", i+1, icv)
		}
		if m[4] != "reported" && m[4] != "reported_with_warnings" && m[4] != "already_reported" {
			g.fatalf("ICV %d: report status %s", icv, m[4])
		}
		out[icv] = journaled{uuid: m[2], key: m[3], report: m[4]}
	}
	if len(out) == 0 {
		g.fatalf("no DOC lines")
	}
	return out
}

// requireAcceptedOnce: the simulator accepted every journaled document exactly once,
// and nothing else.
func requireAcceptedOnce(t *testing.T, sim *tlsSim, docs map[uint64]journaled) {
	t.Helper()
	acc, err := sim.Acceptances(context.Background(), "reporting")
	if err != nil {
		t.Fatal(err)
	}
	for icv, d := range docs {
		if acc[d.uuid] != 1 {
			t.Errorf("ICV %d (%s) was accepted %d times by the simulator, want once", icv, d.uuid, acc[d.uuid])
		}
	}
	if len(acc) != len(docs) {
		t.Errorf("the simulator accepted %d documents, the journal has %d", len(acc), len(docs))
	}
	if t.Failed() {
		t.FailNow()
	}
}

// checkReceipts: the boot printed one complete receipt per expected QR payload, in
// order, and each receipt's QR code (read from the PNG by zbarimg) is that payload.
func checkReceipts(t *testing.T, g *guestRun, prn *printerSim, want []string) {
	t.Helper()
	pages := prn.pages()
	if len(pages) != len(want) {
		g.fatalf("%d receipts rendered, want %d", len(pages), len(want))
	}
	pngs, _ := filepath.Glob(filepath.Join(prn.dir, "*.png"))
	if len(pngs) != len(want) {
		g.fatalf("%d PNG files, want %d", len(pngs), len(want))
	}
	args := []string{"--raw", "-q"}
	for _, p := range pages {
		if p.Incomplete || p.Path == "" {
			g.fatalf("receipt %d: incomplete=%t path=%q", p.Seq, p.Incomplete, p.Path)
		}
		args = append(args, p.Path)
	}
	out, err := exec.Command("zbarimg", args...).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	qrs := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(qrs) != len(want) {
		g.fatalf("zbarimg read %d QR codes from %d receipts", len(qrs), len(want))
	}
	for i, qr := range qrs {
		if qr != want[i] {
			g.fatalf("receipt %d's QR code reads\n%s\nits document's QR is\n%s", i+1, qr, want[i])
		}
	}
}

// printerSim is escpossim behind the guest's /dev/ttyS0 for one boot.
type printerSim struct {
	sim  *escpossim.Sim
	dir  string
	done chan struct{}
	mu   sync.Mutex
	got  []escpossim.Page
}

func newPrinterSim(t *testing.T, dir string) *printerSim {
	t.Helper()
	p := &printerSim{dir: dir, done: make(chan struct{})}
	cfg := escpossim.DefaultConfig()
	cfg.OutDir = dir
	cfg.OnPage = func(pg escpossim.Page) {
		p.mu.Lock()
		p.got = append(p.got, pg)
		p.mu.Unlock()
	}
	sim, err := escpossim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.sim = sim
	return p
}

// serve is the Printer.Serve of the machine: it runs until QEMU closes the socket.
func (p *printerSim) serve(conn net.Conn) {
	defer close(p.done)
	defer conn.Close()
	_ = p.sim.Serve(context.Background(), conn)
}

// wait waits until the connection has ended (every page delivered).
func (p *printerSim) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the printer simulator did not see the end of the connection")
	}
}

func (p *printerSim) pages() []escpossim.Page {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := append([]escpossim.Page(nil), p.got...)
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// tlsSim is fatoora-sim served over TLS on 127.0.0.1 with a certificate for the address
// the guest uses (10.0.2.2): the ZATCA client allows plain http to loopback only.
type tlsSim struct {
	*fatoorasim.Server
	caPEM []byte
}

func startTLSSim(t *testing.T) (*tlsSim, int) {
	t.Helper()
	o := fatoorasim.DefaultOptions()
	o.Dir = t.TempDir()
	s, err := fatoorasim.New(o)
	if err != nil {
		t.Fatal(err)
	}
	cert, caPEM := serverCert(t, net.IPv4(10, 0, 2, 2), net.IPv4(127, 0, 0, 1))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 30 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() {
		_ = hs.Close()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return &tlsSim{Server: s, caPEM: caPEM}, ln.Addr().(*net.TCPAddr).Port
}

// serverCert makes a self-signed P-256 server certificate for ips; the PEM is what the
// client pins.
func serverCert(t *testing.T, ips ...net.IP) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "fatoora-sim (qemu test)"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	c, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return c, certPEM
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// testWriter sends the harness's log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
