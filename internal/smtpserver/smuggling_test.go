package smtpserver

import (
	"fmt"
	"strings"
	"testing"
)

// smuggled is the second message hidden behind a non-standard end of data.
const smuggled = "MAIL FROM:<admin@local.test>\r\nRCPT TO:<bob@local.test>\r\nDATA\r\n" +
	"From: admin@local.test\r\nSubject: SMUGGLED\r\n\r\ny\r\n.\r\n"

// TestSmuggling sends each end-of-data variant of security.md 1.1 (and the
// issue) followed by a second transaction, in one write. Pass: at most one
// message stored, never one with the smuggled Subject. Variants with a bare
// CR or LF are refused with 554 5.6.0 and the connection is closed; so is
// "\r\n.\r" that go-smtp's reader would pass without its ".\r" (issue 19
// item 14, plaintext: the guard sees it). A NUL is refused with 554 5.6.0
// and the session goes on.
func TestSmuggling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, end string
		// stored: the first message is accepted because the variant holds
		// no bare CR/LF once go-smtp has read it (the smuggled commands
		// end up as body text of that one message).
		stored bool
	}{
		{"lf.lf", "\n.\n", false},
		{"lf.crlf", "\n.\r\n", false},
		{"cr.lf", "\r.\n", false},
		{"cr.cr", "\r.\r", false},
		{"cr.crlf", "\r.\r\n", false},
		{"crlf.lf", "\r\n.\n", false},
		{"crlf.cr", "\r\n.\r", false},         // go-smtp drops ".\r": the guard tells
		{"crlf.crcrlf", "\r\n.\r\r\n", false}, // the same: ".\r" dropped, "\r\n" left
		{"crlf.cr-x", "\r\n.\rX", false},
		{"nul.crlf", "\r\n\x00.\r\n", false},
		{"lf.lf-in-header", "\n.\n", false},
		{"crlf-sp.crlf", "\r\n .\r\n", true},
		{"bare-lf-line", "\nfoo\r\n.\r\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, MX)
			r := e.raw()
			r.cmd("EHLO client.test", "250")
			r.cmd("MAIL FROM:<a@ext.test>", "250")
			r.cmd("RCPT TO:<alice@local.test>", "250")
			r.cmd("DATA", "354")
			body := "From: a@ext.test\r\nSubject: a\r\n\r\nx"
			if tc.name == "lf.lf-in-header" {
				body = "From: a@ext.test"
			}
			r.send(body + tc.end + smuggled)
			first, _ := r.reply()
			if tc.stored {
				if !strings.HasPrefix(first, "250 ") {
					t.Fatalf("reply %q, want 250", first)
				}
				r.cmd("QUIT", "221")
			} else {
				if !strings.HasPrefix(first, "554 5.6.0") {
					t.Fatalf("reply %q, want 554 5.6.0", first)
				}
				if strings.HasPrefix(tc.name, "nul") {
					// No line ending is in doubt: the rest of the
					// content ended at <CRLF>.<CRLF>, the session goes on
					// (the smuggled commands were content).
					r.cmd("QUIT", "221")
				} else if !r.closed() {
					t.Errorf("connection not closed after bare line ending")
				}
			}
			ds := e.st.delivered()
			want := 0
			if tc.stored {
				want = 1
			}
			if len(ds) != want {
				t.Fatalf("%d messages stored, want %d", len(ds), want)
			}
			for _, d := range ds {
				msg := e.st.blobContent(d)
				hdr, _, _ := strings.Cut(msg, "\r\n\r\n")
				fs, _ := parseFields([]byte(hdr + "\r\n"))
				for _, f := range fs {
					if strings.EqualFold(f.Name, "Subject") && strings.Contains(f.Value(), "SMUGGLED") {
						t.Errorf("smuggled message stored:\n%q", msg)
					}
				}
				if len(d.Local) != 1 || d.Local[0].AccountID != 1 {
					t.Errorf("delivered to %+v", d.Local)
				}
			}
		})
	}
}

// TestSmugglingPipelined: the whole dialogue in one write, as a smuggling
// scanner sends it.
func TestSmugglingPipelined(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	r := e.raw()
	r.send("EHLO client.test\r\nMAIL FROM:<a@ext.test>\r\nRCPT TO:<alice@local.test>\r\nDATA\r\n")
	r.expect("250")
	r.expect("250")
	r.expect("250")
	r.expect("354")
	r.send("Subject: a\r\n\r\nx\n.\r\n" + smuggled)
	r.expect("554 5.6.0")
	if !r.closed() {
		t.Error("not closed")
	}
	if n := len(e.st.delivered()); n != 0 {
		t.Fatalf("%d stored", n)
	}
}

// TestBDATBareLF: BDAT content is raw, and held to the same rule.
func TestBDAT(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	r := e.raw()
	r.cmd("EHLO client.test", "250")
	r.cmd("MAIL FROM:<a@ext.test>", "250")
	r.cmd("RCPT TO:<alice@local.test>", "250")
	part1 := "Subject: chunked\r\n\r\n"
	part2 := "line one\r\n.\r\nMAIL FROM:<x@y>\r\n"
	r.cmd(fmt.Sprintf("BDAT %d", len(part1))+"\r\n"+part1[:len(part1)-2], "250")
	r.cmd(fmt.Sprintf("BDAT %d LAST", len(part2))+"\r\n"+part2[:len(part2)-2], "250 2.0.0 OK id=")
	ds := e.st.delivered()
	if len(ds) != 1 || !strings.HasSuffix(e.st.blobContent(ds[0]), "\r\nSubject: chunked\r\n\r\nline one\r\n.\r\nMAIL FROM:<x@y>\r\n") {
		t.Fatalf("stored %v", ds)
	}
	// A bare LF inside a chunk.
	r.cmd("MAIL FROM:<a@ext.test>", "250")
	r.cmd("RCPT TO:<alice@local.test>", "250")
	bad := "Subject: x\r\n\r\nbare\nlf\r\n"
	r.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(bad), bad))
	r.expect("554 5.6.0")
	if !r.closed() {
		t.Error("not closed")
	}
	if n := len(e.st.delivered()); n != 1 {
		t.Fatalf("%d stored", n)
	}
}
