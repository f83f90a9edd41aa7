package offline_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/offline"
	"github.com/posagent/posagent/offline/fatoorasim"
	"github.com/posagent/posagent/offline/zatca"
)

// runChildSim serves the simulator state in $SIM_DIR on the listener
// inherited as file descriptor 3, with $SIM_LATENCY added to every report,
// until its standard input closes.
func runChildSim() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child sim:", err); return 2 }
	o := fatoorasim.DefaultOptions()
	o.Dir = os.Getenv("SIM_DIR")
	srv, err := fatoorasim.New(o)
	if err != nil {
		return fail(err)
	}
	defer srv.Close()
	if lat, err := time.ParseDuration(os.Getenv("SIM_LATENCY")); err == nil && lat > 0 {
		if _, err := srv.AddFault(fatoorasim.Fault{Endpoint: fatoorasim.EndpointReporting, Action: fatoorasim.FaultLatency,
			Latency: fatoorasim.Duration(lat)}); err != nil {
			return fail(err)
		}
	}
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return fail(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); hs.Close() }()
	if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
		return fail(err)
	}
	return 0
}

// backlog is a journal of signed, unreported documents and the simulator
// state they were onboarded in, built once per process and copied for each
// run.
type backlog struct {
	dir    string
	simDir string
	dbPath string
	creds  zatca.Credentials
	n      int
	err    error
}

var (
	backlogOnce sync.Once
	theBacklog  backlog
)

func cleanupBacklog() {
	if theBacklog.dir != "" {
		os.RemoveAll(theBacklog.dir)
	}
}

func buildBacklog(b *testing.B, n int) *backlog {
	backlogOnce.Do(func() {
		dir, err := os.MkdirTemp("", "offline-backlog-")
		if err != nil {
			theBacklog.err = err
			return
		}
		theBacklog = backlog{dir: dir, simDir: filepath.Join(dir, "sim"), dbPath: filepath.Join(dir, "journal.db"), n: n}
		// A throwaway testing.B-free harness: build under a sub-benchmark's
		// lifetime would remove the files, so this one keeps its own.
		began := time.Now()
		h := newHarness(&keepTB{TB: b, dir: dir}, harnessOptions{simDir: theBacklog.simDir, dbPath: theBacklog.dbPath})
		for i := range n {
			h.issue(i, time.Now(), nil)
		}
		theBacklog.creds = h.creds
		h.db.Close(context.Background())
		h.hs.Close()
		h.sim.Close()
		b.Logf("built a backlog of %d signed documents in %v", n, time.Since(began).Round(time.Millisecond))
	})
	if theBacklog.err != nil {
		b.Fatal(theBacklog.err)
	}
	return &theBacklog
}

// keepTB is a testing.TB whose TempDir lives under dir (which outlives the
// benchmark function) and whose Cleanup is ignored.
type keepTB struct {
	testing.TB
	dir string
	n   int
}

func (k *keepTB) TempDir() string {
	k.n++
	d := filepath.Join(k.dir, "tmp"+strconv.Itoa(k.n))
	if err := os.MkdirAll(d, 0o700); err != nil {
		k.Fatal(err)
	}
	return d
}

func (k *keepTB) Cleanup(func()) {}

// copyState copies a state directory's files (or the journal's files) into
// a fresh place.
func copyFiles(b *testing.B, srcGlob, dstDir string) {
	b.Helper()
	files, err := filepath.Glob(srcGlob)
	if err != nil || len(files) == 0 {
		b.Fatalf("copy %s: %v (%d files)", srcGlob, err, len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dstDir, filepath.Base(f)), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

// startChildSim serves a copy of the backlog's simulator state in a child
// process on a loopback listener, with the given latency on every report.
func startChildSim(b *testing.B, simDir string, latency time.Duration) (url string, stop func() (cpu time.Duration)) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		b.Fatal(err)
	}
	ln.Close()
	cmd := childCommand(childSim, "SIM_DIR="+simDir, "SIM_LATENCY="+latency.String())
	cmd.ExtraFiles = []*os.File{lf}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lf.Close()
	url = "http://" + ln.Addr().String()
	// Wait until it answers.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/admin/health")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("child simulator does not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return url, func() time.Duration {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
}

