package sqlite_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/store"
	"github.com/posagent/posagent/store/sqlite"
	"github.com/posagent/posagent/store/storetest"
)

// benchDir puts the benchmark journal elsewhere, e.g. -bench-dir=/dev/shm
// (tmpfs: fsync costs nothing) to see the CPU share of a commit.
var benchDir = flag.String("bench-dir", "", "directory for benchmark journals (default: a temporary directory)")

const benchTemplatePath = "../../testdata/zatca/Samples/Simplified/Invoice/Simplified Tax Invoice with Zero Rated Item.xml"

// benchHash stands in for the invoice hash in benchmarks only: Append
// never recomputes a hash, so the benchmarks measure the journal, not
// C14N (agent/ubl has its own benchmarks).
func benchHash(xml []byte) (string, error) {
	s := sha256.Sum256(xml)
	return base64.StdEncoding.EncodeToString(s[:]), nil
}

// procIO is this process's I/O accounting (/proc/self/io): wchar counts
// the bytes passed to write(2) and friends, write_bytes the bytes sent
// to the block layer (page-cache pages dirtied, 4 KiB granularity, mmap
// included).
type procIO struct{ wchar, writeBytes int64 }

func readProcIO(b *testing.B) procIO {
	b.Helper()
	f, err := os.Open("/proc/self/io")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var p procIO
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "wchar":
			p.wchar = n
		case "write_bytes":
			p.writeBytes = n
		}
	}
	return p
}

// benchSales runs b.N sales through a fresh journal and reports latency
// percentiles of the whole sale step, commits per second and bytes
// written per sale, the final checkpoint (Close) included.
func benchSales(b *testing.B, sale func(ctx context.Context, db *sqlite.DB, g *storetest.Invoices, i int, now time.Time) (commits int)) {
	// Not the compression dictionary's own sample: measured with another
	// invoice, as a terminal's documents are.
	tmpl, err := os.ReadFile(benchTemplatePath)
	if err != nil {
		b.Fatal(err)
	}
	g, err := storetest.NewInvoices(tmpl, benchHash, true, 42)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	dir := b.TempDir()
	if *benchDir != "" {
		dir, err = os.MkdirTemp(*benchDir, "posagent-bench-")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "journal.db"), sqlite.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	now := storetest.T0
	for i := range 50 { // a journal with some history: B-trees with depth
		now = now.Add(time.Second)
		sale(ctx, db, g, -1-i, now)
	}
	lat := make([]time.Duration, 0, b.N)
	io0 := readProcIO(b)
	commits := 0
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		now = now.Add(time.Second)
		t0 := time.Now()
		commits += sale(ctx, db, g, i, now)
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if err := db.Close(ctx); err != nil { // checkpoints the WAL into the file
		b.Fatal(err)
	}
	io1 := readProcIO(b)
	slices.Sort(lat)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(lat[len(lat)/2]), "p50-µs")
	b.ReportMetric(us(lat[len(lat)*99/100]), "p99-µs")
	b.ReportMetric(float64(commits)/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(io1.wchar-io0.wchar)/float64(b.N), "written-B/sale")
	b.ReportMetric(float64(io1.writeBytes-io0.writeBytes)/float64(b.N), "disk-B/sale")
}

func appendSale(ctx context.Context, db *sqlite.DB, g *storetest.Invoices, i int, now time.Time) *store.Document {
	d, _, err := db.Append(ctx, "bench-"+strconv.Itoa(i), now, g.Build(now))
	if err != nil {
		panic(fmt.Sprintf("append: %v", err)) // benchmark setup, not input
	}
	return d
}

// BenchmarkAppend measures the journal commit of one sale: Append
// (build, checks, compression, one synchronous=FULL commit).
func BenchmarkAppend(b *testing.B) {
	benchSales(b, func(ctx context.Context, db *sqlite.DB, g *storetest.Invoices, i int, now time.Time) int {
		appendSale(ctx, db, g, i, now)
		return 1
	})
}

// BenchmarkSaleLifecycle measures everything a sale writes over its life:
// Append, MarkPrinted and the reporting attempt that ends it (three
// commits).
func BenchmarkSaleLifecycle(b *testing.B) {
	benchSales(b, func(ctx context.Context, db *sqlite.DB, g *storetest.Invoices, i int, now time.Time) int {
		d := appendSale(ctx, db, g, i, now)
		if err := db.MarkPrinted(ctx, d.UUID, now, false); err != nil {
			panic(err)
		}
		if err := db.RecordAttempt(ctx, d.UUID, store.Attempt{At: now, HTTPStatus: 200, Outcome: store.OutcomeReported,
			ResponseJSON: []byte(`{"validationResults":{"status":"PASS"},"reportingStatus":"REPORTED"}`)}); err != nil {
			panic(err)
		}
		return 3
	})
}
