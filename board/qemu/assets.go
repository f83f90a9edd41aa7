package qemu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Assets are the guest kernel and modules prepared by setup.sh.
type Assets struct {
	// Dir is the asset directory (CACHE/<kernel ABI>).
	Dir string
	// Kernel is the arm64 kernel Image.
	Kernel string
	// Modules is the modules directory; its "order" file lists the .ko files in load order.
	Modules string
	// ABI is the kernel ABI, e.g. "6.1.0-56-arm64".
	ABI string
}

// ErrNoAssets is wrapped when the asset directory is missing or incomplete.
var ErrNoAssets = errors.New("qemu: guest kernel assets missing (run board/qemu/setup.sh)")

// DefaultCacheDir is $POSAGENT_QEMU_CACHE, else $HOME/.cache/posagent/qemu.
func DefaultCacheDir() string {
	if d := os.Getenv("POSAGENT_QEMU_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "posagent", "qemu")
}

// LoadAssets checks and describes an asset directory.
func LoadAssets(dir string) (Assets, error) {
	a := Assets{Dir: dir, Kernel: filepath.Join(dir, "vmlinuz"), Modules: filepath.Join(dir, "modules")}
	for _, p := range []string{filepath.Join(dir, ".complete"), a.Kernel, filepath.Join(a.Modules, "order")} {
		if _, err := os.Stat(p); err != nil {
			return Assets{}, fmt.Errorf("load assets %s: %w: %w", dir, ErrNoAssets, err)
		}
	}
	env, err := os.Open(filepath.Join(dir, "kernel.env"))
	if err != nil {
		return Assets{}, fmt.Errorf("load assets: %w: %w", ErrNoAssets, err)
	}
	defer env.Close()
	sc := bufio.NewScanner(env)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ABI="); ok {
			a.ABI = v
		}
	}
	if a.ABI == "" {
		return Assets{}, fmt.Errorf("load assets: %s/kernel.env has no ABI: %w", dir, ErrNoAssets)
	}
	return a, nil
}

// EnsureAssets returns the cached assets of cacheDir ("current"), running Setup only
// when there are none (a fresh machine).
func EnsureAssets(ctx context.Context, cacheDir string, logf func(string)) (Assets, error) {
	a, err := LoadAssets(filepath.Join(cacheDir, "current"))
	if err == nil {
		return a, nil
	}
	if !errors.Is(err, ErrNoAssets) {
		return Assets{}, err
	}
	return Setup(ctx, cacheDir, logf)
}

// Setup runs setup.sh (idempotent; quick when the assets are cached) with cacheDir and
// returns the assets it prepared. Its output goes to the log function line by line.
func Setup(ctx context.Context, cacheDir string, logf func(string)) (Assets, error) {
	script, err := setupScript()
	if err != nil {
		return Assets{}, err
	}
	cmd := exec.CommandContext(ctx, "bash", script, cacheDir)
	cmd.Stderr = lineWriter(logf)
	out, err := cmd.Output()
	if err != nil {
		return Assets{}, fmt.Errorf("qemu setup: %s: %w", script, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return LoadAssets(lines[len(lines)-1])
}

// setupScript finds setup.sh next to this source file.
func setupScript() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("qemu setup: cannot locate setup.sh")
	}
	p := filepath.Join(filepath.Dir(file), "setup.sh")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("qemu setup: %w", err)
	}
	return p, nil
}

// lineWriter calls logf for every complete line written to it.
type lineWriter func(string)

func (f lineWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if l != "" {
			f(l)
		}
	}
	return len(p), nil
}
