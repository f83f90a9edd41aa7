package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/printer"
	"github.com/posagent/posagent/printer/escpos"
	"github.com/posagent/posagent/printer/printertest"
	"github.com/posagent/posagent/printer/serialport"
)

// started runs printer-sim with args and returns the announced lines by
// their first word ("admin", "pty", "socket").
func started(t *testing.T, args []string, sigs chan os.Signal) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, pw, io.Discard, sigs)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("printer-sim did not stop")
		}
	})
	want := 2 // the device and the admin address
	for i, a := range args {
		if a == "-admin" && i+1 < len(args) && args[i+1] == "" {
			want = 1
		}
	}
	lines := map[string]string{}
	sc := bufio.NewScanner(pr)
	for len(lines) < want && sc.Scan() {
		f := strings.Fields(sc.Text())
		lines[f[0]] = strings.Join(f[1:], " ")
	}
	go io.Copy(io.Discard, pr)
	return lines
}

func getStatus(t *testing.T, admin string) statusJSON {
	t.Helper()
	resp, err := http.Get(admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st statusJSON
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func post(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPTYAdminAndSignals(t *testing.T) {
	dir := t.TempDir()
	link, out := filepath.Join(dir, "printer"), filepath.Join(dir, "out")
	sigs := make(chan os.Signal, 1)
	lines := started(t, []string{"-paper", "58", "-link", link, "-out", out, "-admin", "127.0.0.1:0"}, sigs)
	admin := lines["admin"]
	if !strings.HasPrefix(admin, "http://127.0.0.1:") || !strings.Contains(lines["pty"], "link "+link) {
		t.Fatalf("announced %v", lines)
	}
	cfg := serialport.DefaultConfig()
	cfg.Device = link
	cfg.Profile = escpos.Profile58()
	p, err := serialport.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := p.Print(ctx, printertest.SimpleSale()); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(out, "receipt-0001.png"))
	f, err := os.Open(filepath.Join(out, "receipt-0001.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 384 || img.Bounds().Dy() < 1000 {
		t.Fatalf("receipt image %v, %v", img.Bounds(), err)
	}

	if code := post(t, admin+"/state?paper=out"); code != http.StatusOK {
		t.Fatalf("POST /state: %d", code)
	}
	if err := p.Print(ctx, printertest.SimpleSale()); !errors.Is(err, printer.ErrPaperOut) {
		t.Fatalf("print with paper out: %v", err)
	}
	sigs <- syscall.SIGUSR1 // paper back
	deadline := time.Now().Add(5 * time.Second)
	for getStatus(t, admin).PaperOut {
		if time.Now().After(deadline) {
			t.Fatal("SIGUSR1 did not toggle paper out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Print(ctx, printertest.CreditNote()); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(out, "receipt-0002.png"))

	sigs <- syscall.SIGUSR2
	for !getStatus(t, admin).CoverOpen {
		time.Sleep(10 * time.Millisecond)
	}
	if st, err := p.Status(ctx); err != nil || !st.CoverOpen {
		t.Fatalf("status %+v %v", st, err)
	}
	if code := post(t, admin+"/state?cover=ajar"); code != http.StatusBadRequest {
		t.Fatalf("bad state accepted: %d", code)
	}
	if st := getStatus(t, admin); st.Stats.Pages != 2 || st.Stats.StatusReplies == 0 {
		t.Fatalf("status %+v", st)
	}
}

// The socket transport, as QEMU's -chardev socket uses it.
func TestSocket(t *testing.T) {
	dir := t.TempDir()
	sock, out := filepath.Join(dir, "p.sock"), filepath.Join(dir, "out")
	lines := started(t, []string{"-socket", sock, "-out", out, "-admin", ""}, nil)
	if lines["socket"] != sock {
		t.Fatalf("announced %v", lines)
	}
	e, err := escpos.NewEncoder(escpos.Profile80())
	if err != nil {
		t.Fatal(err)
	}
	job, err := e.Encode(printertest.Reprint())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(append(job.Data, escpos.StatusRequest(escpos.StatusPrinter)...)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 0x12 {
		t.Fatalf("status answer %#x, %v", b[0], err)
	}
	waitFile(t, filepath.Join(out, "receipt-0001.png"))
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-admin", "0.0.0.0:9101"},
		{"-admin", "192.168.1.5:80"},
		{"-paper", "76"},
		{"-socket", "/tmp/x.sock", "-link", "/tmp/y"},
		{"stray"},
	} {
		err := run(context.Background(), args, io.Discard, io.Discard, nil)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	var help strings.Builder
	if err := run(context.Background(), []string{"-h"}, io.Discard, &help, nil); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"SIGUSR1", "paper=out", "-chardev socket", "-link"} {
		if !strings.Contains(help.String(), w) {
			t.Errorf("-h does not mention %q", w)
		}
	}
}
