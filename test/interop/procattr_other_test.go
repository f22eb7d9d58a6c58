//go:build !linux

package interop

import "syscall"

// childAttr: without Linux's parent-death signal, the peers still exit
// when their stdin closes; agora is stopped by test cleanup only.
func childAttr() *syscall.SysProcAttr { return nil }
