package adminweb

import (
	"net/url"
	"strings"
	"testing"
)

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"/admin/accounts?q=a&page=2", "/admin/accounts?q=a&page=2"},
		{"/me", "/me"},
		{"/", "/"},
		{"/admin/accounts?q=%C3%A9", "/admin/accounts?q=%C3%A9"},
		{"", ""},
		{"/\t/evil.test", ""},
		{"/%09/evil.test", ""},
		{"/%0A/evil.test", ""},
		{"/%2F/evil.test", ""},
		{"/%5Cevil.test", ""},
		{"/\\evil.test", ""},
		{"//evil.test", ""},
		{"/?x", ""},
		{"/#x", ""},
		{"/%", ""},
		{"/a%zz", ""},
		{"/a b", ""},
		{"/a\x7f", ""},
		{"/é", ""},
		{"/a%C2%85", ""}, // U+0085, a C1 control
		{"https://evil.test/", ""},
		{"evil.test", ""},
		{"admin", ""},
		{"/\\evil.example", ""},
		{"/" + strings.Repeat("a", maxNext), ""},
	} {
		if got := localPath(tt.in); got != tt.want {
			t.Errorf("localPath(%.80q) = %.80q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzLocalPath: whatever comes in, what comes out is "" or the input,
// and a browser resolves it on this site: after the WHATWG URL parser's
// clean-up (tabs and newlines dropped, "\" read as "/"), in raw and in
// decoded form, it is a path that does not start with "//".
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/me", "/\t/evil.test", "/%09/x", "//x", "/\\x", "/%2f/x", "/a?b=%5C"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := localPath(in)
		if out == "" {
			return
		}
		if out != in {
			t.Fatalf("localPath(%q) = %q", in, out)
		}
		dec, _ := url.PathUnescape(out)
		for _, s := range []string{out, dec} {
			s = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(s)
			if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
				t.Fatalf("localPath(%q) lets a browser leave the site (%q)", in, s)
			}
		}
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			t.Fatalf("localPath(%q): %v %+v", in, err, u)
		}
	})
}
