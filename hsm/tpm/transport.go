package tpm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
)

// Default device paths, in order of preference, for an empty transport spec.
var defaultDevices = []string{"/dev/tpmrm0", "/dev/tpm0"}

// ErrBadSpec is wrapped by errors about a malformed transport spec.
var ErrBadSpec = errors.New("tpm: bad transport spec")

// maxResponse bounds a TPM response read from a socket (TPM2 responses are at most a
// few KiB; a larger size field means a broken peer).
const maxResponse = 64 << 10

// parseSpec splits a transport spec into kind and address.
func parseSpec(spec string) (kind, addr string, err error) {
	if spec == "" {
		return "auto", "", nil
	}
	kind, addr, ok := strings.Cut(spec, ":")
	if !ok || addr == "" {
		return "", "", fmt.Errorf("transport %q: want dev:PATH, tcp:HOST:PORT or unix:PATH: %w", spec, ErrBadSpec)
	}
	switch kind {
	case "dev", "unix":
		if !strings.HasPrefix(addr, "/") {
			return "", "", fmt.Errorf("transport %q: path must be absolute: %w", spec, ErrBadSpec)
		}
	case "tcp":
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return "", "", fmt.Errorf("transport %q: want tcp:HOST:PORT: %w", spec, ErrBadSpec)
		}
	default:
		return "", "", fmt.Errorf("transport %q: unknown kind %q (want dev, tcp or unix): %w", spec, kind, ErrBadSpec)
	}
	return kind, addr, nil
}

// openTransport opens the TPM named by spec. The result is not yet wrapped for retries.
func openTransport(spec string) (transport.TPMCloser, string, error) {
	kind, addr, err := parseSpec(spec)
	if err != nil {
		return nil, "", err
	}
	switch kind {
	case "auto":
		var errs []error
		for _, path := range defaultDevices {
			t, err := linuxtpm.Open(path)
			if err == nil {
				return t, "dev:" + path, nil
			}
			errs = append(errs, err)
		}
		return nil, "", fmt.Errorf("open TPM: no TPM device: %w", errors.Join(errs...))
	case "dev":
		t, err := linuxtpm.Open(addr)
		if err != nil {
			return nil, "", fmt.Errorf("open TPM %s: %w", addr, err)
		}
		return t, spec, nil
	default: // tcp, unix
		s := &streamTPM{network: kind, addr: addr}
		// Connect once now so that a wrong address fails at Open, not at the first command.
		if err := s.hold(); err != nil {
			return nil, "", fmt.Errorf("open TPM: %w", err)
		}
		s.release()
		return s, spec, nil
	}
}

// streamTPM sends raw TPM command frames over a stream socket (swtpm's data channel)
// and reads each response fully: the 10-byte header, then the size it announces.
//
// swtpm serves one connection at a time, so the connection is held only for the
// duration of one KeyStore operation (hold/release, called by device.do): other
// processes using the same swtpm wait for the operation to finish, never for the
// process to exit. A command sent outside an operation dials its own connection.
type streamTPM struct {
	network, addr string
	conn          net.Conn
	held          bool
}

const ioTimeout = 60 * time.Second // a TPM command can take seconds (key generation)

func (s *streamTPM) dial() error {
	conn, err := net.DialTimeout(s.network, s.addr, 5*time.Second)
	if err != nil {
		return err
	}
	s.conn = conn
	return nil
}

// hold opens the connection for an operation.
func (s *streamTPM) hold() error {
	s.held = true
	if s.conn != nil {
		return nil
	}
	if err := s.dial(); err != nil {
		return fmt.Errorf("tpm %s %s: %w", s.network, s.addr, err)
	}
	return nil
}

// release closes the connection at the end of an operation.
func (s *streamTPM) release() {
	s.held = false
	_ = s.Close()
}

