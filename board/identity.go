package board

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Source says where an identity value came from.
type Source string

// Sources of identity values, in board/linux's order of preference.
const (
	SourceNone       Source = ""
	SourceConfig     Source = "config"      // set by configuration
	SourceDeviceTree Source = "device-tree" // /proc/device-tree/{model,serial-number}
	SourceDMIProduct Source = "dmi-product" // /sys/class/dmi/id/product_{name,serial}
	SourceDMIBoard   Source = "dmi-board"   // /sys/class/dmi/id/board_{name,serial}
	SourceMachineID  Source = "machine-id"  // /etc/machine-id (changes on reinstall)
	SourceProfile    Source = "profile"     // the board profile's description (model only)
)

// Identity identifies the terminal.
type Identity struct {
	// Model is the hardware model, e.g. "Raspberry Pi 4 Model B Rev 1.4".
	Model       string
	ModelSource Source
	// Serial is the hardware serial number: stable across reinstalls when it comes from
	// the device tree or DMI, not when it falls back to the machine id.
	Serial       string
	SerialSource Source
	// MachineID is /etc/machine-id (32 lower-case hex digits), "" when absent.
	MachineID string
	// Profile is the board profile's name.
	Profile string
}

// ErrNoSerial is returned by Validate when the identity has no serial number.
var ErrNoSerial = errors.New("board: no serial number")

// Validate reports an identity that cannot name the terminal to ZATCA.
func (id Identity) Validate() error {
	if clean(id.Serial) == "" {
		return fmt.Errorf("identity: Serial: empty after cleaning %q (no device-tree, DMI or machine-id serial; set one in the configuration): %w",
			id.Serial, ErrNoSerial)
	}
	return nil
}

// EGSMaxLen is the longest EGS serial EGSSerial returns, in characters: the upper bound
// agent/csr enforces on every CSR subject attribute (X.520 ub-name style, SPEC §1.2).
const EGSMaxLen = 64

// Budgets of the first two parts when the whole does not fit in EGSMaxLen. The serial
// gets the rest: it is what makes the value unique.
const (
	egsSolutionMax = 16
	egsVersionMax  = 12
	egsHashLen     = 8 // hex digits of SHA-256 kept when a long serial is shortened
)

// EGSSerial builds the EGS serial of the ZATCA CSR (SAN "SN", SPEC §1.2, SEC Table 1):
// "1-<solution>|2-<version>|3-<serial>", e.g. "1-posagent|2-1.4.0|3-10000000abcdef12".
//
// Part 2 is version; when version is empty it is the board's Model. Every part is cleaned:
// "|" and control characters become "-", runs of spaces become one space, and leading and
// trailing spaces go. When the result would exceed EGSMaxLen characters, solution is cut
// to 16 characters and part 2 to 12; if the serial still does not fit, it keeps its head
// and ends with "-" and 8 hex digits of its SHA-256, so two different serials still give
// two different EGS serials.
//
// EGSSerial returns "" when solution or the serial is empty after cleaning (check
// Validate first): a made-up serial would collide with another terminal's.
func (id Identity) EGSSerial(solution, version string) string {
	sol, ver, ser := clean(solution), clean(version), clean(id.Serial)
	if ver == "" {
		ver = clean(id.Model)
	}
	if ver == "" {
		ver = clean(id.Profile)
	}
	if sol == "" || ver == "" || ser == "" {
		return ""
	}
	const overhead = len("1-|2-|3-")
	n := func(s string) int { return utf8.RuneCountInString(s) }
	if n(sol)+n(ver)+n(ser)+overhead > EGSMaxLen {
		// A cut can end on a space; no part may end with one.
		sol = strings.TrimRight(truncRunes(sol, egsSolutionMax), " ")
		ver = strings.TrimRight(truncRunes(ver, egsVersionMax), " ")
		if budget := EGSMaxLen - overhead - n(sol) - n(ver); n(ser) > budget {
			sum := sha256.Sum256([]byte(ser))
			head := strings.TrimRight(truncRunes(ser, budget-egsHashLen-1), " ")
			ser = head + "-" + hex.EncodeToString(sum[:])[:egsHashLen]
		}
	}
	return "1-" + sol + "|2-" + ver + "|3-" + ser
}

// clean makes s safe for one part of the EGS serial and for logs: valid UTF-8, no "|",
// no control or non-printing characters, single spaces, trimmed.
func clean(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "-") {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case r == '|' || !unicode.IsPrint(r):
			r = '-'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// truncRunes returns s cut to at most n runes.
func truncRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}