// cpuTime is this process's CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS resets (when it can) and reads this process's peak resident set.
func resetPeakRSS() bool { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil }

func peakRSS() (int64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// BenchmarkBacklog drains a 10,000-document backlog (signed, journaled)
// into fatoora-sim running in a child process with 50 ms of latency on
// every report, and reports documents per second, the memory of this
// process (worker, journal and client: peak Go heap, allocation per
// document, peak RSS) and the CPU time per document on each side.
// -benchtime=1x is enough.
func BenchmarkBacklog(b *testing.B) {
	n := 10000
	if testing.Short() {
		n = 500
	}
	bl := buildBacklog(b, n)
	cfg := offline.DefaultConfig()
	cfg.Concurrency = 16
	cfg.RateLimit = 0
	b.ResetTimer()
	b.StopTimer()
	var docsPerSec, peakHeap, allocPerDoc, rss, workerCPU, simCPU float64
	for range b.N {
		run := b.TempDir()
		simDir := filepath.Join(run, "sim")
		if err := os.MkdirAll(simDir, 0o700); err != nil {
			b.Fatal(err)
		}
		copyFiles(b, filepath.Join(bl.simDir, "*"), simDir)
		copyFiles(b, bl.dbPath+"*", run)
		url, stopSim := startChildSim(b, simDir, 50*time.Millisecond)
		db := openJournal(b, filepath.Join(run, filepath.Base(bl.dbPath)))
		client := newClient(b, url, 30*time.Second)
		up, err := offline.NewZATCAUploader(client, offline.StaticCredentials(bl.creds))
		if err != nil {
			b.Fatal(err)
		}
		w, err := offline.New(offline.Options{Config: cfg, Store: db, Uploader: up})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		rssReset := resetPeakRSS()
		var peak atomic.Uint64
		sampling := make(chan struct{})
		go func() {
			var ms runtime.MemStats
			for {
				select {
				case <-sampling:
					return
				case <-time.After(20 * time.Millisecond):
				}
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		began, cpuBefore := time.Now(), cpuTime(b)
		b.StartTimer()
		go func() { done <- w.Run(ctx) }()
		for {
			// The worker's own counters (memory) say when to look; the
			// journal then confirms.
			c := w.Snapshot().Counters
			if c.Reported+c.ReportedWithWarnings+c.AlreadyReported+c.Rejected >= bl.n {
				left, err := db.Pending(ctx, time.Now().AddDate(100, 0, 0), 1)
				if err != nil {
					b.Fatal(err)
				}
				if len(left) == 0 {
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.StopTimer()
		elapsed, cpu := time.Since(began), cpuTime(b)-cpuBefore
		cancel()
		<-done
		close(sampling)
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		st, err := w.Status(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if st.Queue.Reported+st.Queue.ReportedWithWarnings+st.Queue.AlreadyReported != bl.n {
			b.Fatalf("not every document was reported: %+v", st.Queue)
		}
		docsPerSec += float64(bl.n) / elapsed.Seconds()
		peakHeap += float64(peak.Load()-min(peak.Load(), before.HeapInuse)) / (1 << 20)
		allocPerDoc += float64(after.TotalAlloc-before.TotalAlloc) / float64(bl.n)
		if v, ok := peakRSS(); ok && rssReset {
			rss += float64(v) / (1 << 20)
		}
		workerCPU += float64(cpu.Microseconds()) / float64(bl.n)
		simCPU += float64(stopSim().Microseconds()) / float64(bl.n)
		db.Close(context.Background())
	}
	nf := float64(b.N)
	b.ReportMetric(docsPerSec/nf, "docs/s")
	b.ReportMetric(peakHeap/nf, "peak-heap-MB")
	b.ReportMetric(allocPerDoc/nf, "alloc-B/doc")
	b.ReportMetric(workerCPU/nf, "worker-cpu-µs/doc")
	b.ReportMetric(simCPU/nf, "sim-cpu-µs/doc")
	if rss > 0 {
		b.ReportMetric(rss/nf, "peak-RSS-MB")
	}
	b.ReportMetric(0, "ns/op")
}
