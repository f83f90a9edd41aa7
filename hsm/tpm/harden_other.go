//go:build !linux

package tpm

import (
	"fmt"

	"github.com/posagent/posagent/hsm"
)

func hardenProcess() error {
	return fmt.Errorf("process hardening is only implemented on Linux: %w", hsm.ErrUnsupported)
}
