package linux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/posagent/posagent/board"
)

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("board/linux: invalid config")

// Config configures a Board. The zero value of every override means "detect".
type Config struct {
	// Root is the directory the system's paths are read below: "/" in production.
	Root string
	// Profile forces a board profile by name; "" detects it.
	Profile string
	// Arch is the GOARCH used to pick a generic profile; "" means runtime.GOARCH.
	Arch string
	// Model and Serial override the detected identity.
	Model, Serial string
	// TPM overrides the TPM device path (absolute, e.g. "/dev/tpm0").
	TPM string
	// PrinterPort (absolute) and PrinterBaud override the profile's printer defaults.
	PrinterPort string
	PrinterBaud int
	// ClockFloor is the earliest plausible time; zero means board.DefaultClockFloor().
	ClockFloor time.Time
	// Now reads the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the detection result; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the production configuration: everything detected below "/".
func DefaultConfig() Config {
	return Config{Root: "/"}
}

// bauds are the line speeds termios offers and serial printers use.
var bauds = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}

// Validate checks every field and returns all faults, each wrapping ErrConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrConfig))
	}
	if !filepath.IsAbs(c.Root) {
		bad("Root", "%q is not an absolute path", c.Root)
	}
	if c.Profile != "" {
		if _, err := LookupProfile(c.Profile); err != nil {
			bad("Profile", "%v", err)
		}
	}
	for _, f := range []struct{ name, v string }{{"TPM", c.TPM}, {"PrinterPort", c.PrinterPort}} {
		if f.v != "" && !filepath.IsAbs(f.v) {
			bad(f.name, "%q is not an absolute path", f.v)
		}
	}
	if c.PrinterBaud != 0 && !slices.Contains(bauds, c.PrinterBaud) {
		bad("PrinterBaud", "%d is not a standard line speed %v", c.PrinterBaud, bauds)
	}
	for _, f := range []struct{ name, v string }{{"Model", c.Model}, {"Serial", c.Serial}} {
		if f.v != "" && (strings.TrimSpace(f.v) != f.v || strings.ContainsFunc(f.v, badIdentRune)) {
			bad(f.name, "%q must be printable, without \"|\" and without leading or trailing spaces", f.v)
		}
	}
	return errors.Join(errs...)
}

func badIdentRune(r rune) bool { return r == '|' || !unicode.IsPrint(r) }

// Board is the Linux implementation of board.Board.
type Board struct {
	cfg      Config
	profile  board.Profile
	identity board.Identity
	log      *slog.Logger
	adjtimex func() (timex, error) // the kernel's clock state; replaced in tests
}

var _ board.Board = (*Board)(nil)

// New validates cfg, picks the board profile and reads the identity.
func New(cfg Config) (*Board, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("board new: %w", err)
	}
	if cfg.Arch == "" {
		cfg.Arch = runtime.GOARCH
	}
	if cfg.ClockFloor.IsZero() {
		cfg.ClockFloor = board.DefaultClockFloor()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := &Board{cfg: cfg, log: cfg.Logger.With("subsystem", "board"), adjtimex: readTimex}
	p, err := b.detectProfile()
	if err != nil {
		return nil, fmt.Errorf("board new: %w", err)
	}
	b.profile = p
	b.identity = b.readIdentity()
	id := b.identity
	b.log.Info("board detected", "profile", p.Name, "model", id.Model, "model_source", string(id.ModelSource),
		"serial", id.Serial, "serial_source", string(id.SerialSource), "machine_id", id.MachineID)
	if id.SerialSource == board.SourceMachineID {
		b.log.Warn("board serial falls back to the machine id, which changes when the system is reinstalled")
	}
	return b, nil
}

// Profile returns the board profile in use.
func (b *Board) Profile() board.Profile {
	p := b.profile
	p.PrinterPorts = slices.Clone(p.PrinterPorts)
	return p
}

// Identity implements board.Board.
func (b *Board) Identity() board.Identity { return b.identity }

func (b *Board) detectProfile() (board.Profile, error) {
	if b.cfg.Profile != "" {
		return LookupProfile(b.cfg.Profile)
	}
	if compat, ok := b.readDT("compatible"); ok {
		if slices.Contains(strings.Split(compat, "\x00"), "linux,dummy-virt") {
			return LookupProfile(ProfileQEMUVirt)
		}
	}
	name, ok := archProfiles[b.cfg.Arch]
	if !ok {
		return board.Profile{}, fmt.Errorf("detect profile: no profile for architecture %q (set Profile): %w",
			b.cfg.Arch, ErrUnknownProfile)
	}
	return LookupProfile(name)
}

// path maps an absolute system path below Root.
func (b *Board) path(p string) string { return filepath.Join(b.cfg.Root, p) }

// read returns the contents of a system file, or ok=false (logged) when it is missing
// or unreadable.
func (b *Board) read(p string) ([]byte, bool) {
	data, err := os.ReadFile(b.path(p))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			b.log.Debug("board: source unreadable", "path", p, "err", err)
		}
		return nil, false
	}
	return data, true
}

// readDT reads a device-tree property; string lists keep their NUL separators, the
// trailing NUL is removed.
func (b *Board) readDT(prop string) (string, bool) {
	for _, base := range []string{"/proc/device-tree", "/sys/firmware/devicetree/base"} {
		if data, ok := b.read(base + "/" + prop); ok {
			return string(bytes.TrimRight(data, "\x00")), true
		}
	}
	return "", false
}

// exists reports whether a system path exists.
func (b *Board) exists(p string) bool {
	_, err := os.Stat(b.path(p))
	return err == nil
}

// ClockSanity implements board.Board.
func (b *Board) ClockSanity(ctx context.Context) (board.ClockStatus, error) {
	s := board.ClockStatus{Now: b.cfg.Now(), Floor: b.cfg.ClockFloor}
	if tx, err := b.adjtimex(); err != nil {
		b.log.Debug("board: adjtimex", "err", err)
	} else {
		s.Sync = board.SyncSynced
		if tx.unsynced {
			s.Sync = board.SyncUnsynced
		}
		s.MaxError = tx.maxError
	}
	s.RTC = b.readRTC()
	if err := ctx.Err(); err != nil {
		return s, fmt.Errorf("clock sanity: %w", err)
	}
	return s, s.Err()
}

// timex is the part of the kernel's adjtimex state the sanity check uses.
type timex struct {
	unsynced bool
	maxError time.Duration
}
