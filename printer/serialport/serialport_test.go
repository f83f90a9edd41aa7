package serialport_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/printer/escpos"
	"github.com/posagent/posagent/printer/escpossim"
	"github.com/posagent/posagent/printer/printertest"
	"github.com/posagent/posagent/printer/serialport"
)

// rig is a simulated printer on a real pseudo-terminal, reachable through a
// symlink the way a device path is configured.
type rig struct {
	t    *testing.T
	sim  *escpossim.Sim
	pty  *escpossim.PTY
	link string

	mu    sync.Mutex
	pages []escpossim.Page
	added chan struct{}
	stop  func()
}

func newRig(t *testing.T, width int) *rig {
	t.Helper()
	r := &rig{t: t, link: filepath.Join(t.TempDir(), "printer"), added: make(chan struct{}, 1000)}
	cfg := escpossim.DefaultConfig()
	cfg.Width = width
	cfg.Logger = testLogger(t)
	cfg.OnPage = func(p escpossim.Page) {
		r.mu.Lock()
		r.pages = append(r.pages, p)
		r.mu.Unlock()
		r.added <- struct{}{}
	}
	sim, err := escpossim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.sim = sim
	r.start()
	t.Cleanup(func() { r.stop() })
	return r
}

// start opens a fresh pty, points the link at it and serves it.
func (r *rig) start() {
	r.t.Helper()
	pty, err := escpossim.OpenPTY()
	if err != nil {
		r.t.Fatal(err)
	}
	_ = os.Remove(r.link)
	if err := os.Symlink(pty.SlavePath, r.link); err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.sim.Serve(ctx, pty.Master) }()
	r.pty = pty
	r.stop = func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			r.t.Errorf("serve: %v", err)
		}
		pty.Close()
	}
}

// unplug makes the device vanish: the pty is closed and the link removed.
func (r *rig) unplug() {
	r.stop()
	_ = os.Remove(r.link)
}

func (r *rig) waitPages(n int) []escpossim.Page {
	r.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		got := len(r.pages)
		r.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-r.added:
		case <-deadline:
			r.t.Fatalf("waited for %d pages, have %d", n, got)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]escpossim.Page(nil), r.pages...)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

func open(t *testing.T, r *rig, p escpos.Profile) *serialport.Printer {
	t.Helper()
	cfg := serialport.DefaultConfig()
	cfg.Device = r.link
	cfg.Profile = p
	cfg.Logger = testLogger(t)
	cfg.ReconnectMin = 20 * time.Millisecond
	cfg.ReconnectMax = 200 * time.Millisecond
	pr, err := serialport.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	return pr
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPrintOverPTY(t *testing.T) {
	r := newRig(t, 576)
	p := open(t, r, escpos.Profile80())
	ctx := ctxT(t)
	st, err := p.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st != (printer.Status{Online: true}) {
		t.Fatalf("status %+v, want online only", st)
	}
	rc := printertest.SimpleSale()
	if err := p.Print(ctx, rc); err != nil {
		t.Fatal(err)
	}
	pages := r.waitPages(1)
	job, err := p.Encoder().Encode(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pages[0].Data, job.Data) {
		t.Fatalf("printer received %d bytes, job has %d", len(pages[0].Data), len(job.Data))
	}
	if pages[0].Incomplete {
		t.Fatal("page incomplete")
	}
	want, err := escpossim.Render(job.Data, 576)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pages[0].Image().Pix, want[0].Image().Pix) {
		t.Fatal("image printed over the pty differs from the offline rendering")
	}
}

func TestPaperOutBeforePrinting(t *testing.T) {
	r := newRig(t, 384)
	p := open(t, r, escpos.Profile58())
	ctx := ctxT(t)
	r.sim.SetStatus(printer.Status{Online: true, PaperOut: true})
	err := p.Print(ctx, printertest.SimpleSale())
	if !errors.Is(err, printer.ErrPaperOut) {
		t.Fatalf("print with paper out: %v, want ErrPaperOut", err)
	}
	if st := r.sim.Stats(); st.Pages != 0 || st.Discarded != 0 {
		t.Fatalf("printer got print data while out of paper: %+v", st)
	}
	st, err := p.Status(ctx)
	if err != nil || !st.PaperOut || st.Online {
		t.Fatalf("status %+v, %v; want paper out, offline", st, err)
	}
	r.sim.SetStatus(printer.Status{Online: true})
	if err := p.Print(ctx, printertest.SimpleSale()); err != nil {
		t.Fatalf("print after paper restored: %v", err)
	}
	if pages := r.waitPages(1); pages[0].Incomplete {
		t.Fatal("receipt incomplete")
	}
}

