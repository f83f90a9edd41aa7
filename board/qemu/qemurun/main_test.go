package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posagent/posagent/board/qemu"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

// fakeAssets is an asset cache with the files LoadAssets requires; the kernel is not
// bootable, which these tests never need.
func fakeAssets(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	dir := filepath.Join(cache, "6.1.0-1-arm64")
	for p, c := range map[string]string{".complete": "", "vmlinuz": "k", "modules/order": "a.ko\n", "modules/a.ko": "ko",
		"kernel.env": "ABI=6.1.0-1-arm64\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("6.1.0-1-arm64", filepath.Join(cache, "current")); err != nil {
		t.Fatal(err)
	}
	return cache
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil, {"frobnicate"}, {"disk"}, {"initrd", "-o", "x"},
		{"boot", "-cache", t.TempDir(), "-initrd", "i", "-plan", "p"},
		{"boot", "-cut-on", "(", "-initrd", "i", "-plan", "p"},
		{"boot", "-printer-socket", "/tmp/x.sock", "-printer-out", "f", "-printer-dial", "-initrd", "i", "-plan", "p"},
	} {
		if out, err := runCLI(t, args...); err == nil {
			t.Errorf("qemurun %v: no error\n%s", args, out)
		}
	}
	_, err := runCLI(t, "boot", "-cache", t.TempDir(), "-initrd", "i", "-plan", "p")
	if !errors.Is(err, qemu.ErrNoAssets) {
		t.Errorf("boot without assets: %v, want ErrNoAssets", err)
	}
}

func TestDiskAndInitrd(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "state.img")
	if out, err := runCLI(t, "disk", "-o", img, "-size", "16"); err != nil {
		t.Fatalf("disk: %v\n%s", err, out)
	}
	if err := qemu.CheckDisk(context.Background(), img); err != nil {
		t.Fatal(err)
	}

	// An AArch64 ELF header is all Guest.Build checks of /init.
	init := filepath.Join(dir, "testinit")
	hdr := make([]byte, 64)
	copy(hdr, "\x7fELF\x02\x01\x01")
	hdr[18] = 183
	if err := os.WriteFile(init, hdr, 0o755); err != nil {
		t.Fatal(err)
	}
	plans := filepath.Join(dir, "plans.json")
	if err := os.WriteFile(plans, []byte(`{"plans": {"p": [{"name": "x", "args": ["/bin/x"]}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "initrd.gz")
	if o, err := runCLI(t, "initrd", "-cache", fakeAssets(t), "-o", out, "-init", init, "-plans", plans,
		"-file", "/bin/x="+plans, "-tree", "/src/testdata="+dir, "-machine-id", "00112233445566778899aabbccddeeff"); err != nil {
		t.Fatalf("initrd: %v\n%s", err, o)
	}
	list, err := exec.Command("sh", "-c", "gzip -dc '"+out+"' | cpio -it --quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("list: %v\n%s", err, list)
	}
	for _, want := range []string{"init", "modules/order", "modules/a.ko", "testinit/plans.json", "etc/machine-id",
		"bin/x", "src/testdata/plans.json", "dev/console"} {
		if !strings.Contains("\n"+string(list), "\n"+want+"\n") {
			t.Errorf("initramfs lacks %s:\n%s", want, list)
		}
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"plans": {"p": [{"name": "x", "args": ["x"]}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "initrd", "-cache", fakeAssets(t), "-o", out, "-init", init, "-plans", bad); err == nil {
		t.Error("initrd accepted a plan with a relative program")
	}
}
