package escpossim_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/printer/escpos"
	"github.com/posagent/posagent/printer/escpossim"
	"github.com/posagent/posagent/printer/printertest"
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	initCmd = []byte{0x1b, '@'}
	cut     = []byte{0x1d, 'V', 66, 0}
)

func ink(img *image.Paletted) image.Rectangle {
	r := image.Rectangle{}
	for y := img.Rect.Min.Y; y < img.Rect.Max.Y; y++ {
		for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
			if img.ColorIndexAt(x, y) == 1 {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}

func render1(t *testing.T, data []byte, width int) escpossim.Page {
	t.Helper()
	pages, err := escpossim.Render(data, width)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 1 {
		t.Fatalf("%d pages", len(pages))
	}
	return pages[0]
}

func TestTextModes(t *testing.T) {
	p := render1(t, cat(initCmd, []byte("AB\n"), cut), 576)
	r := ink(p.Image())
	if r.Min.X < 0 || r.Max.X > 24 || r.Min.Y < 0 || r.Max.Y > 24 {
		t.Fatalf("two font A characters inked %v, want inside 24×24", r)
	}
	// Centred, double size: twice as wide, centred on the paper.
	p = render1(t, cat(initCmd, []byte{0x1b, 'a', 1, 0x1d, '!', 0x11}, []byte("AB\n"), cut), 576)
	r = ink(p.Image())
	if r.Dx() < 36 || r.Dx() > 48 || r.Max.Y > 48 || abs(r.Min.X+r.Max.X-576) > 8 {
		t.Fatalf("double-size centred text inked %v", r)
	}
	// Reverse video paints the cell black.
	p = render1(t, cat(initCmd, []byte{0x1d, 'B', 1}, []byte(" \n"), cut), 384)
	if ink(p.Image()) != image.Rect(0, 0, 12, 24) {
		t.Fatalf("reverse space inked %v", ink(p.Image()))
	}
	// Lines wrap at the paper edge: 33 characters on 384 dots (32 per line).
	p = render1(t, cat(initCmd, bytes.Repeat([]byte("X"), 33), []byte("\n"), cut), 384)
	if r := ink(p.Image()); r.Max.Y < 30+10 || r.Max.X > 384 {
		t.Fatalf("33 characters inked %v, want two lines", r)
	}
}

func TestRasterAlignment(t *testing.T) {
	img := []byte{0x1d, 'v', '0', 0, 2, 0, 3, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	for _, c := range []struct {
		align byte
		x0    int
	}{{0, 0}, {1, (576 - 16) / 2}, {2, 576 - 16}} {
		p := render1(t, cat(initCmd, []byte{0x1b, 'a', c.align}, img, cut), 576)
		if got := ink(p.Image()); got != image.Rect(c.x0, 0, c.x0+16, 3) {
			t.Errorf("align %d: %v", c.align, got)
		}
	}
}

func TestPagesAndStats(t *testing.T) {
	var pages []escpossim.Page
	cfg := escpossim.DefaultConfig()
	cfg.OutDir = t.TempDir()
	cfg.OnPage = func(p escpossim.Page) { pages = append(pages, p) }
	s, err := escpossim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	one := cat(initCmd, []byte("one\n"), cut)
	two := cat(initCmd, []byte("two\n"), escpos.DrawerKick(false), cut)
	status := escpos.StatusRequest(1)
	s.Write(cat(status, one, status, two, []byte("tail")))
	s.Close()
	if len(pages) != 3 || pages[2].Incomplete != true || pages[0].Incomplete {
		t.Fatalf("%d pages", len(pages))
	}
	if !bytes.Equal(pages[0].Data, one) || !bytes.Equal(pages[1].Data, two) {
		t.Fatalf("page data %q %q", pages[0].Data, pages[1].Data)
	}
	for _, name := range []string{"receipt-0001.png", "receipt-0002.png", "receipt-0003-incomplete.png"} {
		if _, err := os.Stat(filepath.Join(cfg.OutDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Pages != 3 || st.Incomplete != 1 || st.DrawerPulses != 1 || st.Bytes != int64(len(one)+len(two)+6+4) {
		t.Fatalf("stats %+v", st)
	}
}

// A stream fed in arbitrary pieces prints the same as in one go.
func TestWriteInPieces(t *testing.T) {
	e, err := escpos.NewEncoder(escpos.Profile58())
	if err != nil {
		t.Fatal(err)
	}
	job, err := e.Encode(printertest.CreditNote())
	if err != nil {
		t.Fatal(err)
	}
	want := render1(t, job.Data, 384)
	var got []escpossim.Page
	cfg := escpossim.DefaultConfig()
	cfg.Width = 384
	cfg.OnPage = func(p escpossim.Page) { got = append(got, p) }
	s, _ := escpossim.New(cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	for data := job.Data; len(data) > 0; {
		n := min(len(data), 1+rng.IntN(700))
		s.Write(data[:n])
		data = data[n:]
	}
	if len(got) != 1 || !bytes.Equal(got[0].Image().Pix, want.Image().Pix) || !bytes.Equal(got[0].Data, job.Data) {
		t.Fatal("piecewise rendering differs")
	}
}

// Status requests are answered over the connection, in every state.
func TestServeAnswersStatus(t *testing.T) {
	s, err := escpossim.New(escpossim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	host, dev := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, dev) }()
	ask := func(req []byte) byte {
		t.Helper()
		host.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := host.Write(req); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(host, b); err != nil {
			t.Fatal(err)
		}
		return b[0]
	}
	for _, st := range []printer.Status{
		{Online: true},
		{Online: true, PaperOut: true},
		{Online: true, CoverOpen: true},
		{Online: false},
		{Online: true, PaperNearEnd: true},
	} {
		s.SetStatus(st)
		raw := escpos.RawStatus{Printer: ask(escpos.StatusRequest(1)), Offline: ask(escpos.StatusRequest(2)), Paper: ask(escpos.StatusRequest(4))}
		got := raw.Status()
		want := st
		want.Online = st.Err() == nil
		want.PaperNearEnd = st.PaperNearEnd || st.PaperOut // an empty roll trips both sensors
		if got != want {
			t.Errorf("state %+v read back as %+v", st, got)
		}
		near, out := escpos.DecodePaperSync(ask(escpos.PaperSync()))
		if out != st.PaperOut || near != (st.PaperNearEnd || st.PaperOut) {
			t.Errorf("GS r 1 in %+v: near %v out %v", st, near, out)
		}
	}
	cancel()
	host.Close()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// While not ready, print data is dropped and the page in progress is
// delivered incomplete.
func TestNotReadyDropsPrintData(t *testing.T) {
	var pages []escpossim.Page
	cfg := escpossim.DefaultConfig()
	cfg.OnPage = func(p escpossim.Page) { pages = append(pages, p) }
	s, _ := escpossim.New(cfg)
	s.Write(cat(initCmd, []byte("half a receipt\n")))
	s.Update(func(st *printer.Status) { st.CoverOpen = true })
	s.Write(cat([]byte("lost\n"), cut))
	if len(pages) != 1 || !pages[0].Incomplete || s.Stats().Discarded != int64(len("lost\n")+len(cut)) {
		t.Fatalf("pages %d, stats %+v", len(pages), s.Stats())
	}
	s.Update(func(st *printer.Status) { st.CoverOpen = false })
	s.Write(cat(initCmd, []byte("again\n"), cut))
	if len(pages) != 2 || pages[1].Incomplete {
		t.Fatal("no page after the cover was closed")
	}
}

func TestPaperRollRunsOut(t *testing.T) {
	var pages []escpossim.Page
	cfg := escpossim.DefaultConfig()
	cfg.PaperDots = 100
	cfg.OnPage = func(p escpossim.Page) { pages = append(pages, p) }
	s, _ := escpossim.New(cfg)
	s.Write(cat(initCmd, bytes.Repeat([]byte("line\n"), 10), cut))
	if !s.Status().PaperOut || len(pages) != 1 || !pages[0].Incomplete || pages[0].Image().Rect.Dy() > 120 {
		t.Fatalf("status %+v pages %d", s.Status(), len(pages))
	}
	s.LoadPaper(0)
	s.Write(cat(initCmd, bytes.Repeat([]byte("line\n"), 10), cut))
	if s.Status().PaperOut || len(pages) != 2 || pages[1].Incomplete {
		t.Fatal("printing after a new roll")
	}
}

func TestQRNative(t *testing.T) {
	payload := printertest.SampleQR("X")
	n := len(payload) + 3
	data := cat(initCmd, []byte{0x1b, 'a', 1},
		[]byte{0x1d, '(', 'k', 3, 0, '1', 'C', 3},
		[]byte{0x1d, '(', 'k', 3, 0, '1', 'E', '1'},
		[]byte{0x1d, '(', 'k', byte(n), byte(n >> 8), '1', 'P', '0'}, []byte(payload),
		[]byte{0x1d, '(', 'k', 3, 0, '1', 'Q', '0'}, cut)
	p := render1(t, data, 384)
	r := ink(p.Image())
	// 624 bytes at level M is version 19: 93 modules of 3 dots.
	if r.Dx() != 93*3 || r.Dy() != 93*3 || r.Min.X != (384-93*3)/2 {
		t.Fatalf("QR inked %v", r)
	}
}

// Absurd declared sizes neither allocate nor hang.
func TestHugeDeclaredSizes(t *testing.T) {
	for _, data := range [][]byte{
		{0x1d, 'v', '0', 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3},
		{0x1d, '(', 'k', 0xff, 0xff, '1', 'P', '0', 'x'},
		{0x1d, '8', 'L', 0xff, 0xff, 0xff, 0x7f, 0},
	} {
		start := time.Now()
		if _, err := escpossim.Render(data, 576); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > time.Second {
			t.Fatal("slow")
		}
	}
}

func TestDisassemble(t *testing.T) {
	var b strings.Builder
	data := cat(initCmd, []byte{0x1b, 'a', 1}, []byte("Hi\n"), []byte{0x1d, 'v', '0', 0, 1, 0, 2, 0, 0x80, 0x01}, escpos.StatusRequest(4), cut, []byte{0x1b})
	if err := escpossim.Disassemble(&b, data); err != nil {
		t.Fatal(err)
	}
	want := []string{"ESC @", "ESC a 1", `TEXT "Hi"`, "LF", "GS v 0 m=0 width=1 bytes (8 dots) height=2 rows, 2 bytes", "STATUS DLE EOT 4", "CUT GS V 66 0", "truncated command"}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("listing:\n%s", b.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Fatalf("line %d: %q, want %q", i, lines[i], w)
		}
	}
}

func TestServeOnPTYStopsOnCancel(t *testing.T) {
	pty, err := escpossim.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer pty.Close()
	s, _ := escpossim.New(escpossim.DefaultConfig())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pty.Master) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

func TestCP437Table(t *testing.T) {
	// Every byte renders without trouble, and the bitmap font is 12 dots.
	var all []byte
	for b := 0x20; b < 0x100; b++ {
		if b != 0x7f {
			all = append(all, byte(b))
		}
	}
	p := render1(t, cat(initCmd, all, []byte("\n"), cut), 576)
	if r := ink(p.Image()); r.Empty() || r.Max.X > 576 {
		t.Fatalf("inked %v", r)
	}
}

// FuzzInterpret: no input crashes or hangs the simulator.
func FuzzInterpret(f *testing.F) {
	for _, name := range []string{"simple-58mm", "credit-80mm", "simple-58mm-rasterqr"} {
		if data, err := os.ReadFile(filepath.Join("..", "escpos", "testdata", name+".bin")); err == nil {
			f.Add(data[:min(len(data), 600)])
		}
	}
	f.Add(cat(initCmd, []byte{0x1d, '(', 'k', 3, 0, '1', 'Q', '0'}))
	f.Add([]byte{0x1d, '!', 0xff, 'A', 0x1b, '!', 0xff, 'B', 0x0a, 0x09, 0x1b, 'D', 1, 2, 0, 0x1d, 'k', 4, 'x', 0})
	f.Add([]byte{0x1d, 'v', '0', 3, 0xff, 0x00, 0xff, 0x00})
	f.Add([]byte{0x10, 0x14, 8, 1, 3, 20, 1, 6, 2, 8, 0x10, 0x04, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := escpossim.DefaultConfig()
		cfg.Width = 384
		cfg.OnPage = func(p escpossim.Page) {
			if p.Width != 384 || p.Height < 1 || p.Height > 1<<14 {
				t.Fatalf("page of %d×%d dots", p.Width, p.Height)
			}
		}
		s, err := escpossim.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Half with status answers on a connection, half written.
		if len(data)%2 == 0 {
			if _, err := s.Write(data); err != nil {
				t.Fatal(err)
			}
		} else {
			var out bytes.Buffer
			rw := struct {
				io.Reader
				io.Writer
			}{bytes.NewReader(data), &out}
			if err := s.Serve(context.Background(), rw); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		_ = escpossim.Disassemble(io.Discard, data)
	})
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
