package imapwire

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWriter(t *testing.T) {
	tests := []struct {
		name string
		utf8 bool
		do   func(w *Writer)
		want string
	}{
		{"quoted", false, func(w *Writer) { w.String(`a "b" \c`) }, `"a \"b\" \\c"`},
		{"CRLF goes literal", false, func(w *Writer) { w.String("a\r\nb") }, "{4}\r\na\r\nb"},
		{"8-bit goes literal without UTF8", false, func(w *Writer) { w.String("ü") }, "{2}\r\nü"},
		{"8-bit quoted with UTF8", true, func(w *Writer) { w.String("ü") }, `"ü"`},
		{"NUL never sent", false, func(w *Writer) { w.String("a\x00b") }, "{3}\r\na b"},
		{"nstring", false, func(w *Writer) { w.NString("") }, "NIL"},
		{"astring atom", false, func(w *Writer) { w.AString("INBOX") }, "INBOX"},
		{"astring NIL is quoted", false, func(w *Writer) { w.AString("nil") }, `"nil"`},
		{"mailbox in UTF-7", false, func(w *Writer) { w.Mailbox("Entwürfe", false) }, "Entw&APw-rfe"},
		{"tagged", false, func(w *Writer) { w.Tagged("a", "NO", "TRYCREATE", "No such\r\nmailbox") }, "a NO [TRYCREATE] No such  mailbox\r\n"},
		{"untagged", false, func(w *Writer) { w.Untagged("OK", "", "") }, "* OK Done\r\n"},
		{"continue", false, func(w *Writer) { w.Continue("") }, "+\r\n"},
		{"literal without NUL", false, func(w *Writer) { w.Literal(strings.NewReader("a\x00b"), 3) }, "{3}\r\na b"},
		{"literal8 keeps NUL", false, func(w *Writer) { w.Literal8(strings.NewReader("a\x00b"), 3) }, "~{3}\r\na\x00b"},
		{"date-time", false, func(w *Writer) { w.DateTime(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)) }, `"01-Jan-1970 00:00:00 +0000"`},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		w := NewWriter(bufio.NewWriter(&b))
		w.UTF8 = tt.utf8
		tt.do(w)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, b.String(), tt.want)
		}
	}
	// A literal whose source ends early is an error (the connection must close).
	var b bytes.Buffer
	w := NewWriter(bufio.NewWriter(&b))
	if err := w.Literal(strings.NewReader("ab"), 5); err == nil {
		t.Error("short literal source accepted")
	}
}
