package imapserver

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// fetchLiteral runs a FETCH of one item whose value is a literal and
// returns how the literal was introduced ("{" or "~{") and its octets.
func (r *raw) fetchLiteral(command string) (kind string, data []byte) {
	r.t.Helper()
	r.tag++
	tag := fmt.Sprintf("t%d", r.tag)
	r.write(tag + " " + command + "\r\n")
	head := r.line()
	m := regexp.MustCompile(`(~?\{)(\d+)\}$`).FindStringSubmatch(head)
	if m == nil {
		r.t.Fatalf("%s: no literal in %q", command, head)
	}
	n, _ := strconv.Atoi(m[2])
	data = make([]byte, n)
	if _, err := io.ReadFull(r.r, data); err != nil {
		r.t.Fatalf("%s: reading the literal: %v", command, err)
	}
	for {
		l := r.line()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				r.t.Fatalf("%s: %s", command, l)
			}
			return m[1], data
		}
	}
}

// Binary content APPENDed as literal8 (RFC 3516): BODY[] carries it
// re-encoded in base64, never with NUL (which a plain literal cannot
// carry: it used to become a space); BINARY[] gives the exact octets back
// (issue 17 item 3).
func TestBinaryAppendReencoded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	content := "\x00\x01\x02bin\x00ary\xff\r\nsecond line\x00"
	multi := "From: a@example.test\r\nSubject: bin\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" + content + "\r\n--B--\r\n"
	single := "From: a@example.test\r\nSubject: one\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Transfer-Encoding: binary\r\n\r\n" + content
	r := e.rawTLS(t).login()
	for _, msg := range []string{multi, single} {
		r.write(fmt.Sprintf("a APPEND INBOX ~{%d+}\r\n%s\r\n", len(msg), msg))
		if l := r.line(); !strings.HasPrefix(l, "a OK [APPENDUID") {
			t.Fatalf("APPEND literal8: %s", l)
		}
	}
	r.ok("SELECT INBOX")
	for _, tt := range []struct {
		seq  int
		part string
	}{{1, "2"}, {2, "1"}} {
		kind, body := r.fetchLiteral(fmt.Sprintf("FETCH %d BODY.PEEK[]", tt.seq))
		if kind != "{" || bytes.IndexByte(body, 0) >= 0 {
			t.Fatalf("message %d: BODY[] as %q with NUL: %q", tt.seq, kind, body)
		}
		if !bytes.Contains(body, []byte("Content-Transfer-Encoding: base64\r\n")) || bytes.Contains(body, []byte("Content-Transfer-Encoding: binary")) {
			t.Fatalf("message %d: BODY[] not re-encoded: %q", tt.seq, body)
		}
		_, part := r.fetchLiteral(fmt.Sprintf("FETCH %d BODY.PEEK[%s]", tt.seq, tt.part))
		dec, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(part)))
		if err != nil || string(dec) != content {
			t.Fatalf("message %d: BODY[%s] = %q, decoded %q (%v)", tt.seq, tt.part, part, dec, err)
		}
		kind, bin := r.fetchLiteral(fmt.Sprintf("FETCH %d BINARY.PEEK[%s]", tt.seq, tt.part))
		if kind != "~{" || string(bin) != content {
			t.Fatalf("message %d: BINARY[%s] as %q: %q", tt.seq, tt.part, kind, bin)
		}
		if u := r.ok(fmt.Sprintf("FETCH %d (BINARY.SIZE[%s] RFC822.SIZE)", tt.seq, tt.part)); !contains(u, fmt.Sprintf("BINARY.SIZE[%s] %d", tt.part, len(content))) ||
			!contains(u, fmt.Sprintf("RFC822.SIZE %d", len(body))) {
			t.Fatalf("message %d: sizes %q (BODY[] is %d octets)", tt.seq, u, len(body))
		}
	}
	// BINARY[] decodes every part: the single-part message comes back as
	// it was sent, the multipart one with its binary part as sent.
	if kind, whole := r.fetchLiteral("FETCH 2 BINARY.PEEK[]"); kind != "~{" || string(whole) != single {
		t.Fatalf("BINARY[] of the single-part message as %q: %q", kind, whole)
	}
	if kind, whole := r.fetchLiteral("FETCH 1 BINARY.PEEK[]"); kind != "~{" || !bytes.Contains(whole, []byte("Content-Transfer-Encoding: binary\r\n\r\n"+content+"\r\n--B--")) {
		t.Fatalf("BINARY[] of the multipart message as %q: %q", kind, whole)
	}
	// The text part is left as it was.
	if _, text := r.fetchLiteral("FETCH 1 BODY.PEEK[1]"); string(text) != "hello" {
		t.Fatalf("BODY[1] = %q", text)
	}
}

