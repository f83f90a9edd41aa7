//go:build linux

package linux

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// readTimex reads the kernel's clock discipline state without changing it (modes 0).
func readTimex() (timex, error) {
	var tx unix.Timex
	if _, err := unix.Adjtimex(&tx); err != nil {
		return timex{}, fmt.Errorf("adjtimex: %w", err)
	}
	return timex{
		unsynced: tx.Status&unix.STA_UNSYNC != 0,
		maxError: time.Duration(tx.Maxerror) * time.Microsecond,
	}, nil
}
