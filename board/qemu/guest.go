package qemu

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/posagent/posagent/board/qemu/plan"
)

// Guest is the content of a test guest's initramfs.
type Guest struct {
	// Init is the host path of the static linux/arm64 testinit binary
	// (GoBuild of ./board/qemu/testinit); it becomes /init.
	Init string
	// Plans is written to plan.Path; its Modules field is set to the assets' load order.
	Plans plan.File
	// Files maps guest paths to host files (programs, test binaries), modes kept.
	Files map[string]string
	// Trees maps guest directories to host directories copied recursively (testdata).
	Trees map[string]string
	// MachineID is written to /etc/machine-id (32 lower-case hex digits); "" makes a
	// random one, so every Build is a different terminal.
	MachineID string
}

// ModulesDir is where the kernel modules go in the guest.
const ModulesDir = "/modules"

// Build writes the guest's initramfs (gzip cpio) to out.
func (g *Guest) Build(a Assets, out string) error {
	if err := checkELF(g.Init); err != nil {
		return fmt.Errorf("guest build: init: %w", err)
	}
	fs := NewInitramfs()
	if err := fs.AddHostFile("init", g.Init); err != nil {
		return fmt.Errorf("guest build: %w", err)
	}
	if err := fs.AddHostTree(ModulesDir, a.Modules); err != nil {
		return fmt.Errorf("guest build: %w", err)
	}
	id := g.MachineID
	if id == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("guest build: %w", err)
		}
		id = hex.EncodeToString(b[:])
	}
	if err := fs.AddFile("etc/machine-id", 0o444, []byte(id+"\n")); err != nil {
		return fmt.Errorf("guest build: %w", err)
	}
	plans := g.Plans
	plans.Modules = ModulesDir + "/order"
	if err := plans.Validate(); err != nil {
		return fmt.Errorf("guest build: %w", err)
	}
	data, err := json.MarshalIndent(plans, "", "  ")
	if err != nil {
		return fmt.Errorf("guest build: %w", err)
	}
	if err := fs.AddFile(plan.Path, 0o644, data); err != nil {
		return fmt.Errorf("guest build: %w", err)
	}
	for _, dst := range sortedKeys(g.Files) {
		if err := fs.AddHostFile(dst, g.Files[dst]); err != nil {
			return fmt.Errorf("guest build: %w", err)
		}
	}
	for _, dst := range sortedKeys(g.Trees) {
		if err := fs.AddHostTree(dst, g.Trees[dst]); err != nil {
			return fmt.Errorf("guest build: %w", err)
		}
	}
	if err := fs.WriteFile(out); err != nil {
		return fmt.Errorf("guest build: %w", err)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