func TestReencodeBinary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		same     bool
	}{
		{"no NUL", "Subject: x\r\n\r\nbody\r\n", true},
		{"NUL in a base64 part", "Content-Transfer-Encoding: base64\r\n\r\nAA\x00A\r\n", true},
		{"NUL in a plain body", "Subject: x\r\n\r\na\x00b\r\n", false},
		{"nested message", "Content-Type: message/rfc822\r\n\r\nSubject: in\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\x00\r\n", false},
	}
	for _, tt := range tests {
		got := reencodeBinary([]byte(tt.in))
		if (string(got) == tt.in) != tt.same {
			t.Errorf("%s: %q → %q", tt.name, tt.in, got)
		}
		if !tt.same && bytes.IndexByte(got, 0) >= 0 {
			t.Errorf("%s: NUL left in %q", tt.name, got)
		}
	}
}

// FuzzReencodeBinary: any message is re-encoded (and decoded for BINARY[])
// without a panic; one without NUL (with nothing encoded) is left as it is.
func FuzzReencodeBinary(f *testing.F) {
	f.Add([]byte("Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\na\x00\r\n--B--\r\n"))
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/x; boundary=\"\"\r\n\r\n\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		got := reencodeBinary(msg)
		if bytes.IndexByte(msg, 0) < 0 && !bytes.Equal(got, msg) {
			t.Fatalf("changed a message without NUL: %q → %q", msg, got)
		}
		low := bytes.ToLower(msg)
		if dec := decodeMessage(msg); !bytes.Contains(low, []byte("base64")) && !bytes.Contains(low, []byte("quoted-printable")) && !bytes.Equal(dec, msg) {
			t.Fatalf("BINARY[] changed a message with nothing to decode: %q → %q", msg, dec)
		}
	})
}

// A literal8 with NUL over Config.BinaryConvertLimit cannot be re-encoded
// in memory: NO [LIMIT], nothing stored, the session in step.
func TestBinaryAppendOverConvertLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.BinaryConvertLimit = 100 })
	r := e.rawTLS(t).login()
	big := "Subject: big\r\n\r\n" + strings.Repeat("a\x00", 100)
	r.write(fmt.Sprintf("a APPEND INBOX ~{%d+}\r\n%s\r\n", len(big), big))
	if l := r.line(); !strings.HasPrefix(l, "a NO [LIMIT]") {
		t.Fatalf("APPEND over the limit: %s", l)
	}
	// Without NUL a larger literal8 is stored as sent.
	plain := "Subject: big\r\n\r\n" + strings.Repeat("ab", 100)
	r.write(fmt.Sprintf("b APPEND INBOX ~{%d+}\r\n%s\r\n", len(plain), plain))
	if l := r.line(); !strings.HasPrefix(l, "b OK [APPENDUID") {
		t.Fatalf("APPEND without NUL: %s", l)
	}
	if u := r.ok("STATUS INBOX (MESSAGES)"); !contains(u, "MESSAGES 1)") {
		t.Fatalf("after the refused APPEND: %q", u)
	}
}
