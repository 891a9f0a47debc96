package logfield

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"bob@example.test", 100, "bob@example.test"},
		{"a\r\nlevel=ERROR msg=forged", 100, "a??level=ERROR msg=forged"},
		{"tab\there\x00\x7f", 100, "tab?here??"},
		{strings.Repeat("x", 10), 4, "xxxx…"},
		{"", 4, ""},
	} {
		if got := Clean(tc.in, tc.max); got != tc.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
