package linux

import (
	"errors"
	"fmt"
	"slices"

	"github.com/posagent/posagent/board"
)

// Profile names.
const (
	ProfileQEMUVirt     = "qemu-virt"
	ProfileGenericARM64 = "generic-arm64"
	ProfileGenericARMv7 = "generic-armv7"
	ProfileGenericAMD64 = "generic-amd64"
)

// genericBaud is the default line speed of a serial ESC/POS printer when the profile
// knows nothing better: the usual factory setting of such printers. USB (CDC ACM)
// printers ignore it.
const genericBaud = 9600

var profiles = []board.Profile{
	{
		Name:        ProfileQEMUVirt,
		Description: "QEMU arm64 virt machine",
		// -device pci-serial: the only 16550 on the machine (the PL011 is the console).
		PrinterPorts: []string{"/dev/ttyS0"},
		PrinterBaud:  115200,
	},
	{Name: ProfileGenericARM64, Description: "generic arm64 Linux terminal", PrinterBaud: genericBaud},
	{Name: ProfileGenericARMv7, Description: "generic ARMv7 Linux terminal", PrinterBaud: genericBaud},
	{Name: ProfileGenericAMD64, Description: "generic x86-64 Linux terminal", PrinterBaud: genericBaud},
}

// archProfiles maps GOARCH values to their generic profile.
var archProfiles = map[string]string{
	"arm64": ProfileGenericARM64,
	"arm":   ProfileGenericARMv7,
	"amd64": ProfileGenericAMD64,
}

// ErrUnknownProfile is wrapped when a profile name or an architecture has no profile.
var ErrUnknownProfile = errors.New("board/linux: unknown board profile")

// Profiles returns the known board profiles.
func Profiles() []board.Profile {
	out := make([]board.Profile, len(profiles))
	for i, p := range profiles {
		p.PrinterPorts = slices.Clone(p.PrinterPorts)
		out[i] = p
	}
	return out
}

// LookupProfile returns the profile called name.
func LookupProfile(name string) (board.Profile, error) {
	for _, p := range Profiles() {
		if p.Name == name {
			return p, nil
		}
	}
	return board.Profile{}, fmt.Errorf("profile %q (known: %s): %w", name, profileNames(), ErrUnknownProfile)
}

func profileNames() string {
	s := ""
	for i, p := range profiles {
		if i > 0 {
			s += ", "
		}
		s += p.Name
	}
	return s
}
