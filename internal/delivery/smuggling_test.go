package delivery

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// TestSmuggling delivers each body and checks the exact bytes on the
// receiver's socket, and that the receiver saw one message with the body
// as text and no injected command.
func TestSmuggling(t *testing.T) {
	t.Parallel()
	for _, pipelining := range []bool{true, false} {
		for _, tc := range smugglingCases {
			name := tc.name
			rc := recvConfig{}
			if !pipelining {
				name += " without PIPELINING"
				rc.hide = []string{"PIPELINING"}
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f := setup(t, rc, mxRecords, func(c *Config) { c.Pool.Disable = true })
				r := deliver(t, f.tr, newMsg(tc.body, "bob@b.test"))[0]
				if r.Status != Delivered {
					t.Fatalf("got %v %d %s (err %v)", r.Status, r.Code, r.Message, r.Err)
				}
				raw := f.rcv.rawAll()
				i := bytes.Index(raw, []byte("DATA\r\n"))
				if i < 0 {
					t.Fatalf("no DATA on the wire:\n%q", raw)
				}
				got := raw[i+len("DATA\r\n"):]
				want := tc.wire + "QUIT\r\n"
				if string(got) != want {
					t.Errorf("wire after DATA:\n got %q\nwant %q", got, want)
				}
				// Before DATA: exactly our commands. After it: exactly the
				// stream above and QUIT, so nothing was smuggled.
				size := "" // Size 0 means unknown: no SIZE parameter
				if len(tc.body) > 0 {
					size = " SIZE=" + strconv.Itoa(len(tc.body))
				}
				if want := "EHLO mta.a.test\r\nMAIL FROM:<alice@a.test>" + size + "\r\nRCPT TO:<bob@b.test>\r\n"; string(raw[:i]) != want {
					t.Errorf("commands before DATA:\n got %q\nwant %q", raw[:i], want)
				}
				msgs := f.rcv.messages()
				if len(msgs) != 1 || string(msgs[0].data) != tc.text {
					t.Fatalf("receiver stored %d messages; text %q, want %q", len(msgs), firstData(msgs), tc.text)
				}
				if msgs[0].from != "alice@a.test" || strings.Join(msgs[0].rcpts, ",") != "bob@b.test" {
					t.Errorf("envelope changed: %q %v", msgs[0].from, msgs[0].rcpts)
				}
			})
		}
	}
}

func firstData(m []received) string {
	if len(m) == 0 {
		return ""
	}
	return string(m[0].data)
}
