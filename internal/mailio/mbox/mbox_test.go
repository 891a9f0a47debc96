package mbox

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readAll(t *testing.T, data string, f Format) []*Message {
	t.Helper()
	r := NewReader(strings.NewReader(data), f, 0)
	var out []*Message
	for {
		m, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
}

func TestReadMboxrd(t *testing.T) {
	t.Parallel()
	data := "From alice@example.test Thu Nov 26 10:00:00 2026\n" +
		"Status: RO\nX-Status: AF\nX-Keywords: work $Label1\n" +
		"Subject: one\n\n>From here\n>>From there\n>>>From everywhere\nFrom: not a separator, no blank line before\n\n" +
		"From bob@example.test Thu Nov 26 11:00:00 2026\n" +
		"Subject: two\n\nlast line without blank after"
	msgs := readAll(t, data, MboxRD)
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	want := "Subject: one\r\n\r\nFrom here\r\n>From there\r\n>>From everywhere\r\nFrom: not a separator, no blank line before\r\n"
	if string(m.Data) != want {
		t.Errorf("data %q", m.Data)
	}
	if m.From != "alice@example.test" || !m.Date.Equal(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("from line: %q %v", m.From, m.Date)
	}
	if !reflect.DeepEqual(m.Flags, []string{`\Seen`, `\Answered`, `\Flagged`, "work", "$Label1"}) {
		t.Errorf("flags %q", m.Flags)
	}
	if string(msgs[1].Data) != "Subject: two\r\n\r\nlast line without blank after\r\n" || msgs[1].Flags != nil {
		t.Errorf("second: %q %q", msgs[1].Data, msgs[1].Flags)
	}
	// mboxo: only ">From " loses its '>'.
	msgs = readAll(t, data, MboxO)
	if !strings.Contains(string(msgs[0].Data), "From here\r\n>>From there\r\n>>>From everywhere") {
		t.Errorf("mboxo: %q", msgs[0].Data)
	}
	if _, err := NewReader(strings.NewReader("Subject: no from line\n"), MboxRD, 0).Next(); err == nil {
		t.Error("a file without From_ line was accepted")
	}
	if _, err := NewReader(strings.NewReader("From a b\n"+strings.Repeat("x", 100)+"\n"), MboxRD, 50).Next(); err != ErrTooLarge {
		t.Errorf("limit: %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	msgs := []struct {
		data  string
		flags []string
	}{
		{"Return-Path: <a@x>\r\nSubject: a\r\n\r\nFrom the start\r\n>From quoted\r\n\r\n\r\n", []string{`\Seen`, `\Flagged`, "todo"}},
		{"Subject: b\r\n\r\n>>>From deep\r\nFrom \r\n", nil},
		{"Subject: c\r\n\r\n", []string{`\Draft`, `\Deleted`, `\Answered`}},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, m := range msgs {
		if err := w.Write("a@x", date, []byte(m.data), m.flags); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if strings.Contains(buf.String(), "\r") {
		t.Error("mbox file has CR")
	}
	got := readAll(t, buf.String(), MboxRD)
	if len(got) != len(msgs) {
		t.Fatalf("%d messages:\n%s", len(got), buf.String())
	}
	for i, m := range msgs {
		if string(got[i].Data) != m.data || !got[i].Date.Equal(date) {
			t.Errorf("message %d: %q", i, got[i].Data)
		}
		if len(m.flags) > 0 && !sameSet(got[i].Flags, m.flags) {
			t.Errorf("message %d flags %q, want %q", i, got[i].Flags, m.flags)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

// FuzzSplit: whatever the input, the reader never fails other than by
// returning an error, and what the writer writes reads back the same.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"From a Thu Nov 26 10:00:00 2026\nSubject: x\n\nbody\n\nFrom b Thu Nov 26 10:00:00 2026\n\n>From x\n",
		"From \n\n\nFrom \nFrom \n",
		"From x\nStatus: R\nX-Keywords: a,b\n\n",
		"\n\nFrom x y\r\n\r\nFrom z\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), MboxRD, 1<<20)
		var msgs []*Message
		for {
			m, err := r.Next()
			if err != nil {
				break
			}
			msgs = append(msgs, m)
			if len(msgs) > 10000 {
				t.Fatal("too many messages")
			}
		}
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, m := range msgs {
			w.Write(m.From, m.Date, m.Data, nil)
		}
		w.Flush()
		back := readAll(t, buf.String(), MboxRD)
		if len(back) != len(msgs) {
			t.Fatalf("%d messages, %d after a round trip", len(msgs), len(back))
		}
		for i := range msgs {
			// Lines with bare CR or header fields named like the flag
			// fields do not survive; compare what can.
			if bytes.Contains(msgs[i].Data, []byte("\r\r")) || bytes.Count(msgs[i].Data, []byte("\r")) != bytes.Count(msgs[i].Data, []byte("\n")) {
				continue
			}
			if !bytes.Equal(back[i].Data, msgs[i].Data) {
				t.Fatalf("message %d: %q became %q", i, msgs[i].Data, back[i].Data)
			}
		}
	})
}
