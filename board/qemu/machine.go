package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/posagent/posagent/board/qemu/plan"
)

// Machine describes one boot of the arm64 test guest.
type Machine struct {
	// Assets are the kernel and modules (LoadAssets or Setup).
	Assets Assets
	// Initrd is the gzip cpio built with Guest.Build (or Initramfs).
	Initrd string
	// Plan is the plan testinit runs (TESTINIT_PLAN).
	Plan string
	// Env adds KEY=value boot parameters; testinit hands them to every step as
	// environment variables. Values must not contain spaces, keys not ".": the kernel
	// takes "a.b=c" for a module parameter and keeps it from init.
	Env []string
	// Disk is a raw disk image (MakeDisk) attached as virtio-blk (/dev/vda); "" for none.
	Disk string
	// TPMState is the swtpm state directory; "" for no TPM. A new swtpm is started for
	// each boot on this directory, so the TPM's persistent state survives reboots and
	// power cuts as a real TPM's would.
	TPMState string
	// Printer wires the guest's /dev/ttyS0; nil for none.
	Printer *Printer
	// Network attaches virtio-net with QEMU user networking: the guest is 10.0.2.15 and
	// reaches the host's 127.0.0.1 services at 10.0.2.2.
	Network bool
	// CPU, SMP and Memory default to cortex-a53, 1 and 512M.
	CPU    string
	SMP    int
	Memory string
	// Timeout bounds the whole boot (default 3 minutes); QEMU is killed when it expires.
	Timeout time.Duration
	// CutWhen, when set, is called with every console line; when it returns true QEMU
	// and swtpm are killed with SIGKILL at once: a power cut.
	CutWhen func(line string) bool
	// Console, when set, receives the console output as it arrives.
	Console io.Writer
	// WorkDir holds the sockets and logs (console.log, swtpm.log); "" makes a temp dir
	// under /tmp (unix socket paths must stay under 108 bytes).
	WorkDir string
	// Logger receives progress; nil means slog.Default().
	Logger *slog.Logger
}

// Printer is the host side of the guest's PCI 16550 (/dev/ttyS0), a unix socket.
type Printer struct {
	// Socket is the unix socket path.
	Socket string
	// Dial makes QEMU connect to Socket, where a printer (printer-sim) already listens.
	// Otherwise QEMU listens on Socket and holds the guest until the host side connects,
	// so no byte is lost; Serve, when set, is that host side (the harness connects and
	// hands it the connection), else another process must connect.
	Dial  bool
	Serve func(net.Conn)
}

// Result is what one boot did.
type Result struct {
	plan.Result
	// Console is everything the guest printed (kernel and steps).
	Console string
	// Cut is true when CutWhen fired; CutLine is the line that fired it.
	Cut     bool
	CutLine string
	// TimedOut is true when Timeout expired first.
	TimedOut bool
	// Wall is the time from starting QEMU to its exit; CPU is the CPU time QEMU used
	// (user + system), which says how long the boot takes on an idle host.
	Wall, CPU time.Duration
	// ConsoleLog is the path of the console log.
	ConsoleLog string
}

// ErrGuestFailed is wrapped by Result.Err.
var ErrGuestFailed = errors.New("qemu: guest run failed")

// Err is nil when the boot ended with "TESTINIT DONE fail=0" and no step failed.
func (r *Result) Err() error {
	switch {
	case r.TimedOut:
		return fmt.Errorf("%w: timed out after %v (console %s)", ErrGuestFailed, r.Wall.Round(time.Millisecond), r.ConsoleLog)
	case r.Cut:
		return fmt.Errorf("%w: power cut at %q", ErrGuestFailed, r.CutLine)
	case !r.Done:
		return fmt.Errorf("%w: no %q line (console %s)", ErrGuestFailed, plan.DonePrefix, r.ConsoleLog)
	case r.Fail != 0 || len(r.Failed) != 0:
		return fmt.Errorf("%w: fail=%d, failed steps %v (console %s)", ErrGuestFailed, r.Fail, r.Failed, r.ConsoleLog)
	}
	return nil
}

