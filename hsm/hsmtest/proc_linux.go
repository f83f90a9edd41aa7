package hsmtest

import "syscall"

// sysProcAttr makes the kernel kill swtpm if the test process dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
