// Package escpossim owns a virtual ESC/POS receipt printer: it interprets
// the byte stream posagent sends (ESC @, ESC a, ESC E, ESC !, GS !, GS B, text
// in a 12×24 bitmap font, GS v 0 raster images, GS ( k QR codes, LF, ESC d,
// ESC J, GS V cuts, ESC p drawer pulses), renders every receipt (a cut ends
// one) to an image, answers DLE EOT and GS r status requests, and can be put
// into paper-out, cover-open or offline state at any time.
//
// While the printer is not ready it answers status requests but drops print
// data, as if the operator tore off the unfinished receipt; the page printed
// so far is delivered marked Incomplete. Unknown or garbled bytes are skipped
// and counted; they never stop the simulator.
//
// It imports printer (Status), printer/escpos (status byte encodings) and
// printer/internal/raster. posagent's daemon must not link it.
package escpossim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/printer/escpos"
	"github.com/posagent/posagent/printer/internal/raster"
)

// Config configures a simulator.
type Config struct {
	// Width is the printable width in dots: 384 (58 mm) or 576 (80 mm).
	Width int
	// OutDir, when set, receives every receipt as receipt-NNNN.png
	// (receipt-NNNN-incomplete.png when printing stopped before the cut).
	OutDir string
	// OnPage, when set, is called with every finished page, in order, from
	// the goroutine running Serve (or Write).
	OnPage func(Page)
	// PaperDots is the length of the loaded paper roll in dots (8 dots per
	// mm); when it is used up the printer reports paper out. 0 means an
	// endless roll. See also LoadPaper.
	PaperDots int
	// Logger receives one line per page and per state change.
	Logger *slog.Logger
}

// DefaultConfig is an 80 mm printer that keeps its pages in memory only.
func DefaultConfig() Config {
	return Config{Width: 576}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Width < 8 || c.Width > 2048 || c.Width%8 != 0 {
		return fmt.Errorf("escpossim config: width %d dots, want a multiple of 8 between 8 and 2048", c.Width)
	}
	if c.PaperDots < 0 {
		return fmt.Errorf("escpossim config: paper_dots %d, want >= 0", c.PaperDots)
	}
	return nil
}

// Page is one printed receipt.
type Page struct {
	// Seq numbers pages from 1.
	Seq int
	// Width and Height are the size of the printed paper in dots.
	Width, Height int
	// Data holds the bytes of the commands that made the page, from the
	// first byte after the previous cut to the cut, without the status
	// requests (DLE EOT, GS r) a driver interleaves.
	Data []byte
	// Incomplete is true when printing stopped (paper out, cover open,
	// offline) or the stream ended before a cut.
	Incomplete bool
	// Path is the PNG file written to OutDir, if any.
	Path string

	paper *raster.Bitmap
}

// Image returns the printed paper, one pixel per dot (index 1 = black).
func (p Page) Image() *image.Paletted { return p.paper.Image() }

// Stats counts what the simulator received.
type Stats struct {
	Bytes         int64 // every byte received
	Pages         int   // pages delivered, incomplete ones included
	Incomplete    int   // pages delivered incomplete
	Discarded     int64 // print bytes dropped while not ready
	StatusReplies int   // answers sent to DLE EOT and GS r
	DrawerPulses  int   // ESC p and DLE DC4 1 executed
	Unknown       int   // bytes or commands the simulator does not know
}

// Sim is a simulated printer. It is safe for concurrent use: state changes
// may come from any goroutine while one goroutine feeds it bytes.
type Sim struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	status  printer.Status
	in      *interp
	data    []byte
	seq     int
	stats   Stats
	ready   []Page // finished pages not yet delivered to OnPage
	pending []byte // unfinished command of the last Write
	paper   int    // dots left on the roll; -1 for an endless roll
}

// maxPageData bounds Page.Data.
const maxPageData = 1 << 24

