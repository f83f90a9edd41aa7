package softkey

import (
	"fmt"
	"unsafe"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/sys/unix"
)

// lockedPage is one anonymous page outside the Go heap that holds a private scalar.
// It is locked in RAM, left out of core dumps and wiped in forked children.
type lockedPage struct {
	b []byte
}

func newLockedPage() (*lockedPage, error) {
	size := unix.Getpagesize()
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("locked memory: mmap: %w", err)
	}
	if err := unix.Mlock(b); err != nil {
		_ = unix.Munmap(b)
		return nil, fmt.Errorf("locked memory: mlock (check RLIMIT_MEMLOCK): %w", err)
	}
	if err := unix.Madvise(b, unix.MADV_DONTDUMP); err != nil {
		_ = unix.Munmap(b)
		return nil, fmt.Errorf("locked memory: madvise MADV_DONTDUMP: %w", err)
	}
	// MADV_WIPEONFORK needs Linux 4.14; older kernels answer EINVAL, which only means a
	// forked child (this daemon does not fork) would inherit a copy.
	_ = unix.Madvise(b, unix.MADV_WIPEONFORK)
	return &lockedPage{b: b}, nil
}

// privateKey returns a secp256k1.PrivateKey that lives in the page. PrivateKey holds
// only integers (no pointers), so keeping it outside the Go heap is safe for the GC.
func (p *lockedPage) privateKey() *secp256k1.PrivateKey {
	return (*secp256k1.PrivateKey)(unsafe.Pointer(&p.b[0]))
}

// destroy zeroes the page, unlocks and unmaps it.
func (p *lockedPage) destroy() error {
	if p.b == nil {
		return nil
	}
	clear(p.b)
	err := unix.Munmap(p.b) // unmapping also unlocks
	p.b = nil
	if err != nil {
		return fmt.Errorf("locked memory: munmap: %w", err)
	}
	return nil
}
