package qemu

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Initramfs builds a gzip-compressed cpio "newc" archive, the format the Linux kernel
// unpacks as its initial root file system. Device nodes are written as archive entries,
// so no mknod and no root are needed. Entries are written in name order with uid/gid 0
// and mtime 0, so the same content gives the same bytes.
type Initramfs struct {
	entries map[string]cpioEntry
}

type cpioEntry struct {
	mode         uint32 // type and permission bits (S_IFREG|0755, ...)
	data         []byte // regular file content or symlink target
	hostPath     string // regular file read at write time instead of data
	rmajor, rmin uint32
}

// Linux file type bits as cpio stores them.
const (
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000
	sIFCHR = 0o020000
)

// NewInitramfs returns an archive holding the directories and device nodes every guest
// needs: /dev/console (so the kernel opens fds 0-2 for /init) and /dev/null.
func NewInitramfs() *Initramfs {
	a := &Initramfs{entries: map[string]cpioEntry{}}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "run", "root"} {
		_ = a.AddDir(d, 0o755)
	}
	_ = a.AddCharDev("dev/console", 0o600, 5, 1)
	_ = a.AddCharDev("dev/null", 0o666, 1, 3)
	return a
}

// clean turns a guest path into an archive name ("/init" → "init").
func cleanName(name string) (string, error) {
	n := strings.TrimPrefix(path.Clean("/"+name), "/")
	if n == "" || n == "." || strings.HasPrefix(n, "..") {
		return "", fmt.Errorf("initramfs: bad path %q", name)
	}
	return n, nil
}

func (a *Initramfs) add(name string, e cpioEntry) error {
	n, err := cleanName(name)
	if err != nil {
		return err
	}
	if old, ok := a.entries[n]; ok && (old.mode&sIFDIR == 0 || e.mode&sIFDIR == 0) {
		return fmt.Errorf("initramfs: %s added twice", n)
	}
	for d := path.Dir(n); d != "."; d = path.Dir(d) {
		if old, ok := a.entries[d]; ok {
			if old.mode&0o170000 != sIFDIR {
				return fmt.Errorf("initramfs: %s: parent %s is not a directory", n, d)
			}
			continue
		}
		a.entries[d] = cpioEntry{mode: sIFDIR | 0o755}
	}
	a.entries[n] = e
	return nil
}

// AddDir adds a directory (and its parents).
func (a *Initramfs) AddDir(name string, perm fs.FileMode) error {
	return a.add(name, cpioEntry{mode: sIFDIR | uint32(perm.Perm())})
}

// AddFile adds a regular file with the given content.
func (a *Initramfs) AddFile(name string, perm fs.FileMode, data []byte) error {
	return a.add(name, cpioEntry{mode: sIFREG | uint32(perm.Perm()), data: data})
}

// AddHostFile adds a regular file copied from the host, keeping its permission bits.
// The file is read when the archive is written.
func (a *Initramfs) AddHostFile(name, hostPath string) error {
	st, err := os.Stat(hostPath)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("initramfs: %s is not a regular file", hostPath)
	}
	return a.add(name, cpioEntry{mode: sIFREG | uint32(st.Mode().Perm()), hostPath: hostPath})
}

// AddHostTree adds the host directory dir, recursively, below name (regular files,
// directories and symlinks).
func (a *Initramfs) AddHostTree(name, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		dst := path.Join(name, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			info, err := d.Info()
			if err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
			return a.AddDir(dst, info.Mode())
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
			return a.AddSymlink(dst, target)
		case d.Type().IsRegular():
			return a.AddHostFile(dst, p)
		}
		return nil // sockets, fifos, devices: not copied
	})
}

// AddSymlink adds a symbolic link.
func (a *Initramfs) AddSymlink(name, target string) error {
	return a.add(name, cpioEntry{mode: sIFLNK | 0o777, data: []byte(target)})
}

