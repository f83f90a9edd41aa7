package fatoorasim_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/offline/zatca"
)

// BenchmarkReporting measures the reports per second the simulator sustains: real
// HTTP on loopback, real validation (hash, signature, certificate, QR, rules) and a
// durable SQLite commit per report. Documents are signed before the timer starts.
func BenchmarkReporting(b *testing.B) {
	s := startSim(b)
	e := newEGS(b, "0100")
	e.onboard(b, s)
	docs := make([]zatca.Document, b.N)
	for i := range docs {
		docs[i] = e.doc(b, "02-mixed-categories.json", time.Now())
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			d := docs[next.Add(1)-1]
			rep, err := s.client.Report(context.Background(), e.production, d)
			if err != nil || rep.Status != zatca.Reported {
				b.Errorf("report: %v %+v", err, rep)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "reports/s")
}
