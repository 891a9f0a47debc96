package imapserver

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/kantorpos/kantorpos/internal/store"
)

const mimeMsg = "From: =?UTF-8?Q?Chlo=C3=A9?= <chloe@ext.test>\r\nTo: alice@example.test\r\n" +
	"Subject: =?UTF-8?Q?R=C3=A9union?=\r\nDate: Tue, 03 Mar 2026 10:00:00 +0100\r\nMessage-ID: <mime@ext.test>\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
	"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello there\r\n" +
	"--XX\r\nContent-Type: application/octet-stream; name=a.bin\r\nContent-Transfer-Encoding: base64\r\n" +
	"Content-Disposition: attachment; filename=a.bin\r\n\r\nAAECAw==\r\n" +
	"--XX--\r\n"

func TestFetchItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", mimeMsg)
	c := e.client(t)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	text := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true}
	part1 := &imap.FetchItemBodySection{Part: []int{1}, Peek: true}
	hdrFields := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
	partial := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 10}}
	bin := &imap.FetchItemBinarySection{Part: []int{2}, Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
		BodyStructure:     &imap.FetchItemBodyStructure{Extended: true},
		BodySection:       []*imap.FetchItemBodySection{text, part1, hdrFields, partial},
		BinarySection:     []*imap.FetchItemBinarySection{bin},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}},
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v %d", err, len(msgs))
	}
	m := msgs[0]
	if m.UID != 1 || m.RFC822Size != int64(len(mimeMsg)) || m.InternalDate.IsZero() || !slices.Equal(m.Flags, []imap.Flag{`\Recent`}) {
		t.Fatalf("uid %d size %d (want %d) date %v flags %v", m.UID, m.RFC822Size, len(mimeMsg), m.InternalDate, m.Flags)
	}
	env := m.Envelope
	if env.Subject != "Réunion" || len(env.From) != 1 || env.From[0].Name != "Chloé" || env.From[0].Addr() != "chloe@ext.test" ||
		env.MessageID != "mime@ext.test" || env.Date.IsZero() {
		t.Fatalf("envelope %+v", env)
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || len(mp.Children) != 2 || mp.Subtype != "mixed" {
		t.Fatalf("bodystructure %#v", m.BodyStructure)
	}
	att := mp.Children[1].(*imap.BodyStructureSinglePart)
	if att.Filename() != "a.bin" || att.Encoding != "base64" || att.Size != 8 {
		t.Fatalf("attachment %+v", att)
	}
	if got := string(m.FindBodySection(text)); !strings.HasPrefix(got, "--XX\r\n") || !strings.HasSuffix(got, "--XX--\r\n") {
		t.Fatalf("BODY[TEXT] = %q", got)
	}
	if got := string(m.FindBodySection(part1)); got != "Hello there" {
		t.Fatalf("BODY[1] = %q", got)
	}
	if got := string(m.FindBodySection(hdrFields)); !strings.HasPrefix(got, "Subject: =?UTF-8?Q?R=C3=A9union?=") || strings.Contains(got, "From") {
		t.Fatalf("BODY[HEADER.FIELDS (SUBJECT)] = %q", got)
	}
	if got := string(m.FindBodySection(partial)); got != mimeMsg[6:16] {
		t.Fatalf("BODY[]<6.10> = %q", got)
	}
	if got := m.FindBinarySection(bin); string(got) != "\x00\x01\x02\x03" {
		t.Fatalf("BINARY[2] = %q", got)
	}
	if len(m.BinarySectionSize) != 1 || m.BinarySectionSize[0].Size != 4 {
		t.Fatalf("BINARY.SIZE[2] = %+v", m.BinarySectionSize)
	}
}

func TestFetchSeen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", testMsg("a", "body a"))
	e.deliver(t, "", testMsg("b", "body b"))
	r := e.rawTLS(t).login()
	other := e.rawTLS(t).login()
	r.ok("SELECT INBOX")
	other.ok("SELECT INBOX")
	// BODY.PEEK leaves \Seen alone.
	u := r.ok("FETCH 1 BODY.PEEK[HEADER]")
	if contains(u, `\Seen`) {
		t.Fatalf("PEEK: %q", u)
	}
	// BODY[] sets it and reports FLAGS with the data.
	u = r.ok("FETCH 1 BODY[TEXT]")
	if !contains(u, `FLAGS (\Seen \Recent)`) {
		t.Fatalf("BODY[TEXT]: %q", u)
	}
	// The other session learns of it as FETCH FLAGS; this one is not told twice.
	if u := other.ok("NOOP"); !contains(u, `* 1 FETCH (UID 1 FLAGS (\Seen))`) {
		t.Fatalf("other session after BODY[]: %q", u)
	}
	if u := r.ok("NOOP"); len(u) != 0 {
		t.Fatalf("own session got %q", u)
	}
	// RFC822 (= BODY[]) too, with UID FETCH.
	u = r.ok("UID FETCH 2 RFC822")
	if !contains(u, "UID 2") || !contains(u, `\Seen`) || !contains(u, "RFC822 {") {
		t.Fatalf("UID FETCH RFC822: %q", u)
	}
}