func (m *Machine) defaults() error {
	if m.CPU == "" {
		m.CPU = "cortex-a53"
	}
	if m.SMP == 0 {
		m.SMP = 1
	}
	if m.Memory == "" {
		m.Memory = "512M"
	}
	if m.Timeout == 0 {
		m.Timeout = 3 * time.Minute
	}
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	if m.Assets.Kernel == "" || m.Initrd == "" || m.Plan == "" {
		return errors.New("qemu boot: Assets, Initrd and Plan are required")
	}
	for _, e := range m.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" || strings.Contains(k, ".") || strings.ContainsAny(e, " \t\n\"") {
			return fmt.Errorf("qemu boot: Env %q: want KEY=value without spaces or quotes, and no \".\" in KEY", e)
		}
	}
	return nil
}

// args returns the qemu-system-aarch64 arguments.
func (m *Machine) args(swtpmCtrl string) []string {
	appendLine := append([]string{"console=ttyAMA0", "panic=-1", "quiet", "TESTINIT_PLAN=" + m.Plan}, m.Env...)
	a := []string{
		"-machine", "virt", "-cpu", m.CPU, "-smp", fmt.Sprint(m.SMP), "-m", m.Memory,
		"-nographic", "-monitor", "none", "-no-reboot",
		"-kernel", m.Assets.Kernel, "-initrd", m.Initrd, "-append", strings.Join(appendLine, " "),
		"-device", "virtio-rng-pci",
	}
	if m.Network {
		a = append(a, "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,romfile=")
	} else {
		a = append(a, "-nic", "none")
	}
	if p := m.Printer; p != nil {
		chardev := "socket,id=prn,path=" + p.Socket
		if !p.Dial {
			chardev += ",server=on,wait=on"
		}
		a = append(a, "-chardev", chardev, "-device", "pci-serial,chardev=prn")
	}
	if swtpmCtrl != "" {
		a = append(a, "-chardev", "socket,id=chrtpm,path="+swtpmCtrl,
			"-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis-device,tpmdev=tpm0")
	}
	if m.Disk != "" {
		a = append(a, "-drive", "file="+m.Disk+",format=raw,if=none,id=d0,cache=writeback",
			"-device", "virtio-blk-pci,drive=d0")
	}
	return a
}

// Boot runs the machine to its end (poweroff, power cut or timeout). The error is about
// the harness (QEMU or swtpm would not start); what the guest did is in the Result.
func (m *Machine) Boot(ctx context.Context) (*Result, error) {
	if err := m.defaults(); err != nil {
		return nil, err
	}
	work := m.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "pq")
		if err != nil {
			return nil, fmt.Errorf("qemu boot: %w", err)
		}
		defer os.RemoveAll(d)
		work = d
	}
	log := m.Logger.With("subsystem", "qemu", "plan", m.Plan)
	ctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()

	var tpm *swtpm
	if m.TPMState != "" {
		var err error
		if tpm, err = startSWTPM(ctx, m.TPMState, work); err != nil {
			return nil, err
		}
		defer tpm.kill()
	}
	res := &Result{ConsoleLog: filepath.Join(work, "console.log")}
	logFile, err := os.Create(res.ConsoleLog)
	if err != nil {
		return nil, fmt.Errorf("qemu boot: %w", err)
	}
	defer logFile.Close()

	ctrl := ""
	if tpm != nil {
		ctrl = tpm.ctrl
	}
	cmd := exec.Command("qemu-system-aarch64", m.args(ctrl)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("qemu boot: %w", err)
	}
	cmd.Stderr = cmd.Stdout // QEMU's own messages interleave with the console
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu boot: start qemu-system-aarch64: %w", err)
	}
	log.Debug("qemu started", "pid", cmd.Process.Pid, "args", strings.Join(cmd.Args, " "))

	var cutOnce sync.Once
	powerCut := func(line string) {
		cutOnce.Do(func() {
			_ = cmd.Process.Kill()
			if tpm != nil {
				tpm.kill()
			}
			res.Cut, res.CutLine = true, line
			log.Info("power cut", "line", line)
		})
	}
	var console strings.Builder
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				_, _ = io.WriteString(logFile, line)
				if m.Console != nil {
					_, _ = io.WriteString(m.Console, line)
				}
				console.WriteString(line)
				if m.CutWhen != nil && !res.Cut && m.CutWhen(strings.TrimRight(line, "\r\n")) {
					powerCut(strings.TrimRight(line, "\r\n"))
				}
			}
			if err != nil {
				return
			}
		}
	}()
	waitDone := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		close(exited)
		waitDone <- err
	}()
	if p := m.Printer; p != nil && !p.Dial && p.Serve != nil {
		go servePrinter(ctx, p.Socket, p.Serve, exited)
	}
	var waitErr, ctxErr error
	select {
	case waitErr = <-waitDone:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		waitErr = <-waitDone
		ctxErr = ctx.Err()
	}
	timedOut := errors.Is(ctxErr, context.DeadlineExceeded)
	res.Wall = time.Since(start)
	if ps := cmd.ProcessState; ps != nil {
		res.CPU = ps.UserTime() + ps.SystemTime()
	}
	<-consoleDone // after this, only this goroutine touches res
	res.TimedOut = timedOut && !res.Cut
	res.Console = console.String()
	res.Result = plan.ParseConsole(res.Console)
	log.Info("qemu exited", "wall", res.Wall.Round(time.Millisecond), "cpu", res.CPU.Round(time.Millisecond),
		"done", res.Done, "fail", res.Fail, "cut", res.Cut, "timed_out", res.TimedOut, "exit", waitErr)
	if ctxErr != nil && !timedOut && !res.Cut {
		return res, fmt.Errorf("qemu boot: %w", ctxErr)
	}
	if waitErr != nil && !res.Cut && !res.TimedOut {
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			// QEMU refused to start (bad argument, missing file): its message is on the console.
			return res, fmt.Errorf("qemu boot: qemu-system-aarch64: %w: %s", waitErr, lastLines(res.Console, 5))
		}
		return res, fmt.Errorf("qemu boot: %w", waitErr)
	}
	return res, nil
}

