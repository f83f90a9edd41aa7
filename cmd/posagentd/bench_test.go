package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/client"
)

// benchDaemon is an onboarded daemon in a child process with a logged-in cashier.
type benchDaemon struct {
	in      *infra
	cfgPath string
	child   *child
	cashier *client.Client
}

func startBenchDaemon(b *testing.B, printing bool) *benchDaemon {
	b.Helper()
	in := startInfra(b, printing)
	cfgPath := in.config(b, func(c *Config) {
		c.Log.Level = "warn"
		c.Session.Idle = Duration(time.Hour)
	})
	ch := startChild(b, cfgPath, filepath.Join(in.dir, "daemon.log"))
	waitUp(b, in.socket(), 60*time.Second, ch.exited)
	admin := adminClient(b, in.socket(), filepath.Join(in.dir, "state"), "271828")
	if _, err := admin.Onboard(context.Background(), in.sim.OTP(b)); err != nil {
		b.Fatalf("onboard: %v\n%s", err, ch.logTail())
	}
	return &benchDaemon{in: in, cfgPath: cfgPath, child: ch, cashier: cashierClient(b, in.socket(), admin, "bench", apitype.RoleCashier)}
}

// procStatus reads a field of /proc/PID/status in kB.
func procStatus(pid int, field string) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// BenchmarkSocketSales measures sequential sales through the socket into a daemon in
// its own process (real swtpm-sealed key, SQLite with synchronous=FULL, the uploader
// reporting to the simulator meanwhile), without a printer and with the printer
// simulator on a pty. It reports the p50 and p99 latency of one sale as the POS sees
// it and the daemon's resident memory (peak). The brief's figure is 1,000 sales:
//
//	go test -run '^$' -bench BenchmarkSocketSales -benchtime=1000x ./cmd/posagentd
func BenchmarkSocketSales(b *testing.B) {
	for _, printing := range []bool{false, true} {
		d := startBenchDaemon(b, printing)
		body := string(saleBody(b, "KEY"))
		n := 0
		b.Run(fmt.Sprintf("print=%v", printing), func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				n++
				sale := []byte(strings.Replace(body, `"KEY"`, `"bench-`+strconv.Itoa(n)+`"`, 1))
				t0 := time.Now()
				doc, err := d.cashier.Sale(ctx, sale)
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatalf("sale %d: %v", n, err)
				}
				if printing && !doc.Printed {
					b.Fatalf("sale %d not printed: %s", n, doc.PrintError)
				}
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
			pid := d.child.cmd.Process.Pid
			b.ReportMetric(float64(procStatus(pid, "VmRSS"))/1024, "rss-MiB")
			b.ReportMetric(float64(procStatus(pid, "VmHWM"))/1024, "peak-rss-MiB")
		})
	}
}

// BenchmarkColdStart measures a restart of an onboarded daemon: from exec to the
// socket answering, and to a logged-in status that says ready (TPM connect and unseal,
// journal open, printer, credentials loaded).
func BenchmarkColdStart(b *testing.B) {
	d := startBenchDaemon(b, false)
	d.child.kill()
	ctx := context.Background()
	var sock, ready time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		ch := startChild(b, d.cfgPath, filepath.Join(d.in.dir, "daemon.log"))
		waitUp(b, d.in.socket(), 60*time.Second, ch.exited)
		sock += time.Since(t0)
		c := &client.Client{Socket: d.in.socket()}
		if _, err := c.Login(ctx, "bench", "8642"); err != nil {
			b.Fatal(err)
		}
		st, err := c.Status(ctx)
		if err != nil || !st.Ready {
			b.Fatalf("not ready after a restart: %+v %v", st, err)
		}
		ready += time.Since(t0)
		ch.kill()
	}
	b.ReportMetric(float64(sock)/float64(b.N)/1e6, "socket-ms")
	b.ReportMetric(float64(ready)/float64(b.N)/1e6, "ready-ms")
}
