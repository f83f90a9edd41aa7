package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Build describes one static linux/arm64 program for the guest.
type Build struct {
	// Package is the package to build: an import path or "./dir" relative to the module root.
	Package string
	// Out is the output file.
	Out string
	// Test builds the package's test binary (go test -c) instead of a command.
	Test bool
	// CGO links with aarch64-linux-gnu-gcc, fully static (needed for go-sqlite3).
	CGO bool
}

// GuestTags are the build tags of guest binaries: no SQLite extension loading (it needs
// dlopen, which a static binary lacks) and pure-Go user and DNS lookups.
const GuestTags = "sqlite_omit_load_extension,osusergo,netgo"

// GoBuild builds b with the go command found on PATH, from the module root.
func GoBuild(ctx context.Context, b Build) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	args := []string{"build"}
	if b.Test {
		args = []string{"test", "-c"}
	}
	args = append(args, "-tags", GuestTags, "-o", b.Out)
	env := append(os.Environ(), "GOOS=linux", "GOARCH=arm64")
	// No symbol table or DWARF: a smaller initramfs boots faster under TCG, and Go's
	// stack traces still name functions (they use pclntab).
	ldflags := "-s -w"
	if b.CGO {
		ldflags += " -linkmode external -extldflags -static"
		env = append(env, "CGO_ENABLED=1", "CC=aarch64-linux-gnu-gcc")
	} else {
		env = append(env, "CGO_ENABLED=0")
	}
	args = append(args, "-ldflags", ldflags)
	args = append(args, b.Package)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = root, env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return checkELF(b.Out)
}

// ModuleRoot is the directory of the posagent module (it holds go.mod), found from this
// source file's location.
func ModuleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("qemu: cannot locate the module root")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("qemu: module root: %w", err)
	}
	return filepath.Clean(root), nil
}
