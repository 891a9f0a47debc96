//go:build !linux

package sqlstore

import "syscall"

// setUserTimeout does nothing where TCP_USER_TIMEOUT does not exist:
// keepalive probes alone notice dead peers, on idle connections.
func setUserTimeout(string, string, syscall.RawConn) error { return nil }
