package qemu

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func buildSample(t *testing.T) (*Initramfs, string) {
	t.Helper()
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "prog"), []byte("#!/bin/sh\necho hi\n"), 0o750); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(host, "tree")
	for p, c := range map[string]string{"a/b.txt": "bee", "c.txt": strings.Repeat("x", 4097)} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(tree, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tree, p), []byte(c), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("c.txt", filepath.Join(tree, "link")); err != nil {
		t.Fatal(err)
	}
	a := NewInitramfs()
	for _, err := range []error{
		a.AddFile("/etc/plan.json", 0o644, []byte(`{"x":1}`)),
		a.AddFile("odd", 0o600, []byte("12345")), // not a multiple of 4: padding
		a.AddHostFile("/init", filepath.Join(host, "prog")),
		a.AddHostTree("/src/testdata", tree),
		a.AddSymlink("/bin/sh", "/init"),
		a.AddDir("/var/lib/posagent", 0o700),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return a, host
}

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestInitramfsWithCpio checks the archive with GNU cpio: the listing (types, modes,
// device numbers) and the extracted content.
func TestInitramfsWithCpio(t *testing.T) {
	a, _ := buildSample(t)
	var buf bytes.Buffer
	if _, err := a.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	raw := gunzip(t, buf.Bytes())
	if len(raw)%4 != 0 || !bytes.HasPrefix(raw, []byte("070701")) {
		t.Fatalf("not a newc stream: %d bytes, starts %q", len(raw), raw[:6])
	}

	list := exec.Command("cpio", "-itv", "--quiet")
	list.Stdin = bytes.NewReader(raw)
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -itv: %v\n%s", err, out)
	}
	listing := string(out)
	for _, re := range []string{
		`(?m)^crw-------\s+1 root\s+root\s+5,\s+1 .* dev/console$`,
		`(?m)^crw-rw-rw-\s+1 root\s+root\s+1,\s+3 .* dev/null$`,
		`(?m)^-rwxr-x---\s+1 root\s+root\s+18 .* init$`,
		`(?m)^lrwxrwxrwx .* bin/sh -> /init$`,
		`(?m)^drwx------\s+2 root\s+root .* var/lib/posagent$`,
		`(?m)^drwxr-xr-x .* src$`, // parents are made
		`(?m)^lrwxrwxrwx .* src/testdata/link -> c.txt$`,
	} {
		if !regexp.MustCompile(re).MatchString(listing) {
			t.Errorf("listing has no line matching %s:\n%s", re, listing)
		}
	}

	dst := t.TempDir()
	extract := exec.Command("cpio", "-id", "--quiet", "--no-absolute-filenames", "-f", "dev/*")
	extract.Dir, extract.Stdin = dst, bytes.NewReader(raw)
	if out, err := extract.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v\n%s", err, out)
	}
	for p, want := range map[string]string{
		"etc/plan.json": `{"x":1}`, "odd": "12345", "init": "#!/bin/sh\necho hi\n",
		"src/testdata/a/b.txt": "bee", "src/testdata/c.txt": strings.Repeat("x", 4097),
	} {
		got, err := os.ReadFile(filepath.Join(dst, p))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", p, got, err, want)
		}
	}
	if st, err := os.Stat(filepath.Join(dst, "init")); err != nil || st.Mode().Perm() != 0o750 {
		t.Errorf("init mode: %v %v", st, err)
	}

	// Deterministic: the same content gives the same bytes.
	var again bytes.Buffer
	if _, err := a.WriteTo(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two writes of the same archive differ")
	}
}

func TestInitramfsRejects(t *testing.T) {
	a := NewInitramfs()
	if err := a.AddFile("bin/x", 0o755, nil); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"twice":         a.AddFile("/bin/x", 0o755, nil),
		"under a file":  a.AddFile("/bin/x/y", 0o644, nil),
		"empty":         a.AddFile("", 0o644, nil),
		"root":          a.AddDir("/", 0o755),
		"missing host":  a.AddHostFile("/y", "/nonexistent/file"),
		"host not file": a.AddHostFile("/y", t.TempDir()),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := a.AddDir("/bin", 0o755); err != nil {
		t.Errorf("adding an existing directory again: %v", err)
	}
}

func TestInitramfsHostFileChanged(t *testing.T) {
	host := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(host, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := NewInitramfs()
	if err := a.AddHostFile("/f", host); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(host); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteFile(filepath.Join(t.TempDir(), "out.gz")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WriteFile after the host file vanished: %v", err)
	}
}

func TestCheckELF(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	err = checkELF(self)
	if runtime.GOARCH == "arm64" {
		if err != nil {
			t.Fatalf("this arm64 test binary: %v", err)
		}
	} else if !errors.Is(err, errNotExec) {
		t.Fatalf("checkELF(this %s binary) = %v, want errNotExec", runtime.GOARCH, err)
	}
	txt := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(txt, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkELF(txt); !errors.Is(err, errNotExec) {
		t.Fatalf("checkELF(script) = %v", err)
	}
}

func TestMakeDisk(t *testing.T) {
	ctx := context.Background()
	seed := t.TempDir()
	if err := os.WriteFile(filepath.Join(seed, "hello.txt"), []byte("from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "state.img")
	if err := MakeDisk(ctx, img, 16, "posstate", seed); err != nil {
		t.Fatal(err)
	}
	if err := CheckDisk(ctx, img); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("debugfs", "-R", "cat /hello.txt", img).Output()
	if err != nil || string(out) != "from the host" {
		t.Fatalf("debugfs cat: %q, %v", out, err)
	}
	label, err := exec.Command("e2label", img).Output()
	if err != nil || strings.TrimSpace(string(label)) != "posstate" {
		t.Fatalf("label %q, %v", label, err)
	}
	if err := MakeDisk(ctx, img, 4, "x", ""); err == nil {
		t.Fatal("a 4 MiB disk was accepted")
	}
	// A damaged superblock is reported.
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 1024), 1024); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := CheckDisk(ctx, img); err == nil {
		t.Fatal("CheckDisk passed a zeroed superblock")
	}
}
