package linux

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/board"
)

// tree writes a fake system tree of real files below a new temp dir and returns its
// path. A value ending in "/" makes a directory; "->target" makes a symlink.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(p, "/"):
			err = os.MkdirAll(full, 0o755)
		case strings.HasPrefix(content, "->"):
			err = os.Symlink(strings.TrimPrefix(content, "->"), full)
		default:
			err = os.WriteFile(full, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newBoard(t *testing.T, cfg Config) *Board {
	t.Helper()
	cfg.Logger = testLogger(t)
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

const machineID = "0123456789abcdef0123456789abcdef\n"

// qemuVirtTree is what the harness's guest shows (device tree of QEMU -M virt, the
// pci-serial printer on ttyS0, tpm_tis loaded, the PL031 RTC).
var qemuVirtTree = map[string]string{
	"proc/device-tree":                        "->../sys/firmware/devicetree/base",
	"sys/firmware/devicetree/base/model":      "linux,dummy-virt\x00",
	"sys/firmware/devicetree/base/compatible": "linux,dummy-virt\x00",
	"etc/machine-id":                          machineID,
	"sys/class/tpm/tpm0/tpm_version_major":    "2\n",
	"dev/tpm0":                                "",
	"dev/tpmrm0":                              "",
	"sys/class/tty/ttyS0/type":                "4\n",
	"sys/class/tty/ttyS1/type":                "0\n",
	"dev/ttyS0":                               "",
	"dev/ttyS1":                               "",
	"sys/class/rtc/rtc0/name":                 "rtc-pl031 9010000.pl031\n",
	"sys/class/rtc/rtc0/hctosys":              "1\n",
	"sys/class/rtc/rtc0/since_epoch":          "1795255200\n",
}

func TestProfiles(t *testing.T) {
	tests := []struct {
		name     string
		arch     string
		files    map[string]string
		profile  string
		identity board.Identity
		devices  board.Devices
	}{
		{
			name: "qemu-virt", arch: "arm64", files: qemuVirtTree, profile: ProfileQEMUVirt,
			identity: board.Identity{Model: "linux,dummy-virt", ModelSource: board.SourceDeviceTree,
				Serial: "0123456789abcdef0123456789abcdef", SerialSource: board.SourceMachineID,
				MachineID: "0123456789abcdef0123456789abcdef", Profile: ProfileQEMUVirt},
			devices: board.Devices{TPM: "/dev/tpmrm0", Printer: board.SerialPort{Path: "/dev/ttyS0", Baud: 115200}},
		},
		{
			name: "generic-arm64 raspberry pi", arch: "arm64", profile: ProfileGenericARM64,
			files: map[string]string{
				"proc/device-tree/model":         "Raspberry Pi 4 Model B Rev 1.4\x00",
				"proc/device-tree/serial-number": "10000000abcdef12\x00",
				"proc/device-tree/compatible":    "raspberrypi,4-model-b\x00brcm,bcm2711\x00",
				"etc/machine-id":                 machineID,
				// TPM without the resource manager node (old kernel): /dev/tpm0.
				"sys/class/tpm/tpm0/tpm_version_major": "2\n",
				"dev/tpm0":                             "",
				// USB serial adapters: numeric order, not lexical.
				"dev/ttyUSB10":             "",
				"dev/ttyUSB2":              "",
				"dev/ttyAMA0":              "",
				"dev/ttyS0":                "",
				"sys/class/tty/ttyS0/type": "0\n",
			},
			identity: board.Identity{Model: "Raspberry Pi 4 Model B Rev 1.4", ModelSource: board.SourceDeviceTree,
				Serial: "10000000abcdef12", SerialSource: board.SourceDeviceTree,
				MachineID: "0123456789abcdef0123456789abcdef", Profile: ProfileGenericARM64},
			devices: board.Devices{TPM: "/dev/tpm0", Printer: board.SerialPort{Path: "/dev/ttyUSB2", Baud: 9600}},
		},
		{
			name: "generic-armv7 without serial", arch: "arm", profile: ProfileGenericARMv7,
			files: map[string]string{
				"sys/firmware/devicetree/base/model":      "Sunmi T2 | board\x00",
				"sys/firmware/devicetree/base/compatible": "rockchip,rk3288\x00",
				"etc/machine-id":                          "uninitialized\n",
				"var/lib/dbus/machine-id":                 "fedcba9876543210fedcba9876543210\n",
				"dev/ttyACM0":                             "",
				"sys/class/tty/ttyS0/type":                "4\n",
				"dev/ttyS0":                               "",
			},
			identity: board.Identity{Model: "Sunmi T2 - board", ModelSource: board.SourceDeviceTree,
				Serial: "fedcba9876543210fedcba9876543210", SerialSource: board.SourceMachineID,
				MachineID: "fedcba9876543210fedcba9876543210", Profile: ProfileGenericARMv7},
			devices: board.Devices{Printer: board.SerialPort{Path: "/dev/ttyACM0", Baud: 9600}},
		},
		{
			name: "generic-amd64 with DMI placeholders", arch: "amd64", profile: ProfileGenericAMD64,
			files: map[string]string{
				"sys/class/dmi/id/product_name":   "POS-8000 \n",
				"sys/class/dmi/id/product_serial": "To Be Filled By O.E.M.\n",
				"sys/class/dmi/id/board_name":     "Default string\n",
				"sys/class/dmi/id/board_serial":   "BSN-0042\n",
				"etc/machine-id":                  machineID,
				// A TPM 1.2 first, a TPM 2.0 second.
				"sys/class/tpm/tpm0/tpm_version_major": "1\n",
				"dev/tpm0":                             "",
				"sys/class/tpm/tpm1/tpm_version_major": "2\n",
				"dev/tpm1":                             "",
				"dev/tpmrm1":                           "",
				// Placeholder UARTs, one real one.
				"dev/ttyS0": "", "dev/ttyS1": "", "dev/ttyS4": "",
				"sys/class/tty/ttyS0/type": "0\n", "sys/class/tty/ttyS1/type": "0\n", "sys/class/tty/ttyS4/type": "4\n",
			},
			identity: board.Identity{Model: "POS-8000", ModelSource: board.SourceDMIProduct,
				Serial: "BSN-0042", SerialSource: board.SourceDMIBoard,
				MachineID: "0123456789abcdef0123456789abcdef", Profile: ProfileGenericAMD64},
			devices: board.Devices{TPM: "/dev/tpmrm1", Printer: board.SerialPort{Path: "/dev/ttyS4", Baud: 9600}},
		},
		{
			name: "generic-amd64 DMI serial unreadable", arch: "amd64", profile: ProfileGenericAMD64,
			files: map[string]string{
				"sys/class/dmi/id/product_name": "POS-8000\n",
				// Reading a directory fails (EISDIR), like a root-only file read by a daemon user.
				"sys/class/dmi/id/product_serial/": "",
				"sys/class/dmi/id/board_serial":    "00000000\n",
				"etc/machine-id":                   machineID,
				// No TPM class in sysfs: the device nodes decide.
				"dev/tpm0": "",
			},
			identity: board.Identity{Model: "POS-8000", ModelSource: board.SourceDMIProduct,
				Serial: "0123456789abcdef0123456789abcdef", SerialSource: board.SourceMachineID,
				MachineID: "0123456789abcdef0123456789abcdef", Profile: ProfileGenericAMD64},
			devices: board.Devices{TPM: "/dev/tpm0", Printer: board.SerialPort{Baud: 9600}},
		},
		{
			name: "empty tree", arch: "amd64", profile: ProfileGenericAMD64, files: map[string]string{},
			identity: board.Identity{Model: "generic x86-64 Linux terminal", ModelSource: board.SourceProfile,
				Profile: ProfileGenericAMD64},
			devices: board.Devices{Printer: board.SerialPort{Baud: 9600}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Root = tree(t, tc.files)
			cfg.Arch = tc.arch
			b := newBoard(t, cfg)
			if got := b.Profile().Name; got != tc.profile {
				t.Errorf("profile = %q, want %q", got, tc.profile)
			}
			if got := b.Identity(); got != tc.identity {
				t.Errorf("identity:\n got %+v\nwant %+v", got, tc.identity)
			}
			if got := b.Devices(); !reflect.DeepEqual(got, tc.devices) {
				t.Errorf("devices:\n got %+v\nwant %+v", got, tc.devices)
			}
		})
	}
}

func TestIdentityUsableForEGS(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Root = tree(t, qemuVirtTree)
	id := newBoard(t, cfg).Identity()
	if err := id.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := id.EGSSerial("posagent", "1.0.0"), "1-posagent|2-1.0.0|3-0123456789abcdef0123456789abcdef"; got != want {
		t.Fatalf("EGSSerial = %q, want %q", got, want)
	}
	cfg.Root = tree(t, map[string]string{})
	cfg.Arch = "arm64"
	id = newBoard(t, cfg).Identity()
	if err := id.Validate(); !errors.Is(err, board.ErrNoSerial) {
		t.Fatalf("identity without any serial source: Validate = %v, want ErrNoSerial", err)
	}
	if got := id.EGSSerial("posagent", "1.0.0"); got != "" {
		t.Fatalf("EGSSerial without a serial = %q, want empty", got)
	}
}

func TestOverrides(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Root = tree(t, map[string]string{
		"sys/class/dmi/id/product_name":   "PC\n",
		"sys/class/dmi/id/product_serial": "DMI-1\n",
		"dev/ttyUSB0":                     "",
		"dev/tpmrm0":                      "",
	})
	cfg.Arch = "amd64"
	cfg.Profile = ProfileQEMUVirt
	cfg.Model, cfg.Serial = "Till 3", "TILL-0003"
	cfg.TPM, cfg.PrinterPort, cfg.PrinterBaud = "/dev/tpm7", "/dev/ttyS3", 38400
	b := newBoard(t, cfg)
	if b.Profile().Name != ProfileQEMUVirt {
		t.Errorf("profile %q", b.Profile().Name)
	}
	id := b.Identity()
	if id.Model != "Till 3" || id.ModelSource != board.SourceConfig || id.Serial != "TILL-0003" || id.SerialSource != board.SourceConfig {
		t.Errorf("identity %+v", id)
	}
	want := board.Devices{TPM: "/dev/tpm7", Printer: board.SerialPort{Path: "/dev/ttyS3", Baud: 38400}}
	if got := b.Devices(); got != want {
		t.Errorf("devices %+v, want %+v", got, want)
	}
	// Without the port override the profile's port is absent here, so USB is found, at
	// the profile's speed.
	cfg.PrinterPort, cfg.PrinterBaud = "", 0
	if got := newBoard(t, cfg).Devices().Printer; got != (board.SerialPort{Path: "/dev/ttyUSB0", Baud: 115200}) {
		t.Errorf("printer %+v", got)
	}
}

func TestDevicesRescan(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Root = tree(t, map[string]string{"etc/machine-id": machineID})
	cfg.Arch = "arm64"
	b := newBoard(t, cfg)
	if got := b.Devices().Printer.Path; got != "" {
		t.Fatalf("printer %q before plug-in", got)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Root, "dev/ttyACM3"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := b.Devices().Printer.Path; got != "/dev/ttyACM3" {
		t.Fatalf("printer %q after plug-in, want /dev/ttyACM3", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"relative root", func(c *Config) { c.Root = "sys" }, "Root"},
		{"empty root", func(c *Config) { c.Root = "" }, "Root"},
		{"unknown profile", func(c *Config) { c.Profile = "raspberry" }, "Profile"},
		{"relative TPM", func(c *Config) { c.TPM = "tpm0" }, "TPM"},
		{"relative printer", func(c *Config) { c.PrinterPort = "ttyS0" }, "PrinterPort"},
		{"odd baud", func(c *Config) { c.PrinterBaud = 115201 }, "PrinterBaud"},
		{"negative baud", func(c *Config) { c.PrinterBaud = -1 }, "PrinterBaud"},
		{"serial with separator", func(c *Config) { c.Serial = "a|b" }, "Serial"},
		{"serial with spaces", func(c *Config) { c.Serial = " a" }, "Serial"},
		{"model with control", func(c *Config) { c.Model = "a\nb" }, "Model"},
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, ErrConfig) || !strings.HasPrefix(err.Error(), tc.field+": ") {
				t.Fatalf("Validate = %v, want an ErrConfig about %s", err, tc.field)
			}
			if _, err := New(cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
		})
	}
}

func TestUnknownArch(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Root = tree(t, map[string]string{"proc/device-tree/compatible": "sifive,hifive\x00"})
	cfg.Arch = "riscv64"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := New(cfg); !errors.Is(err, ErrUnknownProfile) || !strings.Contains(err.Error(), `"riscv64"`) {
		t.Fatalf("New = %v, want ErrUnknownProfile naming riscv64", err)
	}
	cfg.Profile = ProfileGenericARM64 // an explicit profile works on any architecture
	if _, err := New(cfg); err != nil {
		t.Fatalf("New with explicit profile: %v", err)
	}
}

func TestClockSanity(t *testing.T) {
	floor := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rtcAt := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	withRTC := map[string]string{
		"sys/class/rtc/rtc0/name":        "rtc-efi\n",
		"sys/class/rtc/rtc1/name":        "rtc-pcf8563 1-0051\n",
		"sys/class/rtc/rtc1/hctosys":     "1\n",
		"sys/class/rtc/rtc1/since_epoch": "1795255200\n",
		"sys/class/rtc/rtc0/since_epoch": "5\n",
	}
	tests := []struct {
		name     string
		files    map[string]string
		now      time.Time
		tx       timex
		txErr    error
		sync     board.SyncState
		rtc      board.RTC
		wantErr  error
		maxError time.Duration
	}{
		{"synced with rtc", withRTC, rtcAt.Add(3 * time.Second), timex{maxError: 25 * time.Millisecond}, nil,
			board.SyncSynced, board.RTC{Present: true, Name: "rtc1", Driver: "rtc-pcf8563 1-0051", Time: rtcAt}, nil, 25 * time.Millisecond},
		{"unsynced but plausible", withRTC, rtcAt, timex{unsynced: true, maxError: 16 * time.Second}, nil,
			board.SyncUnsynced, board.RTC{Present: true, Name: "rtc1", Driver: "rtc-pcf8563 1-0051", Time: rtcAt}, nil, 16 * time.Second},
		{"epoch after a dead RTC battery", map[string]string{}, time.Unix(0, 0), timex{unsynced: true}, nil,
			board.SyncUnsynced, board.RTC{}, board.ErrClockImplausible, 0},
		{"adjtimex refused", map[string]string{"sys/class/rtc/rtc0/name": "pl031\n", "sys/class/rtc/rtc0/since_epoch": "garbage"},
			floor.Add(-time.Second), timex{}, errors.New("operation not permitted"),
			board.SyncUnknown, board.RTC{Present: true, Name: "rtc0", Driver: "pl031"}, board.ErrClockImplausible, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Root = tree(t, tc.files)
			cfg.Arch = "arm64"
			cfg.ClockFloor = floor
			cfg.Now = func() time.Time { return tc.now }
			b := newBoard(t, cfg)
			b.adjtimex = func() (timex, error) { return tc.tx, tc.txErr }
			s, err := b.ClockSanity(context.Background())
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !s.Now.Equal(tc.now) || !s.Floor.Equal(floor) || s.Sync != tc.sync || s.MaxError != tc.maxError {
				t.Errorf("status %+v", s)
			}
			if s.RTC != tc.rtc {
				t.Errorf("rtc %+v, want %+v", s.RTC, tc.rtc)
			}
		})
	}

	t.Run("canceled context", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Root = tree(t, map[string]string{})
		cfg.Arch = "arm64"
		b := newBoard(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := b.ClockSanity(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

// TestThisMachine runs detection and the clock check on the real system this test runs
// on (the build host, qemu-user, or the QEMU guest of board/qemu): nothing may fail or
// panic, and the kernel's adjtimex must answer.
func TestThisMachine(t *testing.T) {
	b := newBoard(t, DefaultConfig())
	id := b.Identity()
	t.Logf("profile %s, identity %+v, devices %+v", b.Profile().Name, id, b.Devices())
	if id.Profile == "" || id.Model == "" {
		t.Errorf("identity %+v: profile and model are always set", id)
	}
	if id.SerialSource == board.SourceMachineID && id.Serial != id.MachineID {
		t.Errorf("serial from machine-id %q differs from the machine id %q", id.Serial, id.MachineID)
	}
	s, err := b.ClockSanity(context.Background())
	t.Logf("clock %+v err %v", s, err)
	if err != nil {
		t.Errorf("ClockSanity on this machine: %v", err)
	}
	if runtime.GOOS == "linux" && s.Sync == board.SyncUnknown {
		t.Errorf("adjtimex did not answer on Linux")
	}
}
