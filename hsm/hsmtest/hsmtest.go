// Package hsmtest owns test helpers for the hsm packages and their users: it starts a
// private swtpm (the same software TPM QEMU uses) on loopback TCP or on a unix socket,
// waits until it answers a TPM command, restarts it on the same state directory, and
// kills it when the test ends.
//
// It works from linux/arm64 and linux/arm test binaries under qemu-user too: the host's
// swtpm binary is exec'd as a native process. It imports only the standard library (it
// must not import hsm/tpm, whose tests use it). The daemon never links it.
package hsmtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SWTPM is a private swtpm process serving one test.
type SWTPM struct {
	t        testing.TB
	stateDir string
	network  string // "tcp" or "unix"
	dataAddr string // host:port or socket path
	ctrlAddr string
	sockDir  string

	mu     sync.Mutex
	proc   *os.Process
	exited <-chan error // receives cmd.Wait's result
	log    *syncBuffer
}

// syncBuffer collects swtpm's output; exec copies into it from its own goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// StartSWTPM starts swtpm with its TPM state in stateDir (created if missing), its data
// channel on a free loopback TCP port, and returns once it answers TPM2_GetRandom.
// Spec returns the transport spec for hsm/tpm ("tcp:127.0.0.1:PORT"). The process is
// killed in t.Cleanup.
func StartSWTPM(t testing.TB, stateDir string) *SWTPM {
	t.Helper()
	s := &SWTPM{t: t, stateDir: stateDir, network: "tcp"}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// StartSWTPMUnix is StartSWTPM with the data channel on a unix socket
// (Spec returns "unix:/path").
func StartSWTPMUnix(t testing.TB, stateDir string) *SWTPM {
	t.Helper()
	// t.TempDir paths can exceed the 108-byte sun_path limit; use a short /tmp dir.
	dir, err := os.MkdirTemp("", "swtpm")
	if err != nil {
		t.Fatalf("hsmtest: %v", err)
	}
	s := &SWTPM{t: t, stateDir: stateDir, network: "unix", sockDir: dir,
		dataAddr: filepath.Join(dir, "data.sock"), ctrlAddr: filepath.Join(dir, "ctrl.sock")}
	s.start()
	t.Cleanup(func() {
		s.Stop()
		_ = os.RemoveAll(dir)
	})
	return s
}

// Spec is the hsm/tpm transport spec of this swtpm.
func (s *SWTPM) Spec() string { return s.network + ":" + s.dataAddr }

// StateDir is the swtpm state directory.
func (s *SWTPM) StateDir() string { return s.stateDir }

// PID is the process id of the running swtpm (0 when stopped).
func (s *SWTPM) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.Pid
}

// Restart kills swtpm with SIGKILL (as a power cut would) and starts it again on the same
// state directory and address. Transient objects and sessions are gone afterwards;
// persistent state (seeds, NV, persistent handles) survives.
func (s *SWTPM) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Stop kills swtpm and waits for it. It is safe to call more than once.
func (s *SWTPM) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.Signal(syscall.SIGKILL)
	<-s.exited
	s.proc, s.exited = nil, nil
}

func (s *SWTPM) start() {
	s.t.Helper()
	if err := os.MkdirAll(s.stateDir, 0o700); err != nil {
		s.t.Fatalf("hsmtest: state dir: %v", err)
	}
	bin, err := exec.LookPath("swtpm")
	if err != nil {
		s.t.Fatalf("hsmtest: swtpm not installed (apt-get install swtpm swtpm-tools): %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if lastErr = s.startOnce(bin); lastErr == nil {
			return
		}
		if s.network == "tcp" && attempt < 4 {
			s.dataAddr, s.ctrlAddr = "", "" // the ports may have been taken meanwhile: pick others
			continue
		}
		break
	}
	s.t.Fatalf("hsmtest: start swtpm: %v", lastErr)
}

func (s *SWTPM) startOnce(bin string) error {
	var server, ctrl string
	switch s.network {
	case "tcp":
		if s.dataAddr == "" {
			data, err := freePort()
			if err != nil {
				return err
			}
			c, err := freePort()
			if err != nil {
				return err
			}
			s.dataAddr, s.ctrlAddr = fmt.Sprintf("127.0.0.1:%d", data), fmt.Sprintf("127.0.0.1:%d", c)
		}
		server = "type=tcp,port=" + portOf(s.dataAddr) + ",bindaddr=127.0.0.1"
		ctrl = "type=tcp,port=" + portOf(s.ctrlAddr) + ",bindaddr=127.0.0.1"
	case "unix":
		_ = os.Remove(s.dataAddr)
		_ = os.Remove(s.ctrlAddr)
		server = "type=unixio,path=" + s.dataAddr
		ctrl = "type=unixio,path=" + s.ctrlAddr
	}
	cmd := exec.Command(bin, "socket", "--tpm2",
		"--tpmstate", "dir="+s.stateDir,
		"--server", server, "--ctrl", ctrl,
		"--flags", "not-need-init,startup-clear")
	log := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec swtpm: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("swtpm exited early (%v): %s", err, strings.TrimSpace(log.String()))
		default:
		}
		if err := ping(s.network, s.dataAddr); err == nil {
			break
		} else if time.Now().After(deadline) {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			return fmt.Errorf("swtpm does not answer on %s: %v; log: %s", s.dataAddr, err, strings.TrimSpace(log.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	s.proc, s.exited, s.log = cmd.Process, exited, log
	s.mu.Unlock()
	return nil
}

// Log returns what swtpm wrote to stdout and stderr so far.
func (s *SWTPM) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// getRandom8 is TPM2_GetRandom(8) without sessions.
var getRandom8 = []byte{0x80, 0x01, 0, 0, 0, 0x0c, 0, 0, 0x01, 0x7b, 0, 8}

// ping sends TPM2_GetRandom and checks for a successful response.
func ping(network, addr string) error {
	conn, err := net.DialTimeout(network, addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write(getRandom8); err != nil {
		return err
	}
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(conn, hdr); err != nil {
		return err
	}
	if rc := binary.BigEndian.Uint32(hdr[6:]); rc != 0 {
		return fmt.Errorf("TPM2_GetRandom: response code %#x", rc)
	}
	rest := make([]byte, int(binary.BigEndian.Uint32(hdr[2:]))-10)
	_, err = io.ReadFull(conn, rest)
	return err
}

// Ping sends TPM2_GetRandom to the TPM behind a "tcp:" or "unix:" spec and reports
// whether it answered successfully.
func Ping(spec string) error {
	network, addr, ok := strings.Cut(spec, ":")
	if !ok || (network != "tcp" && network != "unix") {
		return fmt.Errorf("hsmtest ping: spec %q is not tcp:ADDR or unix:PATH", spec)
	}
	return ping(network, addr)
}
