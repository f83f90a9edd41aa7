package tpm

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpenMakesProcessNonDumpable(t *testing.T) {
	// Earlier tests in this process opened stores; start from a dumpable process.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if d, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); d != 1 {
		t.Fatalf("PR_GET_DUMPABLE = %d before Open", d)
	}
	sw := newTPM(t)
	openStore(t, testConfig(t, sw.Spec(), filepath.Join(t.TempDir(), "state")))
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil || d != 0 {
		t.Fatalf("PR_GET_DUMPABLE = %d, %v; want 0", d, err)
	}
}
