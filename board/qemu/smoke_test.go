//go:build qemu

package qemu_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/board/qemu"
	"github.com/posagent/posagent/board/qemu/plan"
)

// TestSmoke boots the arm64 guest three times on one disk and one TPM state:
//
//  1. "smoke": board detection on the real guest, board/linux's and store/sqlite's test
//     binaries, a TPM stamping key made through /dev/tpmrm0, ESC/POS bytes through
//     /dev/ttyS0 to a host recorder, an HTTP GET to a host server at 10.0.2.2;
//  2. "powercut": SQLite WAL commits on the ext4 disk until QEMU and swtpm are killed
//     with SIGKILL right after "COMMITTED 40" reaches the console;
//  3. "verify": every acknowledged commit is there and intact, the TPM key is the one
//     made in boot 1, the board is still detected the same way.
//
// Then e2fsck finds the disk clean. The boot times and the whole run are logged.
func TestSmoke(t *testing.T) {
	ctx := context.Background()
	runStart := time.Now()
	assets, err := qemu.EnsureAssets(ctx, qemu.DefaultCacheDir(), func(l string) { t.Log(l) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s", assets.ABI)

	root, err := qemu.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	builds := []qemu.Build{
		{Package: "./board/qemu/testinit", Out: filepath.Join(bin, "testinit")},
		{Package: "./board/qemu/guestcheck", Out: filepath.Join(bin, "guestcheck"), CGO: true},
		{Package: "./board/linux", Out: filepath.Join(bin, "board-linux.test"), Test: true},
		{Package: "./store/sqlite", Out: filepath.Join(bin, "store-sqlite.test"), Test: true, CGO: true},
	}
	buildStart := time.Now()
	for _, b := range builds {
		if err := qemu.GoBuild(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("guest binaries built in %v", time.Since(buildStart).Round(time.Millisecond))

	// The host service the guest reaches through user-mode networking (10.0.2.2 is the
	// host's loopback as seen from the guest).
	var hits atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintf(w, "posagent-host-ok %s", r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	const state = "/var/lib/posagent"
	check := func(name string, args ...string) plan.Step {
		return plan.Step{Name: name, Args: append([]string{"/bin/guestcheck"}, args...), Timeout: "120s"}
	}
	g := qemu.Guest{
		Init: filepath.Join(bin, "testinit"),
		Files: map[string]string{
			"/bin/guestcheck":         filepath.Join(bin, "guestcheck"),
			"/tests/board-linux.test": filepath.Join(bin, "board-linux.test"),
			"/tests/sqlite.test":      filepath.Join(bin, "store-sqlite.test"),
		},
		Trees: map[string]string{"/src/testdata": filepath.Join(root, "testdata")},
		Plans: plan.File{
			Network: true,
			Disk:    &plan.Disk{Device: "/dev/vda", Mount: state, FSType: "ext4"},
			WaitFor: []string{"/dev/tpmrm0"},
			Plans: map[string][]plan.Step{
				"smoke": {
					check("board", "board"),
					{Name: "board-linux.test", Args: []string{"/tests/board-linux.test", "-test.v", "-test.run", "^TestThisMachine$"}, Timeout: "120s"},
					check("tpm", "tpm", "-state", state+"/tpm"),
					check("serial", "serial"),
					check("http", "http", "-url", "http://10.0.2.2:${HOST_PORT}/probe", "-want", "posagent-host-ok /probe"),
					// The journal's conformance suite with its databases on the guest's ext4
					// disk (its other tests drive the sqlite3 CLI, which the guest lacks).
					{Name: "store-sqlite.test", Args: []string{"/tests/sqlite.test", "-test.v", "-test.run", "^TestConformance$"},
						Dir: "/src/store/sqlite", Env: []string{"TMPDIR=" + state + "/tmp"}, Timeout: "240s"},
				},
				"powercut": {check("sqlite-write", "sqlite-write", "-db", state+"/wal.db")},
				"verify": {
					check("sqlite-verify", "sqlite-verify", "-db", state+"/wal.db", "-min", "${PC_MIN}"),
					check("tpm", "tpm", "-state", state+"/tpm"),
					check("board", "board"),
				},
			},
		},
	}
	initrd := filepath.Join(bin, "initrd.cpio.gz")
	if err := g.Build(assets, initrd); err != nil {
		t.Fatal(err)
	}
	seed := t.TempDir()
	if err := os.Mkdir(filepath.Join(seed, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(bin, "state.img")
	if err := qemu.MakeDisk(ctx, disk, 256, "posstate", seed); err != nil {
		t.Fatal(err)
	}
	tpmState := filepath.Join(bin, "tpm")

	boot := func(planName string, env []string, cut func(string) bool, rec *qemu.Recorder) *qemu.Result {
		t.Helper()
		work, err := os.MkdirTemp("", "pq")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(work) })
		m := qemu.Machine{
			Assets: assets, Initrd: initrd, Plan: planName, Env: env,
			Disk: disk, TPMState: tpmState, Network: true,
			Printer: &qemu.Printer{Socket: filepath.Join(work, "prn.sock"), Serve: rec.Serve},
			Timeout: 6 * time.Minute, CutWhen: cut, WorkDir: work,
		}
		res, err := m.Boot(ctx)
		if err != nil {
			t.Fatalf("boot %s: %v", planName, err)
		}
		t.Logf("boot %s: wall %v (QEMU CPU %v), passed %v, failed %v", planName, res.Wall.Round(time.Millisecond),
			res.CPU.Round(time.Millisecond), res.Passed, res.Failed)
		if t.Failed() || (res.Err() != nil && !res.Cut) {
			t.Logf("console of %s:\n%s", planName, res.Console)
		}
		return res
	}

	// 1. smoke
	rec := qemu.NewRecorder()
	smoke := boot("smoke", []string{"HOST_PORT=" + strconv.Itoa(port)}, nil, rec)
	if err := smoke.Err(); err != nil {
		t.Fatal(err)
	}
	wantSteps := []string{"board", "board-linux.test", "tpm", "serial", "http", "store-sqlite.test"}
	if strings.Join(smoke.Passed, ",") != strings.Join(wantSteps, ",") {
		t.Fatalf("passed steps %v, want %v", smoke.Passed, wantSteps)
	}
	for _, test := range []string{"TestThisMachine", "TestConformance"} {
		if !strings.Contains(smoke.Console, "--- PASS: "+test+" ") {
			t.Errorf("%s did not pass in the guest", test)
		}
	}
	if !regexp.MustCompile(`(?m)^BOARD profile=qemu-virt .* tpm=/dev/tpmrm0 printer=/dev/ttyS0@115200 `).MatchString(smoke.Console) {
		t.Errorf("board line missing or wrong")
	}
	key1 := field(t, smoke.Console, `TPMKEY ([0-9a-f]{66}) transport=dev:/dev/tpmrm0`)
	if !strings.Contains(smoke.Console, "TPM new stamping key made") {
		t.Errorf("boot 1 did not make the stamping key")
	}
	// What the guest wrote to /dev/ttyS0 is what the host received, byte for byte.
	got := rec.Bytes()
	sum := sha256.Sum256(got)
	wantSum := field(t, smoke.Console, `SERIAL bytes=\d+ sha256=([0-9a-f]{64})`)
	if hex.EncodeToString(sum[:]) != wantSum || !strings.Contains(smoke.Console, fmt.Sprintf("SERIAL bytes=%d ", len(got))) {
		t.Errorf("printer received %d bytes sha256 %x; the guest sent sha256 %s", len(got), sum, wantSum)
	}
	if hits.Load() != 1 {
		t.Errorf("host HTTP server got %d requests, want 1", hits.Load())
	}

	// 2. power cut in the middle of durable commits
	committed := regexp.MustCompile(`^COMMITTED (\d+)$`)
	cut := boot("powercut", nil, func(line string) bool {
		m := committed.FindStringSubmatch(line)
		return m != nil && m[1] == "40"
	}, qemu.NewRecorder())
	if !cut.Cut || cut.Done {
		t.Fatalf("power cut did not happen (cut=%t done=%t)", cut.Cut, cut.Done)
	}
	acked := 0
	for _, m := range regexp.MustCompile(`(?m)^COMMITTED (\d+)\r?$`).FindAllStringSubmatch(cut.Console, -1) {
		n, _ := strconv.Atoi(m[1])
		acked = max(acked, n)
	}
	if acked < 40 {
		t.Fatalf("only %d commits acknowledged before the cut", acked)
	}

	// 3. recovery
	verify := boot("verify", []string{"PC_MIN=" + strconv.Itoa(acked)}, nil, qemu.NewRecorder())
	if err := verify.Err(); err != nil {
		t.Fatal(err)
	}
	if rows, _ := strconv.Atoi(field(t, verify.Console, `SQLITE rows=(\d+) `)); rows < acked {
		t.Errorf("%d rows after the cut, %d acknowledged", rows, acked)
	}
	if key3 := field(t, verify.Console, `TPMKEY ([0-9a-f]{66}) `); key3 != key1 {
		t.Errorf("stamping key after the power cut %s, want %s", key3, key1)
	}
	if strings.Contains(verify.Console, "TPM new stamping key made") {
		t.Errorf("boot 3 made a new stamping key")
	}
	if err := qemu.CheckDisk(ctx, disk); err != nil {
		t.Error(err)
	}
	t.Logf("whole run %v (boots: smoke %v, powercut %v, verify %v)", time.Since(runStart).Round(time.Millisecond),
		smoke.Wall.Round(time.Millisecond), cut.Wall.Round(time.Millisecond), verify.Wall.Round(time.Millisecond))
}

// field returns the first submatch of re in the console.
func field(t *testing.T, console, re string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)` + re).FindStringSubmatch(console)
	if m == nil {
		t.Fatalf("console has no line matching %s", re)
	}
	return m[1]
}

// TestBootTimeoutAndCancel: QEMU waits for the printer's host side (server=on,wait=on)
// before it even loads the kernel; nobody connects here, so the wall-clock limit and a
// canceled context must end it.
func TestBootTimeoutAndCancel(t *testing.T) {
	dir, err := os.MkdirTemp("", "pq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	m := qemu.Machine{
		Assets: qemu.Assets{Kernel: filepath.Join(dir, "no-kernel")}, Initrd: filepath.Join(dir, "no-initrd"), Plan: "p",
		Printer: &qemu.Printer{Socket: filepath.Join(dir, "prn.sock")},
		Timeout: 3 * time.Second, WorkDir: dir,
	}
	start := time.Now()
	res, err := m.Boot(context.Background())
	if err != nil {
		t.Fatalf("Boot: %v", err)
	}
	if !res.TimedOut || !errors.Is(res.Err(), qemu.ErrGuestFailed) || !strings.Contains(res.Err().Error(), "timed out") {
		t.Fatalf("result %+v, err %v", res, res.Err())
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("timeout took %v", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	m.Timeout = time.Minute
	if _, err := m.Boot(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Boot with a canceled context: %v", err)
	}
}