// AddCharDev adds a character device node.
func (a *Initramfs) AddCharDev(name string, perm fs.FileMode, major, minor uint32) error {
	return a.add(name, cpioEntry{mode: sIFCHR | uint32(perm.Perm()), rmajor: major, rmin: minor})
}

// WriteTo writes the gzip-compressed archive to w.
func (a *Initramfs) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	zw, err := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(zw, 1<<20)
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	sort.Strings(names) // parents sort before their children
	ino := uint32(1)
	for _, n := range names {
		if err := a.writeEntry(bw, n, a.entries[n], ino); err != nil {
			return cw.n, err
		}
		ino++
	}
	if err := writeHeader(bw, "TRAILER!!!", cpioEntry{}, 0, 0); err != nil {
		return cw.n, err
	}
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("initramfs write: %w", err)
	}
	if err := zw.Close(); err != nil {
		return cw.n, fmt.Errorf("initramfs write: %w", err)
	}
	return cw.n, nil
}

// WriteFile writes the archive to a file (atomically: a temp file renamed into place).
func (a *Initramfs) WriteFile(name string) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".initramfs-*")
	if err != nil {
		return fmt.Errorf("initramfs write: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := a.WriteTo(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("initramfs write: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("initramfs write: %w", err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("initramfs write: %w", err)
	}
	return nil
}

func (a *Initramfs) writeEntry(w io.Writer, name string, e cpioEntry, ino uint32) error {
	if e.hostPath == "" {
		if err := writeHeader(w, name, e, ino, uint32(len(e.data))); err != nil {
			return err
		}
		return writeData(w, e.data)
	}
	f, err := os.Open(e.hostPath)
	if err != nil {
		return fmt.Errorf("initramfs write: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("initramfs write: %w", err)
	}
	if st.Size() > 1<<32-1 {
		return fmt.Errorf("initramfs write: %s is larger than 4 GiB", e.hostPath)
	}
	size := uint32(st.Size())
	if err := writeHeader(w, name, e, ino, size); err != nil {
		return err
	}
	n, err := io.CopyN(w, f, int64(size))
	if err != nil {
		return fmt.Errorf("initramfs write %s: %w (copied %d of %d bytes; changed while writing?)", e.hostPath, err, n, size)
	}
	return pad(w, int64(size))
}

// writeHeader writes a newc header and the NUL-terminated, 4-byte-aligned name.
func writeHeader(w io.Writer, name string, e cpioEntry, ino, size uint32) error {
	nlink := uint32(1)
	if e.mode&0o170000 == sIFDIR {
		nlink = 2
	}
	h := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, e.mode, 0, 0, nlink, 0, size, 0, 0, e.rmajor, e.rmin, len(name)+1, 0)
	if _, err := io.WriteString(w, h+name+"\x00"); err != nil {
		return fmt.Errorf("initramfs write: %w", err)
	}
	return pad(w, int64(len(h)+len(name)+1))
}

func writeData(w io.Writer, data []byte) error {
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("initramfs write: %w", err)
	}
	return pad(w, int64(len(data)))
}

var zeros [4]byte

// pad writes the NULs that align n written bytes to 4.
func pad(w io.Writer, n int64) error {
	if r := n % 4; r != 0 {
		if _, err := w.Write(zeros[:4-r]); err != nil {
			return fmt.Errorf("initramfs write: %w", err)
		}
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// errNotExec is returned when a guest binary is not an ELF executable.
var errNotExec = errors.New("not an ELF executable")

// checkELF verifies that a host file is an ELF executable for AArch64.
func checkELF(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return fmt.Errorf("%s: %w", p, errNotExec)
	}
	// e_ident: 0x7f 'E' 'L' 'F', class 2 (64-bit), data 1 (little endian); e_machine 183 (AArch64).
	if string(h[:4]) != "\x7fELF" || h[4] != 2 || h[5] != 1 || h[18] != 183 || h[19] != 0 {
		return fmt.Errorf("%s: %w for linux/arm64", p, errNotExec)
	}
	return nil
}