// New returns a simulator that is online with paper.
func New(cfg Config) (*Sim, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g, err := newGlyphCache()
	if err != nil {
		return nil, fmt.Errorf("escpossim: load font: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.OutDir != "" {
		if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
			return nil, fmt.Errorf("escpossim: %w", err)
		}
	}
	s := &Sim{cfg: cfg, log: log, status: printer.Status{Online: true}, in: newInterp(cfg.Width, g), paper: -1}
	if cfg.PaperDots > 0 {
		s.paper = cfg.PaperDots
	}
	return s, nil
}

// Status returns the simulated printer state.
func (s *Sim) Status() printer.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// SetStatus changes the simulated state. When the printer stops being ready
// (cover open, paper out, offline, error), the page in progress is delivered
// as incomplete. Clearing PaperOut loads an endless roll.
func (s *Sim) SetStatus(st printer.Status) {
	s.mu.Lock()
	was := s.status
	if !st.PaperOut && s.paper == 0 {
		s.paper = -1
	}
	s.status = st
	if was.Err() == nil && st.Err() != nil && !s.in.empty() {
		s.finish(true)
	}
	s.mu.Unlock()
	if was != st {
		s.log.Info("printer state", "online", st.Online, "cover_open", st.CoverOpen, "paper_out", st.PaperOut,
			"paper_near_end", st.PaperNearEnd, "error", st.Error)
	}
	s.deliver()
}

// LoadPaper loads a roll of the given length in dots (0: endless) and
// clears paper out.
func (s *Sim) LoadPaper(dots int) {
	s.mu.Lock()
	s.paper = -1
	if dots > 0 {
		s.paper = dots
	}
	st := s.status
	s.mu.Unlock()
	st.PaperOut = false
	s.SetStatus(st)
}

// Update changes the state with f, atomically.
func (s *Sim) Update(f func(*printer.Status)) {
	s.mu.Lock()
	st := s.status
	s.mu.Unlock()
	f(&st)
	s.SetStatus(st)
}

// Stats returns the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Serve interprets the stream read from rw and writes status answers to
// it, until the stream ends (nil), ctx is cancelled (ctx.Err()) or a read
// fails. If rw has SetReadDeadline (a net.Conn, a pty master *os.File),
// cancellation interrupts a blocked read.
func (s *Sim) Serve(ctx context.Context, rw io.ReadWriter) error {
	stop := context.AfterFunc(ctx, func() {
		if d, ok := rw.(interface{ SetReadDeadline(time.Time) error }); ok {
			_ = d.SetReadDeadline(time.Now())
		}
	})
	defer stop()
	p := newParser(&countingReader{r: rw, s: s})
	for {
		c, err := p.next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("escpossim serve: %w", err)
		}
		if reply := s.handle(c); reply != nil {
			if _, err := rw.Write(reply); err != nil {
				return fmt.Errorf("escpossim reply: %w", err)
			}
		}
		s.deliver()
	}
}

// Write feeds bytes to the simulator without a reply channel (status
// answers are dropped). A command split across calls is completed by the
// next call. It implements io.Writer.
func (s *Sim) Write(b []byte) (int, error) {
	s.mu.Lock()
	s.stats.Bytes += int64(len(b))
	buf := append(s.pending, b...)
	s.pending = nil
	s.mu.Unlock()
	p := newParser(bytes.NewReader(buf))
	for {
		c, err := p.next()
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				// Keep the unfinished command for the next call.
				s.mu.Lock()
				s.pending = append([]byte(nil), buf[p.start:]...)
				s.mu.Unlock()
			}
			break
		}
		s.handle(c)
		s.deliver()
	}
	return len(b), nil
}

// Close delivers the page in progress, if any, as incomplete.
func (s *Sim) Close() error {
	s.mu.Lock()
	if !s.in.empty() {
		s.finish(true)
	}
	s.mu.Unlock()
	s.deliver()
	return nil
}

