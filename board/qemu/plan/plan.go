// Package plan owns the test plan the QEMU guest's init (board/qemu/testinit) executes:
// which kernel modules to load, which devices to wait for, the network and the persistent
// disk to set up, and the steps (programs and test binaries) to run, in order.
//
// The host writes a Plan as JSON into the initramfs (Path); the guest reads it. Plans
// are selected at boot by name with TESTINIT_PLAN=<name> on the kernel command line, and
// every other KEY=value on the command line reaches the steps as an environment variable
// (the kernel hands unknown parameters to init as its environment).
//
// Package plan imports only the standard library; both the host harness and the guest
// init import it.
package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
)

// Path is where the plan file lives in the initramfs.
const Path = "/testinit/plans.json"

// Console lines testinit prints; the host parses them.
const (
	// DonePrefix starts the last line of a boot: "TESTINIT DONE fail=N".
	DonePrefix = "TESTINIT DONE fail="
	// PassPrefix and FailPrefix start a step's result line: "TESTINIT PASS <name> (1.2s)".
	PassPrefix = "TESTINIT PASS "
	FailPrefix = "TESTINIT FAIL "
	// RunPrefix starts the line printed before a step runs.
	RunPrefix = "TESTINIT RUN "
)

// File is the plan file: shared set-up plus named plans.
type File struct {
	// Modules is the file listing kernel modules to load, one file name per line,
	// relative to its directory (setup.sh writes modules/order). Empty: none.
	Modules string `json:"modules,omitempty"`
	// Network brings up lo and eth0 (10.0.2.15/24: QEMU user networking, host 10.0.2.2).
	Network bool `json:"network,omitempty"`
	// Disk, when set, is mounted before any step runs and unmounted cleanly after the last.
	Disk *Disk `json:"disk,omitempty"`
	// WaitFor lists device paths that must appear before the steps start (drivers probe
	// asynchronously after their module is loaded), e.g. "/dev/tpmrm0".
	WaitFor []string `json:"wait_for,omitempty"`
	// Plans maps plan names to their steps.
	Plans map[string][]Step `json:"plans"`
}

// Disk is the persistent block device.
type Disk struct {
	Device string `json:"device"` // e.g. "/dev/vda"
	Mount  string `json:"mount"`  // e.g. "/var/lib/posagent"
	FSType string `json:"fstype"` // e.g. "ext4"
}

// Step is one program the guest runs.
type Step struct {
	// Name identifies the step in the console output: [A-Za-z0-9._-]+.
	Name string `json:"name"`
	// Args is the program (absolute path in the guest) and its arguments. Arguments of
	// the form ${KEY} are replaced by the environment variable KEY.
	Args []string `json:"args"`
	// Dir is the working directory (default "/"; created if missing). A test binary
	// built from package p runs in /src/p to find its ../../testdata as in the source tree.
	Dir string `json:"dir,omitempty"`
	// Env adds KEY=value entries to the environment.
	Env []string `json:"env,omitempty"`
	// Timeout kills the step (SIGKILL) and fails it; Go duration syntax, default "60s".
	Timeout string `json:"timeout,omitempty"`
	// Background starts the step and goes on at once (a daemon for later steps); it is
	// killed after the last step. It fails only if it exits early with an error.
	Background bool `json:"background,omitempty"`
	// WaitFor, for a background step, is a path (a socket) to wait for before the next
	// step starts; the step fails if it does not appear within Timeout.
	WaitFor string `json:"wait_for,omitempty"`
}

// DefaultTimeout is a step's timeout when it sets none.
const DefaultTimeout = 60 * time.Second

// TimeoutOrDefault parses Timeout.
func (s Step) TimeoutOrDefault() time.Duration {
	if d, err := time.ParseDuration(s.Timeout); err == nil && d > 0 {
		return d
	}
	return DefaultTimeout
}

// ErrInvalid is wrapped by every Validate error.
var ErrInvalid = errors.New("plan: invalid")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Validate checks the whole file and returns all faults, each wrapping ErrInvalid.
func (f *File) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalid))
	}
	abs := func(field, p string) {
		if !path.IsAbs(p) {
			bad(field, "%q is not an absolute path", p)
		}
	}
	if f.Modules != "" {
		abs("modules", f.Modules)
	}
	for i, p := range f.WaitFor {
		abs(fmt.Sprintf("wait_for[%d]", i), p)
	}
	if d := f.Disk; d != nil {
		abs("disk.device", d.Device)
		abs("disk.mount", d.Mount)
		if d.FSType == "" {
			bad("disk.fstype", "required")
		}
	}
	if len(f.Plans) == 0 {
		bad("plans", "at least one plan is required")
	}
	for name, steps := range f.Plans {
		if !nameRE.MatchString(name) {
			bad("plans", "plan name %q: want [A-Za-z0-9._-]+", name)
		}
		seen := map[string]bool{}
		for i, s := range steps {
			field := fmt.Sprintf("plans[%s][%d]", name, i)
			switch {
			case !nameRE.MatchString(s.Name):
				bad(field+".name", "%q: want [A-Za-z0-9._-]+", s.Name)
			case seen[s.Name]:
				bad(field+".name", "%q used twice", s.Name)
			}
			seen[s.Name] = true
			if len(s.Args) == 0 {
				bad(field+".args", "required")
			} else {
				abs(field+".args[0]", s.Args[0])
			}
			if s.Dir != "" {
				abs(field+".dir", s.Dir)
			}
			for _, e := range s.Env {
				if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
					bad(field+".env", "%q is not KEY=value", e)
				}
			}
			if s.Timeout != "" {
				if d, err := time.ParseDuration(s.Timeout); err != nil || d <= 0 {
					bad(field+".timeout", "%q is not a positive duration", s.Timeout)
				}
			}
			if s.WaitFor != "" {
				abs(field+".wait_for", s.WaitFor)
				if !s.Background {
					bad(field+".wait_for", "only a background step can wait for a path")
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Parse decodes and validates a plan file; unknown fields are rejected.
func Parse(data []byte) (*File, error) {
	var f File
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("plan parse: %w: %w", ErrInvalid, err)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("plan parse: %w", err)
	}
	return &f, nil
}

// Expand replaces ${KEY} in s with getenv(KEY); unknown keys become "".
func Expand(s string, getenv func(string) string) string {
	return envRE.ReplaceAllStringFunc(s, func(m string) string { return getenv(m[2 : len(m)-1]) })
}

var envRE = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// Result is what a boot's console says about its plan.
type Result struct {
	// Done is true when the "TESTINIT DONE" line was seen; Fail is its count.
	Done bool
	Fail int
	// Passed and Failed list step names in the order their result lines appeared.
	Passed, Failed []string
}

// ParseConsole reads testinit's result lines from console output. Lines may carry
// carriage returns (the serial console's CRLF).
func ParseConsole(console string) Result {
	var r Result
	for _, line := range strings.Split(console, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, DonePrefix):
			var n int
			if _, err := fmt.Sscanf(line[len(DonePrefix):], "%d", &n); err == nil {
				r.Done, r.Fail = true, n
			}
		case strings.HasPrefix(line, PassPrefix):
			r.Passed = append(r.Passed, stepName(line[len(PassPrefix):]))
		case strings.HasPrefix(line, FailPrefix):
			r.Failed = append(r.Failed, stepName(line[len(FailPrefix):]))
		}
	}
	return r
}

// stepName is the first word (step names have no spaces; a "(1.2s)" or ": reason" follows).
func stepName(s string) string {
	if i := strings.IndexAny(s, " :"); i >= 0 {
		return s[:i]
	}
	return s
}
