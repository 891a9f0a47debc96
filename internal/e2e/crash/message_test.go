package crash

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// message builds the test message for seq deterministically: the size is
// the last field of seq ("worker-n-size"), so a stored copy can be checked
// byte for byte from its X-Seq alone. A line that starts with a dot
// exercises dot-stuffing.
func message(seq string) []byte {
	size := 0
	if i := strings.LastIndexByte(seq, '-'); i >= 0 {
		size, _ = strconv.Atoi(seq[i+1:])
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: sender@crash.test\r\nTo: crash-test:;\r\nSubject: crash %s\r\nMessage-ID: <%s@crash.test>\r\nX-Seq: %s\r\n\r\n", seq, seq, seq)
	b.WriteString(".a line that starts with a dot\r\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%s line %06d %s\r\n", seq, i, strings.Repeat("abcdefghij", 5))
	}
	fmt.Fprintf(&b, "END %s\r\n", seq)
	return b.Bytes()
}

// seqOf returns the X-Seq field of a stored message.
func seqOf(stored []byte) string {
	hdr, _, _ := bytes.Cut(stored, []byte("\r\n\r\n"))
	for _, l := range bytes.Split(hdr, []byte("\r\n")) {
		if v, ok := bytes.CutPrefix(l, []byte("X-Seq: ")); ok {
			return string(v)
		}
	}
	return ""
}

// checkStored reports whether a stored (or received) message is a whole
// copy of what was sent: the server only prepends header fields.
func checkStored(stored []byte) (seq string, err error) {
	seq = seqOf(stored)
	if seq == "" {
		return "", fmt.Errorf("no X-Seq field in %d bytes: %.200q", len(stored), stored)
	}
	if want := message(seq); !bytes.HasSuffix(stored, want) {
		return seq, fmt.Errorf("message %s is not the one sent (%d bytes stored, %d sent): half written?", seq, len(stored), len(want))
	}
	return seq, nil
}

// messageID is the Message-ID of seq's message.
func messageID(seq string) string { return "<" + seq + "@crash.test>" }