// Send implements transport.TPM.
func (s *streamTPM) Send(cmd []byte) ([]byte, error) {
	if s.conn == nil {
		if err := s.dial(); err != nil {
			return nil, fmt.Errorf("tpm %s %s: %w", s.network, s.addr, err)
		}
	}
	rsp, err := s.roundTrip(cmd)
	if err != nil || !s.held {
		_ = s.conn.Close()
		s.conn = nil
	}
	if err != nil {
		return nil, fmt.Errorf("tpm %s %s: %w", s.network, s.addr, err)
	}
	return rsp, nil
}

func (s *streamTPM) roundTrip(cmd []byte) ([]byte, error) {
	if err := s.conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	if _, err := s.conn.Write(cmd); err != nil {
		return nil, fmt.Errorf("write command: %w", err)
	}
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(s.conn, hdr); err != nil {
		return nil, fmt.Errorf("read response header: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > maxResponse {
		return nil, fmt.Errorf("response size %d out of range [10, %d]", size, maxResponse)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr)
	if _, err := io.ReadFull(s.conn, rsp[10:]); err != nil {
		return nil, fmt.Errorf("read response body (%d bytes): %w", size-10, err)
	}
	return rsp, nil
}

// Close implements io.Closer.
func (s *streamTPM) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// retryPolicy bounds the resending of commands the TPM asked to retry.
type retryPolicy struct {
	first, max, total time.Duration
}

var defaultRetry = retryPolicy{first: 2 * time.Millisecond, max: 250 * time.Millisecond, total: 20 * time.Second}

// retryTPM resends a command while the TPM answers TPM_RC_RETRY, TPM_RC_YIELDED or
// TPM_RC_TESTING (the first ECDSA use after a swtpm start answers RETRY while the
// self-test runs; /dev/tpmrm0 retries by itself, sockets do not). The TPM has not
// executed the command in those cases, sessions included, so resending the same bytes
// is correct.
type retryTPM struct {
	t      transport.TPMCloser
	policy retryPolicy
	sleep  func(time.Duration)
}

func (r *retryTPM) Send(cmd []byte) ([]byte, error) {
	delay, waited := r.policy.first, time.Duration(0)
	for {
		rsp, err := r.t.Send(cmd)
		if err != nil {
			return nil, err
		}
		if len(rsp) < 10 {
			return nil, fmt.Errorf("tpm: response of %d bytes is shorter than its header", len(rsp))
		}
		rc := tpm2.TPMRC(binary.BigEndian.Uint32(rsp[6:10]))
		if !isRetryable(rc) || waited >= r.policy.total {
			return rsp, nil
		}
		r.sleep(delay)
		waited += delay
		delay = min(2*delay, r.policy.max)
	}
}

func (r *retryTPM) Close() error { return r.t.Close() }

func isRetryable(rc tpm2.TPMRC) bool {
	return rc == tpm2.TPMRCRetry || rc == tpm2.TPMRCYielded || rc == tpm2.TPMRCTesting
}

// device is the one TPM connection of a KeyStore. Every operation, however many
// commands it takes, runs under mu, so that operations never interleave (TPMs without
// a resource manager have three transient object slots).
type device struct {
	mu     sync.Mutex
	tpm    transport.TPMCloser
	stream *streamTPM // nil for kernel devices
	spec   string
	closed bool
}

func openDevice(spec string) (*device, error) {
	t, resolved, err := openTransport(spec)
	if err != nil {
		return nil, err
	}
	d := &device{tpm: &retryTPM{t: t, policy: defaultRetry, sleep: time.Sleep}, spec: resolved}
	d.stream, _ = t.(*streamTPM)
	return d, nil
}

// do runs fn with exclusive use of the TPM.
func (d *device) do(fn func(t transport.TPM) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if d.stream != nil {
		if err := d.stream.hold(); err != nil {
			return err
		}
		defer d.stream.release()
	}
	return fn(d.tpm)
}

func (d *device) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.tpm.Close()
}
