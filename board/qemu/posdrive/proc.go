package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// uptime is the time since the kernel started (/proc/uptime).
func uptime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, fmt.Errorf("uptime: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("uptime: empty /proc/uptime")
	}
	s, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("uptime: %w", err)
	}
	return time.Duration(s * float64(time.Second)), nil
}

// ErrNoProcess is returned when no process has the command name.
var ErrNoProcess = errors.New("no such process")

// findPID returns the PID of the one process whose command name (/proc/PID/comm, at
// most 15 bytes) is comm.
func findPID(comm string) (int, error) {
	if len(comm) > 15 {
		comm = comm[:15]
	}
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, fmt.Errorf("find %s: %w", comm, err)
	}
	var found []int
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil {
			continue // the process ended meanwhile
		}
		if string(bytes.TrimSpace(b)) == comm {
			pid, err := strconv.Atoi(filepath.Base(d))
			if err == nil {
				found = append(found, pid)
			}
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("find %s: %w", comm, ErrNoProcess)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("find %s: %d processes have that name: %v", comm, len(found), found)
}

// memory is a process's resident set now and at its peak, in KiB.
type memory struct {
	RSS, HWM int64
}

// readMemory reads VmRSS and VmHWM from /proc/PID/status.
func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("memory of %d: %w", pid, err)
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		fs := strings.Fields(v)
		if len(fs) != 2 || fs[1] != "kB" {
			return memory{}, fmt.Errorf("memory of %d: %s: unexpected %q", pid, k, v)
		}
		if *dst, err = strconv.ParseInt(fs[0], 10, 64); err != nil {
			return memory{}, fmt.Errorf("memory of %d: %s: %w", pid, k, err)
		}
	}
	if err := sc.Err(); err != nil {
		return memory{}, fmt.Errorf("memory of %d: %w", pid, err)
	}
	if m.RSS == 0 || m.HWM == 0 {
		return memory{}, fmt.Errorf("memory of %d: no VmRSS/VmHWM in /proc/%d/status", pid, pid)
	}
	return m, nil
}
