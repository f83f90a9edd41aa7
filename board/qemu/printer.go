package qemu

import (
	"bytes"
	"net"
	"sync"
)

// Recorder is a minimal host-side printer for the guest's /dev/ttyS0: it records every
// byte the guest sends and answers the ESC/POS real-time status request DLE EOT n
// (0x10 0x04 n, n = 1-4) with one status byte, as a printer would. printer-sim replaces
// it where receipts must be rendered.
type Recorder struct {
	// Status is the byte sent for each DLE EOT; 0x12 means "online, no error" for every n.
	Status byte

	mu    sync.Mutex
	buf   bytes.Buffer
	state int // 0 idle, 1 after DLE, 2 after DLE EOT
	done  chan struct{}
	once  sync.Once
}

// NewRecorder returns a Recorder answering status requests with 0x12.
func NewRecorder() *Recorder {
	return &Recorder{Status: 0x12, done: make(chan struct{})}
}

// Serve reads conn until it closes; use it as Printer.Serve.
func (r *Recorder) Serve(conn net.Conn) {
	defer r.once.Do(func() { close(r.done) })
	defer conn.Close()
	b := make([]byte, 4096)
	for {
		n, err := conn.Read(b)
		if n > 0 {
			if reply := r.record(b[:n]); len(reply) > 0 {
				if _, werr := conn.Write(reply); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// record appends p and returns the status replies it triggers.
func (r *Recorder) record(p []byte) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf.Write(p)
	var reply []byte
	for _, c := range p {
		switch {
		case r.state == 2 && c >= 1 && c <= 4:
			reply = append(reply, r.Status)
			r.state = 0
		case c == 0x10:
			r.state = 1
		case r.state == 1 && c == 0x04:
			r.state = 2
		default:
			r.state = 0
		}
	}
	return reply
}

// Bytes returns a copy of everything received so far.
func (r *Recorder) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// Done is closed when the connection has ended (QEMU exited).
func (r *Recorder) Done() <-chan struct{} { return r.done }
