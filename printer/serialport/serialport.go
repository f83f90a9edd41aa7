// Package serialport owns driving an ESC/POS receipt printer on a serial
// line (a tty, USB-serial adapter or pseudo-terminal) with tarm/serial. It
// implements printer.Printer and printer.DrawerKicker: it renders receipts
// with printer/escpos, checks the printer with DLE EOT before and after every
// job, paces large jobs in pieces smaller than the printer's buffer (each
// followed by GS r, whose answer comes only once the printer has processed
// the piece), keeps every write behind a timeout, and reopens the device
// with backoff after it disappears.
//
// tarm/serial specifics it copes with: a read timeout returns io.EOF (which
// is not a hang-up; only a failed write or open tells the device is gone);
// a write blocks for as long as the peer does not drain; Close does not
// interrupt a blocked read or write.
//
// It imports printer and printer/escpos; it knows nothing of ZATCA.
package serialport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tarm/serial"

	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/printer/escpos"
)

// Config configures a serial printer.
type Config struct {
	// Device is the serial device path, e.g. /dev/ttyS0, /dev/ttyUSB0, or a
	// symlink to a pseudo-terminal.
	Device string
	// Baud is the line speed (a standard rate, e.g. 115200).
	Baud int
	// Profile is the printer model's profile.
	Profile escpos.Profile
	// StatusTimeout bounds the wait for the answer to one status request.
	StatusTimeout time.Duration
	// WriteTimeout bounds one write of at most Profile.BufferSize/2 bytes.
	WriteTimeout time.Duration
	// SyncTimeout bounds the wait for the printer to process one piece of a
	// job (printing and feeding included).
	SyncTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// attempts to reopen a missing device.
	ReconnectMin, ReconnectMax time.Duration
	// Logger receives state changes (connects, disconnects, errors).
	Logger *slog.Logger
}

// DefaultConfig returns the settings for an 80 mm printer at 115200 baud;
// Device must still be set.
func DefaultConfig() Config {
	return Config{
		Baud:          115200,
		Profile:       escpos.Profile80(),
		StatusTimeout: 500 * time.Millisecond,
		WriteTimeout:  3 * time.Second,
		SyncTimeout:   10 * time.Second,
		ReconnectMin:  100 * time.Millisecond,
		ReconnectMax:  5 * time.Second,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Device == "" {
		errs = append(errs, errors.New("device: required"))
	}
	if c.Baud <= 0 {
		errs = append(errs, fmt.Errorf("baud: %d, want a standard rate such as 115200", c.Baud))
	}
	if err := c.Profile.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"status_timeout", c.StatusTimeout}, {"write_timeout", c.WriteTimeout}, {"sync_timeout", c.SyncTimeout},
		{"reconnect_min", c.ReconnectMin}, {"reconnect_max", c.ReconnectMax}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: %v, want > 0", d.name, d.v))
		}
	}
	if c.ReconnectMax < c.ReconnectMin {
		errs = append(errs, fmt.Errorf("reconnect_max: %v is below reconnect_min %v", c.ReconnectMax, c.ReconnectMin))
	}
	if len(errs) > 0 {
		return fmt.Errorf("serialport config: %w", errors.Join(errs...))
	}
	return nil
}

// Printer is a receipt printer on a serial line. It is safe for concurrent
// use; jobs and status requests are serialised.
type Printer struct {
	cfg Config
	enc *escpos.Encoder
	log *slog.Logger

	mu       sync.Mutex
	conn     *conn
	closed   bool
	dirty    bool // a job was aborted mid-stream: resync before the next
	backoff  time.Duration
	nextOpen time.Time
}

var (
	_ printer.Printer      = (*Printer)(nil)
	_ printer.DrawerKicker = (*Printer)(nil)
)

