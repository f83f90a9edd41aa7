package tpm

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// hardenProcess makes the process non-dumpable: no core dumps, no ptrace attach by
// other processes of the same user, /proc/PID/mem readable by root only.
func hardenProcess() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_DUMPABLE 0: %w", err)
	}
	return nil
}
