package delivery

import (
	"strings"
	"testing"
)

func TestParams(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain":       "plain",
		"a+b=c d":     "a+2Bb+3Dc+20d",
		"caf\xc3\xa9": "caf+C3+A9",
		"<x@y>":       "<x@y>",
	} {
		if got := xtext(in); got != want {
			t.Errorf("xtext(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"":                 "",
		"never":            "NEVER",
		"success, failure": "SUCCESS,FAILURE",
		"DELAY,DELAY":      "DELAY",
		"NEVER,SUCCESS":    "",
		"SUCCESS\r\nQUIT":  "",
		"bogus":            "",
	} {
		if got := notifyParam(in); got != want {
			t.Errorf("notifyParam(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		in       string
		smtputf8 bool
		want     string
	}{
		{"rfc822;bob@b.test", false, "rfc822;bob@b.test"},
		{"RFC822;a+b@b.test", false, "RFC822;a+2Bb@b.test"},
		{"rfc822;bøb@b.test", false, `utf-8;b\x{F8}b@b.test`},
		{"utf-8;bøb@b.test", true, "utf-8;bøb@b.test"},
		{"utf-8;a+b@b.test", true, `utf-8;a\x{2B}b@b.test`},
		{"no-semicolon", false, ""},
		{"bad type;x@y", false, ""},
		{"rfc822;x\r\nQUIT", false, "rfc822;x+0D+0AQUIT"},
	} {
		if got := orcptParam(tc.in, tc.smtputf8); got != tc.want {
			t.Errorf("orcptParam(%q, %v) = %q, want %q", tc.in, tc.smtputf8, got, tc.want)
		}
	}
	if got := envidParam(strings.Repeat("x", 101)); got != "" {
		t.Errorf("ENVID over 100 chars was sent: %q", got)
	}
	if got := envidParam("a\r\nb"); got != "" {
		t.Errorf("ENVID with CRLF was sent: %q", got)
	}
	if got := retParam("hdrs"); got != "HDRS" {
		t.Errorf("retParam = %q", got)
	}
}
