package interop

import "syscall"

// childAttr makes a child process get SIGKILL when the test binary dies,
// so that a crashed or killed `go test` leaves no agora or node behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
