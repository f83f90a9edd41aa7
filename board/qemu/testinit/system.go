package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/posagent/posagent/board/qemu/plan"
)

// Guest addresses under QEMU user networking (the host is 10.0.2.2).
var (
	guestAddr = netip.MustParseAddr("10.0.2.15")
	guestMask = netip.MustParseAddr("255.255.255.0")
)

// mountedDisk is the plan's disk once mounted, for shutdown.
var mountedDisk string

// setupSystem mounts the kernel file systems and attaches the console to fds 0-2.
func setupSystem() error {
	mounts := []struct{ src, dst, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"tmpfs", "/run", "tmpfs"},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", m.dst, err)
		}
		if err := unix.Mount(m.src, m.dst, m.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err)
		}
	}
	// The initramfs carries /dev/console, so the kernel opened fds 0-2 already; a cpio
	// without it leaves them closed, and devtmpfs provides the node now.
	if fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0); err == nil {
		for i := 0; i < 3; i++ {
			_ = unix.Dup3(fd, i, 0)
		}
		if fd > 2 {
			_ = unix.Close(fd)
		}
	}
	return nil
}

// setupPlan loads modules, waits for devices, starts the network and mounts the disk.
func setupPlan(f *plan.File, out *console) error {
	if f.Modules != "" {
		if err := loadModules(f.Modules, out); err != nil {
			return err
		}
	}
	wait := append([]string(nil), f.WaitFor...)
	if f.Disk != nil {
		wait = append(wait, f.Disk.Device)
	}
	if f.Network {
		wait = append(wait, "/sys/class/net/eth0")
	}
	for _, p := range wait {
		if err := waitFor(p, 10*time.Second); err != nil {
			return err
		}
	}
	if err := ifUp("lo", netip.Addr{}, netip.Addr{}); err != nil {
		return err
	}
	if f.Network {
		if err := ifUp("eth0", guestAddr, guestMask); err != nil {
			return err
		}
	}
	if d := f.Disk; d != nil {
		if err := os.MkdirAll(d.Mount, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", d.Mount, err)
		}
		if err := unix.Mount(d.Device, d.Mount, d.FSType, 0, ""); err != nil {
			return fmt.Errorf("mount %s (%s) on %s: %w", d.Device, d.FSType, d.Mount, err)
		}
		mountedDisk = d.Mount
	}
	return nil
}

// loadModules loads the modules listed in orderFile, in order. A module that is already
// loaded (or built in) is fine.
func loadModules(orderFile string, out *console) error {
	fh, err := os.Open(orderFile)
	if err != nil {
		return fmt.Errorf("modules: %w", err)
	}
	defer fh.Close()
	dir := filepath.Dir(orderFile)
	sc := bufio.NewScanner(fh)
	n := 0
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		if err := finit(filepath.Join(dir, name)); err != nil {
			return err
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("modules: read %s: %w", orderFile, err)
	}
	out.linef("testinit: loaded %d modules\n", n)
	return nil
}

func finit(path string) error {
	m, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("module: %w", err)
	}
	defer m.Close()
	if err := unix.FinitModule(int(m.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("finit_module %s: %w", filepath.Base(path), err)
	}
	return nil
}

func waitFor(path string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait: %s did not appear within %v", path, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ifUp sets an IPv4 address and netmask (when valid) and brings the interface up. The
// kernel adds the connected route; QEMU's host (10.0.2.2) is on that subnet.
func ifUp(name string, addr, mask netip.Addr) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("ifup %s: socket: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("ifup %s: %w", name, err)
	}
	if addr.IsValid() {
		for _, a := range []struct {
			req uint
			ip  netip.Addr
		}{{unix.SIOCSIFADDR, addr}, {unix.SIOCSIFNETMASK, mask}} {
			if err := ifr.SetInet4Addr(a.ip.AsSlice()); err != nil {
				return fmt.Errorf("ifup %s: %w", name, err)
			}
			if err := unix.IoctlIfreq(fd, a.req, ifr); err != nil {
				return fmt.Errorf("ifup %s: set %s: %w", name, a.ip, err)
			}
		}
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("ifup %s: get flags: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("ifup %s: set flags: %w", name, err)
	}
	return nil
}

// shutdown flushes and unmounts the disk and powers off. With -no-reboot QEMU exits.
func shutdown(out *console) {
	unix.Sync()
	if mountedDisk != "" {
		if err := unix.Unmount(mountedDisk, 0); err != nil {
			out.linef("testinit: unmount %s: %v\n", mountedDisk, err)
		}
	}
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	for {
		time.Sleep(time.Hour)
	}
}