// servePrinter connects to QEMU's printer socket once QEMU listens, and serves it.
func servePrinter(ctx context.Context, socket string, serve func(net.Conn), exited <-chan struct{}) {
	for {
		conn, err := net.DialTimeout("unix", socket, time.Second)
		if err == nil {
			serve(conn)
			return
		}
		select {
		case <-exited:
			return
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// swtpm is the software TPM behind QEMU's tpm-tis-device.
type swtpm struct {
	cmd  *exec.Cmd
	ctrl string
	once sync.Once
	done chan struct{}
}

// startSWTPM starts swtpm on stateDir with its control socket in work, and waits until
// the socket accepts a connection (the file exists a moment before swtpm listens). QEMU
// drives the TPM's power-on and init through that socket. swtpm runs until kill: a
// --terminate swtpm would exit after the readiness probe's connection.
func startSWTPM(ctx context.Context, stateDir, work string) (*swtpm, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("qemu swtpm: %w", err)
	}
	s := &swtpm{ctrl: filepath.Join(work, "swtpm.sock"), done: make(chan struct{})}
	_ = os.Remove(s.ctrl)
	s.cmd = exec.Command("swtpm", "socket", "--tpm2",
		"--tpmstate", "dir="+stateDir,
		"--ctrl", "type=unixio,path="+s.ctrl,
		"--log", "file="+filepath.Join(work, "swtpm.log")+",level=1")
	out, err := os.Create(filepath.Join(work, "swtpm.out"))
	if err != nil {
		return nil, fmt.Errorf("qemu swtpm: %w", err)
	}
	defer out.Close()
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu swtpm: start: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if conn, err := net.Dial("unix", s.ctrl); err == nil {
			conn.Close()
			return s, nil
		}
		select {
		case <-s.done:
			msg, _ := os.ReadFile(out.Name())
			return nil, fmt.Errorf("qemu swtpm: exited before listening: %s", msg)
		case <-ctx.Done():
			s.kill()
			return nil, fmt.Errorf("qemu swtpm: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			return nil, errors.New("qemu swtpm: control socket did not appear within 10s")
		}
	}
}

// kill stops swtpm with SIGKILL and waits for it.
func (s *swtpm) kill() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})
}
