package board_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/posagent/posagent/board"
)

// egsRE is the EGS serial format of SEC Table 1 (SPEC §1.2), as agent/csr checks it.
var egsRE = regexp.MustCompile(`^1-[^|]+\|2-[^|]+\|3-[^|]+$`)

func checkEGS(t *testing.T, got string) {
	t.Helper()
	if !egsRE.MatchString(got) {
		t.Fatalf("EGS serial %q does not match %s", got, egsRE)
	}
	if n := utf8.RuneCountInString(got); n > board.EGSMaxLen {
		t.Fatalf("EGS serial %q has %d characters, limit %d", got, n, board.EGSMaxLen)
	}
	for _, part := range strings.Split(got, "|") {
		if strings.TrimSpace(part) != part {
			t.Fatalf("EGS serial %q: part %q has outer spaces", got, part)
		}
	}
}

func TestEGSSerial(t *testing.T) {
	long := strings.Repeat("A1B2C3D4", 10) // 80 characters
	tests := []struct {
		name              string
		id                board.Identity
		solution, version string
		want              string
	}{
		{"plain", board.Identity{Model: "Pi 4", Serial: "10000000abcdef12"}, "posagent", "1.4.0",
			"1-posagent|2-1.4.0|3-10000000abcdef12"},
		{"SDK example shape", board.Identity{Serial: "ed22f1d8-e6a2-1118-9b58-d9a8f11e445f"}, "TST", "TST",
			"1-TST|2-TST|3-ed22f1d8-e6a2-1118-9b58-d9a8f11e445f"},
		{"version falls back to model", board.Identity{Model: "Raspberry Pi 4 Model B", Serial: "abc"}, "posagent", "",
			"1-posagent|2-Raspberry Pi 4 Model B|3-abc"},
		{"model falls back to profile", board.Identity{Profile: "qemu-virt", Serial: "abc"}, "posagent", "",
			"1-posagent|2-qemu-virt|3-abc"},
		{"separator and controls cleaned", board.Identity{Serial: " SN|42\x00\t x "}, "pos|agent", "v\n1",
			"1-pos-agent|2-v 1|3-SN-42- x"},
		{"arabic kept", board.Identity{Serial: "١٢٣"}, "نقطة", "1", "1-نقطة|2-1|3-١٢٣"},
		{"no serial", board.Identity{Model: "x"}, "posagent", "1", ""},
		{"blank serial", board.Identity{Model: "x", Serial: " \t"}, "posagent", "1", ""},
		{"no solution", board.Identity{Serial: "abc"}, " ", "1", ""},
		{"nothing for part 2", board.Identity{Serial: "abc"}, "posagent", "", ""},
		{"exactly 64 kept", board.Identity{Serial: strings.Repeat("s", 64-8-8-5)}, "posagent", "1.4.0",
			"1-posagent|2-1.4.0|3-" + strings.Repeat("s", 43)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.id.EGSSerial(tc.solution, tc.version)
			if got != tc.want {
				t.Fatalf("EGSSerial(%q, %q) = %q, want %q", tc.solution, tc.version, got, tc.want)
			}
			if got != "" {
				checkEGS(t, got)
			}
		})
	}

	t.Run("long parts are cut, serial stays unique", func(t *testing.T) {
		a := board.Identity{Serial: long}.EGSSerial("a very long solution provider name", "2026.11.21-build.1234567")
		b := board.Identity{Serial: long[:79] + "X"}.EGSSerial("a very long solution provider name", "2026.11.21-build.1234567")
		checkEGS(t, a)
		checkEGS(t, b)
		if a == b {
			t.Fatalf("two serials differing in their last character gave the same EGS serial %q", a)
		}
		if !strings.HasPrefix(a, "1-a very long solu|2-2026.11.21-b|3-A1B2C3D4") {
			t.Fatalf("unexpected shape %q", a)
		}
		if utf8.RuneCountInString(a) != board.EGSMaxLen {
			t.Fatalf("%q: want the whole budget used (%d characters)", a, board.EGSMaxLen)
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		id := board.Identity{Serial: long}
		if id.EGSSerial("s", "v") != id.EGSSerial("s", "v") {
			t.Fatal("EGSSerial is not deterministic")
		}
	})
}

func FuzzEGSSerial(f *testing.F) {
	f.Add("posagent", "1.0", "Pi", "10000000abcdef12")
	f.Add("a|b", "", "m\x00", strings.Repeat("é", 70))
	f.Add("\xff\xfe", "v", "", " | ")
	f.Fuzz(func(t *testing.T, solution, version, model, serial string) {
		got := board.Identity{Model: model, Serial: serial}.EGSSerial(solution, version)
		if got == "" {
			return
		}
		checkEGS(t, got)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 %q", got)
		}
	})
}

func TestIdentityValidate(t *testing.T) {
	if err := (board.Identity{Serial: "abc"}).Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, serial := range []string{"", "  ", "\t\n"} {
		err := board.Identity{Serial: serial}.Validate()
		if !errors.Is(err, board.ErrNoSerial) {
			t.Fatalf("Validate(%q) = %v, want ErrNoSerial", serial, err)
		}
	}
}

func TestClockStatus(t *testing.T) {
	floor := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ok := board.ClockStatus{Now: floor.Add(time.Hour), Floor: floor}
	if !ok.Plausible() || ok.Err() != nil {
		t.Fatalf("after the floor: plausible=%t err=%v", ok.Plausible(), ok.Err())
	}
	if at := (board.ClockStatus{Now: floor, Floor: floor}); at.Err() != nil {
		t.Fatalf("at the floor: %v", at.Err())
	}
	bad := board.ClockStatus{Now: time.Unix(0, 0), Floor: floor, Sync: board.SyncUnsynced}
	err := bad.Err()
	var ce *board.ClockError
	if !errors.Is(err, board.ErrClockImplausible) || !errors.As(err, &ce) || !ce.Status.Now.Equal(time.Unix(0, 0)) {
		t.Fatalf("before the floor: %v", err)
	}
	if !strings.Contains(err.Error(), "1970-01-01T00:00:00Z is before the floor 2026-11-01T00:00:00Z") ||
		!strings.Contains(err.Error(), "sync unsynced") {
		t.Fatalf("message %q", err)
	}
	rtc := board.ClockStatus{Now: floor.Add(90 * time.Second), RTC: board.RTC{Present: true, Time: floor}}
	if got := rtc.RTCSkew(); got != 90*time.Second {
		t.Fatalf("RTCSkew = %v", got)
	}
	if got := ok.RTCSkew(); got != 0 {
		t.Fatalf("RTCSkew without an RTC time = %v", got)
	}
}

func TestDefaultClockFloor(t *testing.T) {
	f := board.DefaultClockFloor()
	if f.Before(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("floor %v is before the compiled-in floor", f)
	}
	if f.After(time.Now()) {
		t.Fatalf("floor %v is in the future: this machine's clock or the build date is wrong", f)
	}
}

func TestDevicesTPMSpec(t *testing.T) {
	if got := (board.Devices{TPM: "/dev/tpmrm0"}).TPMSpec(); got != "dev:/dev/tpmrm0" {
		t.Fatalf("TPMSpec = %q", got)
	}
	if got := (board.Devices{}).TPMSpec(); got != "" {
		t.Fatalf("TPMSpec without a TPM = %q", got)
	}
}