func TestNotReadyStates(t *testing.T) {
	r := newRig(t, 384)
	p := open(t, r, escpos.Profile58())
	ctx := ctxT(t)
	for _, tc := range []struct {
		st   printer.Status
		want error
	}{
		{printer.Status{Online: true, CoverOpen: true}, printer.ErrCoverOpen},
		{printer.Status{Online: false}, printer.ErrOffline},
		{printer.Status{Online: true, Error: true}, printer.ErrOffline},
	} {
		r.sim.SetStatus(tc.st)
		got, err := p.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.CoverOpen != tc.st.CoverOpen || got.Online || got.Error != tc.st.Error {
			t.Errorf("status %+v, simulator in %+v", got, tc.st)
		}
		if err := p.Print(ctx, printertest.SimpleSale()); !errors.Is(err, tc.want) {
			t.Errorf("state %+v: print error %v, want %v", tc.st, err, tc.want)
		}
	}
	r.sim.SetStatus(printer.Status{Online: true, PaperNearEnd: true})
	if err := p.Print(ctx, printertest.SimpleSale()); err != nil {
		t.Fatalf("near end must still print: %v", err)
	}
	r.waitPages(1)
}

// A roll that runs out in the middle of a long job stops it with
// ErrPaperOut; after a new roll the job prints whole.
func TestPaperOutDuringJob(t *testing.T) {
	r := newRig(t, 576)
	p := open(t, r, escpos.Profile80())
	ctx := ctxT(t)
	job, err := p.Encoder().Encode(printertest.LongSale(40))
	if err != nil {
		t.Fatal(err)
	}
	r.sim.LoadPaper(1500) // 19 cm: about a third of the receipt
	if err := p.PrintJob(ctx, job); !errors.Is(err, printer.ErrPaperOut) {
		t.Fatalf("print: %v, want ErrPaperOut", err)
	}
	pages := r.waitPages(1)
	if !pages[0].Incomplete {
		t.Fatal("the interrupted receipt should be delivered incomplete")
	}
	if st, err := p.Status(ctx); err != nil || !st.PaperOut {
		t.Fatalf("status %+v, %v", st, err)
	}
	r.sim.LoadPaper(0)
	if err := p.PrintJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	pages = r.waitPages(2)
	// The aborted job left the printer inside a command: the driver sends
	// NULs first to complete it.
	data := pages[1].Data
	if pages[1].Incomplete || !bytes.HasSuffix(data, job.Data) ||
		len(bytes.Trim(data[:len(data)-len(job.Data)], "\x00")) != 0 {
		t.Fatal("the job printed after the paper change is not whole")
	}
}