// Open returns a Printer for cfg. It opens the device at once when it can;
// a missing device is not an error here (Print and Status report
// ErrOffline until it appears).
func Open(cfg Config) (*Printer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	enc, err := escpos.NewEncoder(cfg.Profile)
	if err != nil {
		return nil, fmt.Errorf("serialport open: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Printer{cfg: cfg, enc: enc, log: log.With("device", cfg.Device)}
	p.mu.Lock()
	if _, err := p.connect(); err != nil {
		p.log.Warn("printer not available yet", "err", err)
	}
	p.mu.Unlock()
	return p, nil
}

// Close releases the device. Later calls fail with printer.ErrClosed.
func (p *Printer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if p.conn != nil {
		now, err := p.conn.close()
		p.conn = nil
		if !now {
			p.log.Warn("a write is still blocked on the device; it is closed when the write returns")
		}
		if err != nil {
			return fmt.Errorf("serialport close: %w", err)
		}
	}
	return nil
}

// Status asks the printer for its state (DLE EOT 1, 2 and 4).
func (p *Printer) Status(ctx context.Context) (printer.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := p.connect()
	if err != nil {
		return printer.Status{}, fmt.Errorf("serialport status: %w", err)
	}
	st, err := p.status(ctx, c)
	if err != nil {
		return printer.Status{}, fmt.Errorf("serialport status: %w", err)
	}
	return st, nil
}

// Print renders r and prints it. See printer.Printer.
func (p *Printer) Print(ctx context.Context, r *printer.Receipt) error {
	job, err := p.enc.Encode(r)
	if err != nil {
		return fmt.Errorf("serialport print: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.send(ctx, job); err != nil {
		return fmt.Errorf("serialport print: %w", err)
	}
	return nil
}

// PrintJob prints an already encoded job (see escpos.Encoder), with the
// same checks as Print.
func (p *Printer) PrintJob(ctx context.Context, job *escpos.Job) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.send(ctx, job); err != nil {
		return fmt.Errorf("serialport print: %w", err)
	}
	return nil
}

// KickDrawer pulses the cash drawer (ESC p on pin 2).
func (p *Printer) KickDrawer(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := p.connect()
	if err != nil {
		return fmt.Errorf("serialport kick drawer: %w", err)
	}
	if err := p.write(ctx, c, escpos.DrawerKick(false)); err != nil {
		return fmt.Errorf("serialport kick drawer: %w", err)
	}
	return nil
}

// Encoder returns the encoder the printer renders receipts with.
func (p *Printer) Encoder() *escpos.Encoder { return p.enc }

// resyncLen zero bytes complete any command a printer may still be waiting
// on after an aborted job (the longest is a QR store or a raster band); NUL
// outside a command is ignored by ESC/POS printers.
const resyncLen = escpos.MaxCommandLen

// send runs one job; p.mu is held.
func (p *Printer) send(ctx context.Context, job *escpos.Job) error {
	c, err := p.connect()
	if err != nil {
		return err
	}
	if p.dirty {
		if err := p.write(ctx, c, make([]byte, resyncLen)); err != nil {
			return fmt.Errorf("resync after aborted job: %w", err)
		}
		p.dirty = false
	}
	st, err := p.status(ctx, c)
	if err != nil {
		return err
	}
	if err := st.Err(); err != nil {
		return fmt.Errorf("printer not ready: %w", err)
	}
	sync := escpos.PaperSync()
	chunk := p.cfg.Profile.BufferSize / 2
	for i, piece := range job.Chunks(chunk) {
		c.drain()
		p.dirty = true
		if err := p.write(ctx, c, append(piece[:len(piece):len(piece)], sync...)); err != nil {
			return fmt.Errorf("piece %d: %w", i, err)
		}
		b, err := c.await(ctx, escpos.PaperSyncValid, p.cfg.SyncTimeout)
		if err != nil {
			// The printer stopped processing: ask it why.
			if st, serr := p.status(ctx, c); serr == nil && st.Err() != nil {
				return fmt.Errorf("piece %d: printing stopped: %w", i, st.Err())
			}
			return fmt.Errorf("piece %d: waiting for the printer: %w", i, err)
		}
		if _, out := escpos.DecodePaperSync(b); out {
			return fmt.Errorf("piece %d: printing stopped: %w", i, printer.ErrPaperOut)
		}
		p.dirty = false
	}
	st, err = p.status(ctx, c)
	if err != nil {
		return fmt.Errorf("after printing: %w", err)
	}
	if st.PaperNearEnd {
		p.log.Warn("paper near end")
	}
	if err := st.Err(); err != nil {
		return fmt.Errorf("after printing: %w", err)
	}
	return nil
}

// status asks DLE EOT 1, 2 and 4; p.mu is held.
func (p *Printer) status(ctx context.Context, c *conn) (printer.Status, error) {
	var raw escpos.RawStatus
	for _, q := range []struct {
		n   byte
		dst *byte
	}{{escpos.StatusPrinter, &raw.Printer}, {escpos.StatusOffline, &raw.Offline}, {escpos.StatusPaper, &raw.Paper}} {
		c.drain()
		if err := p.write(ctx, c, escpos.StatusRequest(q.n)); err != nil {
			return printer.Status{}, err
		}
		b, err := c.await(ctx, escpos.StatusByteValid, p.cfg.StatusTimeout)
		if err != nil {
			if errors.Is(err, printer.ErrTimeout) {
				// A printer that answers nothing is switched off or
				// unplugged.
				return printer.Status{}, fmt.Errorf("DLE EOT %d: %w: %w", q.n, printer.ErrOffline, err)
			}
			return printer.Status{}, fmt.Errorf("DLE EOT %d: %w", q.n, err)
		}
		*q.dst = b
	}
	return raw.Status(), nil
}

// write writes b with the write timeout; a failure marks the connection
// broken (the next operation reopens the device). p.mu is held.
func (p *Printer) write(ctx context.Context, c *conn, b []byte) error {
	timeout := p.cfg.WriteTimeout * time.Duration(1+len(b)/max(p.cfg.Profile.BufferSize, 1))
	err := c.write(ctx, b, timeout)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		p.log.Warn("printer write failed; reconnecting on next use", "err", err)
	}
	return err
}

// connect returns the live connection, reopening the device when it is
// gone and the backoff allows. p.mu is held.
func (p *Printer) connect() (*conn, error) {
	if p.closed {
		return nil, printer.ErrClosed
	}
	if p.conn != nil && !p.conn.broken() {
		return p.conn, nil
	}
	if p.conn != nil {
		p.log.Warn("printer connection lost", "err", p.conn.cause())
		if now, _ := p.conn.close(); !now {
			p.log.Warn("a write is still blocked on the old connection; it is closed when the write returns")
		}
		p.conn = nil
	}
	if now := time.Now(); now.Before(p.nextOpen) {
		return nil, fmt.Errorf("device %s unavailable, next attempt in %v: %w", p.cfg.Device,
			p.nextOpen.Sub(now).Round(time.Millisecond), printer.ErrOffline)
	}
	port, err := serial.OpenPort(&serial.Config{Name: p.cfg.Device, Baud: p.cfg.Baud, ReadTimeout: readTick})
	if err != nil {
		p.backoff = min(max(p.backoff*2, p.cfg.ReconnectMin), p.cfg.ReconnectMax)
		p.nextOpen = time.Now().Add(p.backoff)
		return nil, fmt.Errorf("open %s: %w: %w", p.cfg.Device, printer.ErrOffline, err)
	}
	p.backoff, p.nextOpen = 0, time.Time{}
	p.conn = newConn(port)
	p.log.Info("printer connected", "baud", p.cfg.Baud)
	return p.conn, nil
}

// readTick is tarm/serial's read timeout: the reader goroutine wakes this
// often to notice a closed connection.
const readTick = 100 * time.Millisecond

// errBroken reports a connection whose device failed.
var errBroken = errors.New("connection broken")

// port is what conn needs of a *serial.Port.
type port interface {
	io.ReadWriteCloser
	// Flush discards data written but not transmitted, and data received
	// but not read.
	Flush() error
}

// conn is one open device with its reader and writer goroutines.
type conn struct {
	port    port
	writing atomic.Bool // the writer goroutine is inside port.Write
	rx      chan byte
	wr      chan []byte
	wrRes   chan error
	done    chan struct{} // closed when the connection is broken or closed
	once    sync.Once
	err     atomic.Value // error that broke the connection
}

func newConn(p port) *conn {
	c := &conn{
		port:  p,
		rx:    make(chan byte, 4096),
		wr:    make(chan []byte),
		wrRes: make(chan error, 1),
		done:  make(chan struct{}),
	}
	go c.reader()
	go c.writer()
	return c
}

func (c *conn) fail(err error) {
	c.once.Do(func() {
		c.err.Store(err)
		close(c.done)
	})
}

func (c *conn) broken() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// close marks the connection dead and closes the port. A write blocked on
// a peer that does not drain would hold Close (and the writer goroutine)
// until the device takes the data or fails: the output queue is flushed (a
// UART then wakes the writer; the job was abandoned anyway and the next one
// resyncs), and if the write still does not return, the port is closed in
// the background so that the caller never hangs. It reports whether the
// port was closed at once.
func (c *conn) close() (closedNow bool, err error) {
	c.fail(errBroken)
	for i := 0; i < 20 && c.writing.Load(); i++ {
		_ = c.port.Flush()
		time.Sleep(10 * time.Millisecond)
	}
	if c.writing.Load() {
		go c.port.Close()
		return false, nil
	}
	return true, c.port.Close()
}

func (c *conn) reader() {
	buf := make([]byte, 256)
	for {
		start := time.Now()
		n, err := c.port.Read(buf)
		for _, b := range buf[:n] {
			select {
			case c.rx <- b:
			default: // nobody is listening: drop
			}
		}
		select {
		case <-c.done:
			return
		default:
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			// A read timeout, or a hang-up that writes will reveal. Do not
			// spin when the device returns EOF at once.
			if time.Since(start) < readTick/4 {
				time.Sleep(readTick / 2)
			}
		default:
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
	}
}

func (c *conn) writer() {
	for {
		select {
		case b := <-c.wr:
			c.writing.Store(true)
			_, err := c.port.Write(b)
			c.writing.Store(false)
			if err != nil {
				err = fmt.Errorf("write: %w: %w", printer.ErrOffline, err)
				c.fail(err)
			}
			c.wrRes <- err
			if err != nil {
				return
			}
		case <-c.done:
			return
		}
	}
}

// write hands b to the writer goroutine and waits for it, at most timeout.
// A timeout or cancellation leaves the connection broken: the device may be
// blocked with part of b written.
func (c *conn) write(ctx context.Context, b []byte, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case c.wr <- b:
	case <-c.done:
		return c.cause()
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.wrRes:
		return err
	case <-t.C:
		c.fail(fmt.Errorf("write of %d bytes blocked for %v: %w", len(b), timeout, printer.ErrTimeout))
		return c.cause()
	case <-ctx.Done():
		c.fail(fmt.Errorf("write cancelled: %w", ctx.Err()))
		return ctx.Err()
	}
}

func (c *conn) cause() error {
	if err, ok := c.err.Load().(error); ok {
		return err
	}
	return errBroken
}

// drain discards bytes received so far (late or unsolicited answers).
func (c *conn) drain() {
	for {
		select {
		case <-c.rx:
		default:
			return
		}
	}
}

// await waits for a received byte accepted by valid, skipping others.
func (c *conn) await(ctx context.Context, valid func(byte) bool, timeout time.Duration) (byte, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case b := <-c.rx:
			if valid(b) {
				return b, nil
			}
		case <-t.C:
			return 0, fmt.Errorf("no answer within %v: %w", timeout, printer.ErrTimeout)
		case <-c.done:
			return 0, c.cause()
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
