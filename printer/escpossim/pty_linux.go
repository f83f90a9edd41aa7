package escpossim

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal pair for the simulator: the printer side (Master)
// and the device a driver opens (SlavePath, an ordinary tty).
type PTY struct {
	// Master is non-blocking and in Go's poller, so read deadlines and Close
	// interrupt a Serve blocked on it (creack/pty's Open leaves it blocking).
	Master *os.File
	// Slave is kept open by the simulator so that the master does not see
	// EIO while no driver has the device open.
	Slave     *os.File
	SlavePath string
}

// OpenPTY opens a pseudo-terminal pair with the slave in raw mode (no echo,
// no line editing, no CR/LF translation), so ESC/POS bytes pass unchanged.
func OpenPTY() (*PTY, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	var (
		n     uint32
		ioErr error
	)
	rc, err := m.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) {
			if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr != nil {
				return
			}
			n, ioErr = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN)
		})
	}
	if err == nil {
		err = ioErr
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("open pty: unlock: %w", err)
	}
	path := "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	s, err := os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("open pty slave: %w", err)
	}
	if err := makeRaw(s); err != nil {
		m.Close()
		s.Close()
		return nil, fmt.Errorf("open pty: raw mode: %w", err)
	}
	return &PTY{Master: m, Slave: s, SlavePath: path}, nil
}

// Close closes both ends.
func (p *PTY) Close() error {
	err1 := p.Master.Close()
	err2 := p.Slave.Close()
	if err1 != nil {
		return err1
	}
	return err2
}

func makeRaw(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
		ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err != nil {
		return err
	}
	return ioErr
}