type countingReader struct {
	r io.Reader
	s *Sim
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if n > 0 {
		c.s.mu.Lock()
		c.s.stats.Bytes += int64(n)
		c.s.mu.Unlock()
	}
	return n, err
}

// handle executes one command and returns the bytes to answer, if any.
func (s *Sim) handle(c command) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.op {
	case opStatus:
		raw := escpos.EncodeStatus(s.status)
		var b byte
		switch c.args[0] {
		case escpos.StatusPrinter:
			b = raw.Printer
		case escpos.StatusOffline:
			b = raw.Offline
		case escpos.StatusError:
			b = 0x12
			if s.status.Error {
				b |= 0x20
			}
		case escpos.StatusPaper:
			b = raw.Paper
		default:
			return nil
		}
		s.stats.StatusReplies++
		return []byte{b}
	case opTransmit:
		switch c.args[0] {
		case 1, '1':
			s.stats.StatusReplies++
			return []byte{escpos.EncodePaperSync(s.status.PaperNearEnd, s.status.PaperOut)}
		case 2, '2':
			s.stats.StatusReplies++
			return []byte{boolByte(s.status.DrawerOpen)}
		}
		return nil
	}
	if s.status.Err() != nil {
		s.stats.Discarded += int64(c.size)
		return nil
	}
	if c.small && len(s.data)+len(c.raw) <= maxPageData {
		s.data = append(s.data, c.raw...)
	}
	switch c.op {
	case opUnknown:
		s.stats.Unknown++
	case opDrawer:
		s.stats.DrawerPulses++
		s.log.Info("drawer pulse")
	}
	y := s.in.pg.y
	cut := s.in.exec(c)
	if used := s.in.pg.y - y; s.paper >= 0 && used > 0 {
		s.paper = max(s.paper-used, 0)
		if s.paper == 0 {
			// The roll ran out under this command: stop here.
			s.status.PaperOut = true
			s.finish(true)
			s.log.Info("printer state", "paper_out", true)
			return nil
		}
	}
	if cut {
		s.finish(false)
	}
	return nil
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// finish ends the current page; s.mu is held.
func (s *Sim) finish(incomplete bool) {
	s.in.printLine(false) // text still in the line buffer
	pg := s.in.take()
	s.seq++
	bm := pg.bitmap()
	p := Page{Seq: s.seq, Width: bm.W, Height: bm.H, Data: s.data, Incomplete: incomplete, paper: bm}
	s.data = nil
	s.stats.Pages++
	if incomplete {
		s.stats.Incomplete++
	}
	s.ready = append(s.ready, p)
}

// deliver writes and hands out finished pages outside the lock.
func (s *Sim) deliver() {
	s.mu.Lock()
	pages := s.ready
	s.ready = nil
	s.mu.Unlock()
	for _, p := range pages {
		if s.cfg.OutDir != "" {
			name := fmt.Sprintf("receipt-%04d.png", p.Seq)
			if p.Incomplete {
				name = fmt.Sprintf("receipt-%04d-incomplete.png", p.Seq)
			}
			path := filepath.Join(s.cfg.OutDir, name)
			if err := writePNG(path, p.Image()); err != nil {
				s.log.Error("write receipt image", "path", path, "err", err)
			} else {
				p.Path = path
			}
		}
		s.log.Info("receipt printed", "seq", p.Seq, "height_dots", p.Height, "bytes", len(p.Data),
			"incomplete", p.Incomplete, "path", p.Path)
		if s.cfg.OnPage != nil {
			s.cfg.OnPage(p)
		}
	}
}

// writePNG writes img to path atomically.
func writePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Render interprets a complete byte stream for a printer width dots wide
// and returns its pages; trailing output without a cut is returned as an
// incomplete page.
func Render(data []byte, width int) ([]Page, error) {
	var pages []Page
	cfg := DefaultConfig()
	cfg.Width = width
	cfg.OnPage = func(p Page) { pages = append(pages, p) }
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	_, _ = s.Write(data)
	_ = s.Close()
	return pages, nil
}
