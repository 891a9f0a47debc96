// Package logfield makes client-supplied text safe for one structured log
// field: bounded in length, with control characters replaced.
package logfield

import "strings"

// Clean returns s cut to max bytes (with "…" when cut) and with control
// characters (and DEL) replaced by '?', so that a value sent by a client
// cannot forge log lines or flood them.
func Clean(s string, max int) string {
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