// ENVELOPE and BODYSTRUCTURE come from the cache: they work with the
// message file gone.
func TestFetchFromCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.deliver(t, "", mimeMsg)
	err := filepath.Walk(e.fsBlobs.Dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			os.Remove(p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := e.rawTLS(t).login()
	r.ok("SELECT INBOX")
	u := r.ok("FETCH 1 (ENVELOPE BODYSTRUCTURE FLAGS RFC822.SIZE)")
	if !contains(u, `"mixed"`) || !contains(u, "<mime@ext.test>") {
		t.Fatalf("from cache: %q", u)
	}
	// BODY[] cannot be served: a well-formed response and a NO.
	u, tagged := r.cmd("FETCH 1 BODY.PEEK[]")
	if !strings.HasPrefix(tagged, "NO") || !contains(u, "BODY[] {0}") {
		t.Fatalf("missing blob: %q %s", u, tagged)
	}
}

// A message stored without the caches gets them built (and saved) at FETCH.
func TestFetchCacheFallback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	ref, meta := e.putBlob(t, mimeMsg)
	meta.Envelope, meta.BodyStructure = nil, nil
	if _, err := e.store.Append(ctx, e.mailbox(t, "INBOX").ID, store.NewMessage{Blob: ref, Meta: meta}); err != nil {
		t.Fatal(err)
	}
	r := e.rawTLS(t).login()
	r.ok("SELECT INBOX")
	u := r.ok("FETCH 1 (ENVELOPE BODYSTRUCTURE)")
	if !contains(u, `"mixed"`) || !contains(u, "<mime@ext.test>") {
		t.Fatalf("fallback: %q", u)
	}
	msgs, err := e.store.FetchMessages(ctx, e.mailbox(t, "INBOX").ID, store.AllUIDs, store.FetchOptions{Meta: true})
	if err != nil || len(msgs[0].Meta.BodyStructure) == 0 || len(msgs[0].Meta.Envelope) == 0 {
		t.Fatalf("cache not refreshed: %v", err)
	}
}

// Hostile MIME: 10,000 parts and deep nesting answer fast within caps.
func TestFetchHostileMIME(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var many strings.Builder
	many.WriteString("Subject: many\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n")
	for i := 0; i < 10000; i++ {
		many.WriteString("--B\r\nContent-Type: text/plain\r\n\r\npart\r\n")
	}
	many.WriteString("--B--\r\n")
	var deep strings.Builder
	deep.WriteString("Subject: deep\r\n")
	for i := 0; i < 10000; i++ {
		deep.WriteString("Content-Type: multipart/mixed; boundary=L" + itoa(i) + "\r\n\r\n--L" + itoa(i) + "\r\n")
	}
	deep.WriteString("Content-Type: text/plain\r\n\r\nbottom\r\n")
	var deepMsg strings.Builder
	deepMsg.WriteString("Subject: deep rfc822\r\n")
	for i := 0; i < 5000; i++ {
		deepMsg.WriteString("Content-Type: message/rfc822\r\n\r\nSubject: level\r\n")
	}
	deepMsg.WriteString("\r\nbottom\r\n")
	for _, m := range []string{many.String(), deep.String(), deepMsg.String()} {
		e.deliver(t, "", m)
	}
	c := e.client(t)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{
		Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{{Part: []int{1, 1, 1}, Peek: true}},
	}).Collect()
	if err != nil || len(msgs) != 3 {
		t.Fatalf("fetch: %v", err)
	}
	t.Logf("FETCH BODYSTRUCTURE of 3 hostile messages: %v", time.Since(start))
	if mp := msgs[0].BodyStructure.(*imap.BodyStructureMultiPart); len(mp.Children) > 1000 {
		t.Fatalf("%d parts", len(mp.Children))
	}
	depth := 0
	msgs[1].BodyStructure.Walk(func(path []int, _ imap.BodyStructure) bool {
		depth = max(depth, len(path))
		return true
	})
	if depth > 33 {
		t.Fatalf("depth %d", depth)
	}
}

// memContent is a store.Content over bytes.
type memContent struct{ *bytes.Reader }

func (memContent) Close() error { return nil }

// TestHeaderEnd: the header section found in the first 8 KiB and past it,
// with CRLF, bare LF, no body, an empty header, and a CR LF split across the
// 8 KiB boundary.
func TestHeaderEnd(t *testing.T) {
	t.Parallel()
	long := "X-Long: " + strings.Repeat("a", 9000) + "\r\n"
	split := "X-Pad: " + strings.Repeat("b", 8<<10-7-2-1) + "\r\n" // ends 1 byte before 8 KiB
	for _, tc := range []struct {
		name, msg string
		want      int
	}{
		{"crlf", "Subject: a\r\nFrom: b\r\n\r\nbody\r\n", len("Subject: a\r\nFrom: b\r\n\r\n")},
		{"lf", "Subject: a\nFrom: b\n\nbody\n", len("Subject: a\nFrom: b\n\n")},
		{"no body", "Subject: a\r\nFrom: b\r\n", len("Subject: a\r\nFrom: b\r\n")},
		{"empty header", "\r\nbody\r\n", 2},
		{"empty message", "", 0},
		{"long header", long + "\r\nbody", len(long) + 2},
		{"blank line across 8 KiB", split + "\r\nbody", len(split) + 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := memContent{bytes.NewReader([]byte(tc.msg))}
			for _, scratch := range [][]byte{nil, make([]byte, 8<<10)} {
				end, head := headerEnd(c, &scratch)
				if end != int64(tc.want) {
					t.Fatalf("end = %d, want %d", end, tc.want)
				}
				if head != nil && string(head) != tc.msg[:tc.want] {
					t.Fatalf("head = %q", head)
				}
			}
		})
	}
}
