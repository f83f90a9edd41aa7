//go:build !linux

package softkey

import (
	"fmt"
	"runtime"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/posagent/posagent/hsm"
)

// lockedPage is only implemented on Linux (mlock + MADV_DONTDUMP); elsewhere the
// constructors that need it fail with hsm.ErrUnsupported rather than keep a stamping
// key in ordinary memory.
type lockedPage struct{}

func newLockedPage() (*lockedPage, error) {
	return nil, fmt.Errorf("locked memory: requires Linux (mlock, MADV_DONTDUMP), running on %s: %w", runtime.GOOS, hsm.ErrUnsupported)
}

func (p *lockedPage) privateKey() *secp256k1.PrivateKey { return nil }

func (p *lockedPage) destroy() error { return nil }
