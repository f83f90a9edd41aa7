//go:build !linux

package hsmtest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
