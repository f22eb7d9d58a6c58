package fedtest

import (
	"fmt"
	"syscall"
)

// NeedFiles checks that the soft limit on open files allows n (Go raises
// it to the hard limit at start); the fleet needs a listener and a
// connection per host.
func NeedFiles(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil
	}
	if lim.Cur < uint64(n) && lim.Max > lim.Cur {
		lim.Cur = min(lim.Max, uint64(n))
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < uint64(n) {
		return fmt.Errorf("needs %d open files, the limit is %d (ulimit -n)", n, lim.Cur)
	}
	return nil
}
