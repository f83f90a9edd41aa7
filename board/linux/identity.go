package linux

import (
	"regexp"
	"strings"

	"github.com/posagent/posagent/board"
)

// source is one place an identity value can come from.
type source struct {
	from board.Source
	read func() (string, bool)
}

// first returns the first usable value of srcs.
func first(srcs []source) (string, board.Source) {
	for _, s := range srcs {
		if v, ok := s.read(); ok {
			return v, s.from
		}
	}
	return "", board.SourceNone
}

func (b *Board) readIdentity() board.Identity {
	cfgValue := func(v string) func() (string, bool) {
		return func() (string, bool) { return v, v != "" }
	}
	dt := func(prop string) func() (string, bool) {
		return func() (string, bool) {
			v, ok := b.readDT(prop)
			v = oneLine(v)
			return v, ok && v != ""
		}
	}
	dmi := func(attr string) func() (string, bool) {
		return func() (string, bool) {
			data, ok := b.read("/sys/class/dmi/id/" + attr)
			v := oneLine(string(data))
			if ok && isPlaceholder(v) {
				b.log.Debug("board: DMI placeholder ignored", "attr", attr, "value", v)
				return "", false
			}
			return v, ok && v != ""
		}
	}
	machineID := b.readMachineID()
	id := board.Identity{MachineID: machineID, Profile: b.profile.Name}
	id.Model, id.ModelSource = first([]source{
		{board.SourceConfig, cfgValue(b.cfg.Model)},
		{board.SourceDeviceTree, dt("model")},
		{board.SourceDMIProduct, dmi("product_name")},
		{board.SourceDMIBoard, dmi("board_name")},
		{board.SourceProfile, cfgValue(b.profile.Description)},
	})
	id.Serial, id.SerialSource = first([]source{
		{board.SourceConfig, cfgValue(b.cfg.Serial)},
		{board.SourceDeviceTree, dt("serial-number")},
		{board.SourceDMIProduct, dmi("product_serial")},
		{board.SourceDMIBoard, dmi("board_serial")},
		{board.SourceMachineID, cfgValue(machineID)},
	})
	return id
}

var machineIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// readMachineID returns /etc/machine-id, else /var/lib/dbus/machine-id, when it is 32
// lower-case hex digits ("uninitialized", systemd's first-boot marker, does not count).
func (b *Board) readMachineID() string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		data, ok := b.read(p)
		if !ok {
			continue
		}
		if v := strings.TrimSpace(string(data)); machineIDRE.MatchString(v) {
			return v
		}
		b.log.Debug("board: machine id ignored", "path", p, "value", oneLine(string(data)))
	}
	return ""
}

// oneLine makes a firmware string a single clean line: NULs and control characters
// become spaces, runs of spaces one space, and "|" (the EGS serial separator) "-".
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '|':
			return '-'
		case r < 0x20 || r == 0x7f:
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	return strings.Join(strings.Fields(s), " ")
}

// placeholders are values firmware vendors leave in DMI fields instead of a serial.
var placeholders = map[string]bool{
	"to be filled by o.e.m.": true, "to be filled by oem": true, "default string": true,
	"system serial number": true, "system product name": true, "base board serial number": true,
	"chassis serial number": true, "serial number": true, "not specified": true,
	"not applicable": true, "not available": true, "none": true, "n/a": true, "na": true,
	"unknown": true, "invalid": true, "empty": true, "oem": true, "o.e.m.": true,
	"0123456789": true, "1234567890": true, "123456789": true, "xxxxxxxxxxxx": true,
}

// isPlaceholder reports an empty, known-placeholder or single-repeated-character
// ("00000000", "FFFFFFFF") value.
func isPlaceholder(v string) bool {
	if v == "" || placeholders[strings.ToLower(v)] {
		return true
	}
	t := strings.NewReplacer(" ", "", "-", "", ":", "").Replace(strings.ToLower(v))
	return t == "" || strings.Count(t, t[:1]) == len(t)
}
