//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit raises this process's RLIMIT_NOFILE so that it can hold
// need descriptors: the soft limit up to the hard one, and the hard one
// too when that is allowed (root). It returns the soft limit in force.
func RaiseFileLimit(need uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("bench: getrlimit: %w", err)
	}
	if l.Cur >= need {
		return l.Cur, nil
	}
	want := l
	want.Cur = max(need, l.Cur)
	if want.Cur > l.Max {
		want.Max = want.Cur
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not allowed to raise the hard limit: take what there is.
		want = syscall.Rlimit{Cur: l.Max, Max: l.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return l.Cur, fmt.Errorf("bench: setrlimit: %w", err)
		}
	}
	return want.Cur, nil
}
