package linux

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/posagent/posagent/board"
)

// Devices implements board.Board. It scans at every call.
func (b *Board) Devices() board.Devices {
	d := board.Devices{TPM: b.cfg.TPM, Printer: board.SerialPort{Path: b.cfg.PrinterPort, Baud: b.cfg.PrinterBaud}}
	if d.TPM == "" {
		d.TPM = b.findTPM()
	}
	if d.Printer.Path == "" {
		d.Printer.Path = b.findPrinter()
	}
	if d.Printer.Baud == 0 {
		d.Printer.Baud = b.profile.PrinterBaud
	}
	return d
}

// findTPM returns the TPM 2.0 device, preferring the resource manager (/dev/tpmrmN).
func (b *Board) findTPM() string {
	names := b.numbered("/sys/class/tpm", "tpm")
	if names == nil {
		names = []string{"tpm0"} // no sysfs class: probe /dev directly
	}
	for _, name := range names {
		if data, ok := b.read("/sys/class/tpm/" + name + "/tpm_version_major"); ok && strings.TrimSpace(string(data)) != "2" {
			b.log.Debug("board: TPM skipped, not TPM 2.0", "device", name, "version", strings.TrimSpace(string(data)))
			continue
		}
		n := strings.TrimPrefix(name, "tpm")
		for _, dev := range []string{"/dev/tpmrm" + n, "/dev/tpm" + n} {
			if b.exists(dev) {
				return dev
			}
		}
	}
	return ""
}

// findPrinter returns the printer port: the profile's ports, then USB serial adapters,
// then CDC ACM devices, then 16550-style UARTs that really exist.
func (b *Board) findPrinter() string {
	for _, p := range b.profile.PrinterPorts {
		if b.portPresent(p) {
			return p
		}
	}
	for _, prefix := range []string{"ttyUSB", "ttyACM", "ttyS"} {
		for _, name := range b.numbered("/dev", prefix) {
			if p := "/dev/" + name; b.portPresent(p) {
				return p
			}
		}
	}
	return ""
}

// portPresent reports whether a serial device exists and, for ttyS*, whether a UART is
// behind it (sysfs "type" is not PORT_UNKNOWN; without sysfs the node's existence counts).
func (b *Board) portPresent(dev string) bool {
	if !b.exists(dev) {
		return false
	}
	name := filepath.Base(dev)
	if !strings.HasPrefix(name, "ttyS") {
		return true
	}
	data, ok := b.read("/sys/class/tty/" + name + "/type")
	return !ok || strings.TrimSpace(string(data)) != "0"
}

// numbered lists the entries of a system directory named prefix+N, by N ascending
// (ttyUSB2 before ttyUSB10). It returns nil when the directory cannot be read.
func (b *Board) numbered(dir, prefix string) []string {
	entries, err := os.ReadDir(b.path(dir))
	if err != nil {
		return nil
	}
	type item struct {
		name string
		n    int
	}
	var items []item
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 && strconv.Itoa(n) == rest {
			items = append(items, item{e.Name(), n})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].n < items[j].n })
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.name)
	}
	return out
}

// readRTC describes the RTC the kernel set the system clock from (hctosys), else the
// lowest-numbered one.
func (b *Board) readRTC() board.RTC {
	names := b.numbered("/sys/class/rtc", "rtc")
	if len(names) == 0 {
		return board.RTC{}
	}
	pick := names[0]
	for _, n := range names {
		if data, ok := b.read("/sys/class/rtc/" + n + "/hctosys"); ok && strings.TrimSpace(string(data)) == "1" {
			pick = n
			break
		}
	}
	r := board.RTC{Present: true, Name: pick}
	if data, ok := b.read("/sys/class/rtc/" + pick + "/name"); ok {
		r.Driver = oneLine(string(data))
	}
	if data, ok := b.read("/sys/class/rtc/" + pick + "/since_epoch"); ok {
		if secs, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err == nil && secs > 0 {
			r.Time = time.Unix(secs, 0).UTC()
		}
	}
	return r
}
