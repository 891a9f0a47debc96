package pop3server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"strings"
	"testing"
)

// refDot is the obvious, whole-message version of dotWriter.
func refDot(in []byte, bodyLines int) []byte {
	var lines [][]byte
	var cur []byte
	ended := true
	for i := 0; i < len(in); i++ {
		switch c := in[i]; c {
		case '\r', '\n':
			if c == '\r' && i+1 < len(in) && in[i+1] == '\n' {
				i++
			}
			lines = append(lines, cur)
			cur, ended = nil, true
		default:
			cur = append(cur, c)
			ended = false
		}
	}
	if !ended {
		lines = append(lines, cur)
	}
	var out bytes.Buffer
	inHeader := true
	for _, l := range lines {
		if !inHeader && bodyLines >= 0 {
			if bodyLines == 0 {
				break
			}
			bodyLines--
		}
		if len(l) > 0 && l[0] == '.' {
			out.WriteByte('.')
		}
		out.Write(l)
		out.WriteString("\r\n")
		if inHeader && len(l) == 0 {
			inHeader = false
		}
	}
	out.WriteString(".\r\n")
	return out.Bytes()
}

// dotWrite runs dotWriter over in, cut into chunks of size chunk.
func dotWrite(t testing.TB, in []byte, bodyLines, chunk int) []byte {
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	dw := newDotWriter(bw, bodyLines)
	for p := in; len(p) > 0; {
		n := min(chunk, len(p))
		if _, err := dw.Write(p[:n]); errors.Is(err, errTopDone) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := dw.Close(); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	return out.Bytes()
}

func TestDotWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		lines int
		want  string
	}{
		{"", -1, ".\r\n"},
		{"a", -1, "a\r\n.\r\n"},
		{"a\r\n", -1, "a\r\n.\r\n"},
		{".\r\n", -1, "..\r\n.\r\n"},
		{"a\r\n.\r\nb\r\n", -1, "a\r\n..\r\nb\r\n.\r\n"},
		{"..x\n.y\r.z", -1, "...x\r\n..y\r\n..z\r\n.\r\n"},
		{"a\nb\rc\r\n\r\n", -1, "a\r\nb\r\nc\r\n\r\n.\r\n"},
		{"a\r\r\nb", -1, "a\r\n\r\nb\r\n.\r\n"},
		{"x. y\r\n", -1, "x. y\r\n.\r\n"},
		{"H: 1\r\nH: 2\r\n\r\nb1\r\n.b2\r\nb3\r\n", 0, "H: 1\r\nH: 2\r\n\r\n.\r\n"},
		{"H: 1\r\nH: 2\r\n\r\nb1\r\n.b2\r\nb3\r\n", 2, "H: 1\r\nH: 2\r\n\r\nb1\r\n..b2\r\n.\r\n"},
		{"H: 1\r\nH: 2\r\n\r\nb1\r\n.b2\r\nb3\r\n", 10, "H: 1\r\nH: 2\r\n\r\nb1\r\n..b2\r\nb3\r\n.\r\n"},
		{"H: 1\r\nno body", 0, "H: 1\r\nno body\r\n.\r\n"},
		{"\r\nbody\r\n", 0, "\r\n.\r\n"},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 2, 3, 7, 1 << 20} {
			got := dotWrite(t, []byte(tt.in), tt.lines, chunk)
			if string(got) != tt.want {
				t.Errorf("dot(%q, %d) chunk %d = %q, want %q", tt.in, tt.lines, chunk, got, tt.want)
			}
			if ref := refDot([]byte(tt.in), tt.lines); string(ref) != tt.want {
				t.Errorf("refDot(%q, %d) = %q, want %q", tt.in, tt.lines, ref, tt.want)
			}
		}
	}
}

// FuzzDotWriter: any content, cut anywhere, gives the reference output, and
// a dot-reader gets back the content with CRLF line endings.
func FuzzDotWriter(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\n.\r\n..\r\nend"), 3, 1)
	f.Add([]byte("a\r\r\n.\n.\r."), 1, -1)
	f.Add([]byte("\r\n.\r\n"), 2, 0)
	f.Fuzz(func(t *testing.T, in []byte, chunk, lines int) {
		chunk = max(1, chunk%64+1)
		lines = max(-1, lines%8)
		got := dotWrite(t, in, lines, chunk)
		if want := refDot(in, lines); !bytes.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
		if lines >= 0 {
			return
		}
		r := textproto.NewReader(bufio.NewReader(bytes.NewReader(got)))
		back, err := io.ReadAll(r.DotReader())
		if err != nil {
			t.Fatal(err)
		}
		// DotReader turns CRLF into LF; compare with the content's lines.
		norm := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(in))
		if norm != "" && !strings.HasSuffix(norm, "\n") {
			norm += "\n"
		}
		if string(back) != norm {
			t.Fatalf("round trip %q → %q", norm, back)
		}
	})
}
