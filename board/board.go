// Package board owns what posagent needs to know about the terminal it runs on: its
// identity (model, serial, machine id and board profile; the serial feeds the EGS serial
// of the ZATCA CSR), where its devices are (the TPM and the receipt printer's serial
// port), and whether its clock is plausible enough to sign with.
//
// The contract is the Board interface; board/linux implements it from the device tree,
// DMI and sysfs. Package board imports only the standard library. It must not import
// agent, hsm, store, printer, offline or any implementation package.
package board

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Board describes the terminal. Implementations are safe for concurrent use.
type Board interface {
	// Identity is fixed for the life of the process (it is read once at start).
	Identity() Identity
	// Devices reports the device paths as they are now (a USB printer can come and go).
	Devices() Devices
	// ClockSanity reports the clock's state. The error is non-nil when the clock is not
	// plausible (it wraps ErrClockImplausible and is a *ClockError) or ctx is done; the
	// status is filled in either way.
	ClockSanity(ctx context.Context) (ClockStatus, error)
}

// Profile is a board profile: the defaults for one kind of terminal.
type Profile struct {
	// Name is the profile's stable name, e.g. "qemu-virt" or "generic-arm64".
	Name string
	// Description is a human-readable line for status output.
	Description string
	// PrinterPorts are the printer's serial device paths to try first, in order.
	PrinterPorts []string
	// PrinterBaud is the printer's default line speed.
	PrinterBaud int
}

// Devices says where the terminal's devices are. An empty path means "not found".
type Devices struct {
	// TPM is the TPM 2.0 character device: /dev/tpmrm0 (the kernel's resource manager)
	// when present, else /dev/tpm0.
	TPM string
	// Printer is the receipt printer's serial port.
	Printer SerialPort
}

// TPMSpec returns the TPM as an hsm/tpm transport spec ("dev:/dev/tpmrm0"), or "" when
// no TPM device was found (hsm/tpm then probes the default devices itself).
func (d Devices) TPMSpec() string {
	if d.TPM == "" {
		return ""
	}
	return "dev:" + d.TPM
}

// SerialPort is a serial device and its line speed.
type SerialPort struct {
	Path string
	Baud int
}

// SyncState is the kernel's view of clock synchronisation (NTP or PTP discipline).
type SyncState int

const (
	// SyncUnknown: the state could not be read (not Linux, or adjtimex refused).
	SyncUnknown SyncState = iota
	// SyncSynced: a time daemon disciplines the clock (STA_UNSYNC clear).
	SyncSynced
	// SyncUnsynced: nothing has synchronised the clock since boot, or sync was lost.
	SyncUnsynced
)

func (s SyncState) String() string {
	switch s {
	case SyncSynced:
		return "synced"
	case SyncUnsynced:
		return "unsynced"
	}
	return "unknown"
}

// RTC describes the battery-backed real-time clock, if any.
type RTC struct {
	// Present is true when the kernel exposes an RTC (e.g. /sys/class/rtc/rtc0).
	Present bool
	// Name is the RTC device name ("rtc0") and Driver its driver ("pl031"), when known.
	Name, Driver string
	// Time is the RTC's own time (zero when unreadable).
	Time time.Time
}

// ClockStatus is the result of a clock sanity check.
type ClockStatus struct {
	// Now is the system clock when the check ran.
	Now time.Time
	// Floor is the earliest plausible time: no build of this software is older.
	Floor time.Time
	// Sync is the kernel's synchronisation flag.
	Sync SyncState
	// MaxError is the kernel's maximum error estimate of the clock (adjtimex maxerror);
	// zero when unknown.
	MaxError time.Duration
	// RTC is the real-time clock.
	RTC RTC
}

// Plausible reports whether the clock is not earlier than the floor.
func (s ClockStatus) Plausible() bool { return !s.Now.Before(s.Floor) }

// RTCSkew is the system clock minus the RTC's time; zero when the RTC time is unknown.
// The RTC keeps whole seconds, so a skew under two seconds is noise.
func (s ClockStatus) RTCSkew() time.Duration {
	if s.RTC.Time.IsZero() {
		return 0
	}
	return s.Now.Sub(s.RTC.Time)
}

// Err returns a *ClockError when the clock is not plausible, else nil.
func (s ClockStatus) Err() error {
	if s.Plausible() {
		return nil
	}
	return &ClockError{Status: s}
}

// ErrClockImplausible is wrapped by every *ClockError.
var ErrClockImplausible = errors.New("board: clock not plausible")

// ClockError says why the clock cannot be trusted for signing.
type ClockError struct {
	Status ClockStatus
}

func (e *ClockError) Error() string {
	s := e.Status
	return fmt.Sprintf("clock sanity: system time %s is before the floor %s (sync %s, rtc present %t)",
		s.Now.UTC().Format(time.RFC3339), s.Floor.UTC().Format(time.RFC3339), s.Sync, s.RTC.Present)
}

func (e *ClockError) Unwrap() error { return ErrClockImplausible }

// minFloor is the earliest floor any build uses: this package did not exist before it.
var minFloor = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// buildDate is set at link time (-ldflags "-X github.com/posagent/posagent/board.buildDate=2026-11-21")
// to the build's date (YYYY-MM-DD or RFC 3339); it raises the clock floor.
var buildDate string

// DefaultClockFloor is the clock floor of this build: the link-time build date when set
// and later than the compiled-in floor, else the compiled-in floor.
func DefaultClockFloor() time.Time {
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, buildDate); err == nil && t.After(minFloor) {
			return t
		}
	}
	return minFloor
}