func TestNoPrinterAnswers(t *testing.T) {
	pty, err := escpossim.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	// Nobody serves the master: the bytes go nowhere and nothing answers.
	cfg := serialport.DefaultConfig()
	cfg.Device = pty.SlavePath
	cfg.StatusTimeout = 200 * time.Millisecond
	p, err := serialport.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	err = p.Print(ctxT(t), printertest.SimpleSale())
	if !errors.Is(err, printer.ErrOffline) || !errors.Is(err, printer.ErrTimeout) {
		t.Fatalf("print to a silent printer: %v, want ErrOffline and ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

// A peer that stops draining makes writes block; the job fails with
// ErrTimeout instead of hanging.
func TestWriteTimeout(t *testing.T) {
	pty, err := escpossim.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	// Answer status requests once, then stop reading.
	go func() {
		buf := make([]byte, 3)
		for i := 0; i < 3; i++ {
			if _, err := pty.Master.Read(buf); err != nil {
				return
			}
			pty.Master.Write([]byte{0x12})
		}
	}()
	cfg := serialport.DefaultConfig()
	cfg.Device = pty.SlavePath
	cfg.WriteTimeout = 300 * time.Millisecond
	cfg.SyncTimeout = 10 * time.Second
	// Pieces larger than the pty's buffer, so the first write blocks.
	cfg.Profile.BufferSize = 256 << 10
	cfg.Logger = testLogger(t)
	p, err := serialport.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.Print(ctxT(t), printertest.LongSale(40))
	if !errors.Is(err, printer.ErrTimeout) {
		t.Fatalf("print to a stalled peer: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	// Close must not hang on the blocked write (a pty does not release it
	// on flush; the descriptor is closed once the peer goes away).
	start = time.Now()
	if err := p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("close took %v", d)
	}
}

func TestReconnect(t *testing.T) {
	r := newRig(t, 384)
	p := open(t, r, escpos.Profile58())
	ctx := ctxT(t)
	if err := p.Print(ctx, printertest.SimpleSale()); err != nil {
		t.Fatal(err)
	}
	r.waitPages(1)
	r.unplug()
	err := p.Print(ctx, printertest.SimpleSale())
	if !errors.Is(err, printer.ErrOffline) {
		t.Fatalf("print to an unplugged printer: %v, want ErrOffline", err)
	}
	// While the device is missing, reopen attempts back off.
	if _, err := p.Status(ctx); !errors.Is(err, printer.ErrOffline) {
		t.Fatalf("status while unplugged: %v", err)
	}
	r.start()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := p.Print(ctx, printertest.SimpleSale())
		if err == nil {
			break
		}
		if !errors.Is(err, printer.ErrOffline) || time.Now().After(deadline) {
			t.Fatalf("print after replug: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pages := r.waitPages(2)
	if pages[len(pages)-1].Incomplete {
		t.Fatal("receipt after reconnect incomplete")
	}
}

func TestKickDrawer(t *testing.T) {
	r := newRig(t, 576)
	p := open(t, r, escpos.Profile80())
	if err := p.KickDrawer(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.sim.Stats().DrawerPulses != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no drawer pulse")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInvalidReceiptSendsNothing(t *testing.T) {
	r := newRig(t, 576)
	p := open(t, r, escpos.Profile80())
	rc := printertest.SimpleSale()
	rc.Items[0].Name = "Espresso\x1bp\x00\x19\xfa" // an attempt to open the drawer
	err := p.Print(ctxT(t), rc)
	var verr *printer.ValidationError
	if !errors.Is(err, printer.ErrInvalidReceipt) || !errors.As(err, &verr) || verr.Faults[0].Field != "items[0].name" {
		t.Fatalf("print: %v", err)
	}
	if st := r.sim.Stats(); st.Bytes != 0 {
		t.Fatalf("printer received %d bytes", st.Bytes)
	}
}

// 100 receipts through a real pty at 115200 baud: every byte of every job
// arrives, in order, and every page renders as it does offline.
func TestHundredReceipts(t *testing.T) {
	r := newRig(t, 576)
	p := open(t, r, escpos.Profile80())
	ctx := ctxT(t)
	const n = 100
	sent := sha256.New()
	var total int
	jobs := make([]*escpos.Job, n)
	start := time.Now()
	for i := range jobs {
		rc := printertest.SimpleSale()
		no := fmt.Sprintf("INV-2026-%06d", 1000+i)
		rc.Meta[0].Value = no
		rc.QR = printertest.SampleQR(no)
		job, err := p.Encoder().Encode(rc)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.PrintJob(ctx, job); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
		jobs[i] = job
		sent.Write(job.Data)
		total += len(job.Data)
	}
	elapsed := time.Since(start)
	pages := r.waitPages(n)
	got := sha256.New()
	for i, pg := range pages {
		if pg.Incomplete {
			t.Fatalf("page %d incomplete", i)
		}
		if !bytes.Equal(pg.Data, jobs[i].Data) {
			t.Fatalf("page %d: received %d bytes, sent %d", i, len(pg.Data), len(jobs[i].Data))
		}
		got.Write(pg.Data)
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatal("hash of received bytes differs")
	}
	st := r.sim.Stats()
	if st.Unknown != 0 || st.Discarded != 0 {
		t.Fatalf("simulator stats %+v", st)
	}
	t.Logf("%d receipts, %d bytes (%d per receipt) in %v over the pty; at 115200 baud (8N1) the line alone needs %.1f s",
		n, total, total/n, elapsed.Round(time.Millisecond), float64(total)*10/115200)
}

// Transfer over a real pty (which does not emulate the baud rate): time per
// receipt including the status checks and the pacing round trips, against
// the time the same bytes need on a 115200 baud line (10 bits per byte).
func BenchmarkPrintPTY(b *testing.B) {
	for _, c := range []struct {
		name string
		p    escpos.Profile
		r    *printer.Receipt
	}{
		{"58mm/simple", escpos.Profile58(), printertest.SimpleSale()},
		{"80mm/simple", escpos.Profile80(), printertest.SimpleSale()},
		{"80mm/long40", escpos.Profile80(), printertest.LongSale(40)},
	} {
		b.Run(c.name, func(b *testing.B) {
			pty, err := escpossim.OpenPTY()
			if err != nil {
				b.Fatal(err)
			}
			defer pty.Close()
			cfg := escpossim.DefaultConfig()
			cfg.Width = c.p.Width
			sim, err := escpossim.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go sim.Serve(ctx, pty.Master)
			pcfg := serialport.DefaultConfig()
			pcfg.Device = pty.SlavePath
			pcfg.Profile = c.p
			p, err := serialport.Open(pcfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			job, err := p.Encoder().Encode(c.r)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := p.PrintJob(ctx, job); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(job.Data)), "bytes/receipt")
			b.ReportMetric(float64(len(job.Data))*10/115200*1000, "line-ms@115200")
			b.SetBytes(int64(len(job.Data)))
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := serialport.DefaultConfig().Validate(); err == nil {
		t.Fatal("a config without a device passed")
	}
	cfg := serialport.DefaultConfig()
	cfg.Device = "/dev/ttyS0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Baud = 0
	cfg.SyncTimeout = 0
	cfg.ReconnectMax = time.Millisecond
	err := cfg.Validate()
	for _, field := range []string{"baud", "sync_timeout", "reconnect_max"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("validate: %v, want a fault on %s", err, field)
		}
	}
	if _, err := serialport.Open(cfg); err == nil {
		t.Fatal("Open accepted an invalid config")
	}
}
