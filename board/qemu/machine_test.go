package qemu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/board/qemu/plan"
)

func TestMachineArgs(t *testing.T) {
	m := Machine{
		Assets: Assets{Kernel: "/k/vmlinuz"}, Initrd: "/b/initrd.gz", Plan: "smoke",
		Env: []string{"HOST_PORT=8080"}, Disk: "/b/state.img", Network: true,
		Printer: &Printer{Socket: "/tmp/p/prn.sock"},
	}
	if err := m.defaults(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(m.args("/tmp/p/swtpm.sock"), " ")
	for _, want := range []string{
		"-machine virt -cpu cortex-a53 -smp 1 -m 512M -nographic -monitor none -no-reboot",
		"-kernel /k/vmlinuz -initrd /b/initrd.gz -append console=ttyAMA0 panic=-1 quiet TESTINIT_PLAN=smoke HOST_PORT=8080",
		"-netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile=",
		"-chardev socket,id=prn,path=/tmp/p/prn.sock,server=on,wait=on -device pci-serial,chardev=prn",
		"-chardev socket,id=chrtpm,path=/tmp/p/swtpm.sock -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis-device,tpmdev=tpm0",
		"-drive file=/b/state.img,format=raw,if=none,id=d0,cache=writeback -device virtio-blk-pci,drive=d0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args lack %q:\n%s", want, got)
		}
	}
	m.Network, m.Printer.Dial, m.Disk = false, true, ""
	got = strings.Join(m.args(""), " ")
	for _, bad := range []string{"tpmdev", "virtio-blk", "server=on", "netdev"} {
		if strings.Contains(got, bad) {
			t.Errorf("args contain %q:\n%s", bad, got)
		}
	}
	if !strings.Contains(got, "-nic none") || !strings.Contains(got, "-chardev socket,id=prn,path=/tmp/p/prn.sock -device") {
		t.Errorf("args without network, with a dialing printer:\n%s", got)
	}
}

func TestMachineDefaultsRejects(t *testing.T) {
	base := Machine{Assets: Assets{Kernel: "/k"}, Initrd: "/i", Plan: "p"}
	for name, edit := range map[string]func(*Machine){
		"no kernel":     func(m *Machine) { m.Assets.Kernel = "" },
		"no plan":       func(m *Machine) { m.Plan = "" },
		"env no equals": func(m *Machine) { m.Env = []string{"X"} },
		"env space":     func(m *Machine) { m.Env = []string{"X=a b"} },
		"env empty key": func(m *Machine) { m.Env = []string{"=a"} },
		"env dotted":    func(m *Machine) { m.Env = []string{"mod.param=1"} },
	} {
		m := base
		edit(&m)
		if _, err := m.Boot(context.Background()); err == nil {
			t.Errorf("%s: Boot accepted the machine", name)
		}
	}
}

func TestResultErr(t *testing.T) {
	ok := Result{Result: plan.Result{Done: true, Passed: []string{"a"}}}
	if err := ok.Err(); err != nil {
		t.Fatalf("clean run: %v", err)
	}
	for name, r := range map[string]Result{
		"timeout":     {Result: plan.Result{Done: true}, TimedOut: true},
		"cut":         {Result: plan.Result{Done: true}, Cut: true, CutLine: "COMMITTED 4"},
		"no done":     {Result: plan.Result{Passed: []string{"a"}}},
		"fail count":  {Result: plan.Result{Done: true, Fail: 1}},
		"failed step": {Result: plan.Result{Done: true, Failed: []string{"b"}}},
	} {
		if err := r.Err(); !errors.Is(err, ErrGuestFailed) {
			t.Errorf("%s: Err = %v, want ErrGuestFailed", name, err)
		}
	}
}

func TestRecorder(t *testing.T) {
	dir, err := os.MkdirTemp("", "rec")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "p.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rec := NewRecorder()
	go func() {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return
		}
		rec.Serve(conn)
	}()
	guest, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// ESC @, text, DLE EOT 1, a DLE EOT 4 split across writes, DLE EOT 9 (not a status
	// request), and a cut.
	writes := [][]byte{{0x1b, '@'}, []byte("hello\n"), {0x10, 0x04, 0x01}, {0x10}, {0x04}, {0x04}, {0x10, 0x04, 0x09}, {0x1d, 'V', 66, 0}}
	var all []byte
	for _, w := range writes {
		if _, err := guest.Write(w); err != nil {
			t.Fatal(err)
		}
		all = append(all, w...)
		time.Sleep(5 * time.Millisecond) // separate reads on the recorder's side
	}
	reply := make([]byte, 8)
	if err := guest.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := io.ReadAtLeast(guest, reply, 2)
	if err != nil || !bytes.Equal(reply[:n], []byte{0x12, 0x12}) {
		t.Fatalf("status replies %x, %v; want 12 12", reply[:n], err)
	}
	guest.Close()
	select {
	case <-rec.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("recorder did not see the connection end")
	}
	if got := rec.Bytes(); !bytes.Equal(got, all) {
		t.Fatalf("recorded %x, want %x", got, all)
	}
}

func TestLoadAssets(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadAssets(dir); !errors.Is(err, ErrNoAssets) {
		t.Fatalf("empty dir: %v", err)
	}
	for p, c := range map[string]string{".complete": "", "vmlinuz": "k", "modules/order": "a.ko\n", "kernel.env": "ABI=6.1.0-56-arm64\nKVER=6.1.192-2\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, err := LoadAssets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.ABI != "6.1.0-56-arm64" || a.Kernel != filepath.Join(dir, "vmlinuz") || a.Modules != filepath.Join(dir, "modules") {
		t.Fatalf("assets %+v", a)
	}
	if err := os.Remove(filepath.Join(dir, ".complete")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAssets(dir); !errors.Is(err, ErrNoAssets) {
		t.Fatalf("incomplete dir: %v", err)
	}
}

// TestSWTPM starts the vTPM backend as Boot does and checks it listens (also after a
// first connection, as startSWTPM's probe is one), then dies on kill.
func TestSWTPM(t *testing.T) {
	work, err := os.MkdirTemp("", "pq")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	s, err := startSWTPM(context.Background(), filepath.Join(t.TempDir(), "state"), work)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		conn, err := net.Dial("unix", s.ctrl)
		if err != nil {
			s.kill()
			t.Fatalf("control socket, connection %d: %v", i+1, err)
		}
		conn.Close()
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-s.done:
		t.Fatal("swtpm exited after its control connections closed")
	default:
	}
	s.kill()
	select {
	case <-s.done:
	default:
		t.Fatal("swtpm still running after kill")
	}
	s.kill() // idempotent
}
