package msgmeta

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const mixed = "From: =?UTF-8?Q?Chlo=C3=A9?= <chloe@ext.test>, bob@example.test\r\n" +
	"To: Team <team@example.test>\r\nSubject: =?ISO-8859-1?Q?Caf=E9?=\r\n" +
	"Date: Tue, 03 Mar 2026 10:00:00 +0100\r\nMessage-ID: <abc@ext.test>\r\nIn-Reply-To: <x@y> <z@w>\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
	"preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nline one\r\nline two\r\n" +
	"--XX\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=inner.eml\r\n\r\n" +
	"Subject: inner\r\nFrom: in@ext.test\r\n\r\ninner body\r\n" +
	"--XX\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: BASE64\r\nContent-ID: <pdf1>\r\n\r\nJVBERi0=\r\n" +
	"--XX--\r\n"

func TestStructureCaches(t *testing.T) {
	t.Parallel()
	m, err := Parse(strings.NewReader(mixed), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	env, err := DecodeEnvelope(m.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	want := &Envelope{
		Date:      time.Date(2026, 3, 3, 10, 0, 0, 0, time.FixedZone("", 3600)),
		Subject:   "Café",
		From:      []Address{{Name: "Chloé", Mailbox: "chloe", Host: "ext.test"}, {Mailbox: "bob", Host: "example.test"}},
		To:        []Address{{Name: "Team", Mailbox: "team", Host: "example.test"}},
		InReplyTo: []string{"x@y", "z@w"},
		MessageID: "abc@ext.test",
	}
	if !env.Date.Equal(want.Date) {
		t.Fatalf("date = %v", env.Date)
	}
	env.Date = want.Date
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("envelope = %+v\nwant %+v", env, want)
	}
	bs, err := DecodeBodyStructure(m.BodyStructure)
	if err != nil {
		t.Fatal(err)
	}
	if bs.Type != "multipart" || bs.Subtype != "mixed" || len(bs.Children) != 3 || bs.Params["boundary"] != "XX" {
		t.Fatalf("root = %+v", bs)
	}
	txt, msg, pdf := bs.Children[0], bs.Children[1], bs.Children[2]
	if txt.Type != "text" || txt.Size != uint32(len("line one\r\nline two")) || txt.Lines != 1 {
		t.Fatalf("text part = %+v", txt)
	}
	if msg.Type != "message" || msg.Envelope == nil || msg.Envelope.Subject != "inner" || msg.Body == nil ||
		msg.Body.Type != "text" || msg.Disposition != "attachment" || msg.DispositionParams["filename"] != "inner.eml" {
		t.Fatalf("message part = %+v", msg)
	}
	if pdf.Encoding != "base64" || pdf.ID != "<pdf1>" || pdf.Size != 8 || pdf.Params["name"] != "a.pdf" {
		t.Fatalf("pdf part = %+v", pdf)
	}
	if !strings.Contains(m.Text, "line two") || !strings.Contains(m.Text, "inner body") {
		t.Fatalf("text = %q", m.Text)
	}
	// Structure (the fallback for missing caches) agrees with Parse.
	env2, bs2, err := Structure(strings.NewReader(mixed), Limits{})
	if err != nil || string(EncodeBodyStructure(bs2)) != string(m.BodyStructure) || env2.Subject != "Café" {
		t.Fatalf("Structure = %+v %+v %v", env2, bs2, err)
	}
}

func TestStructureHostile(t *testing.T) {
	t.Parallel()
	// 10,000 parts: bounded by MaxParts, quick.
	var b strings.Builder
	b.WriteString("Subject: many\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n")
	for i := 0; i < 10000; i++ {
		b.WriteString("--B\r\nContent-Type: text/plain\r\n\r\npart\r\n")
	}
	b.WriteString("--B--\r\n")
	start := time.Now()
	m, err := Parse(strings.NewReader(b.String()), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := DecodeBodyStructure(m.BodyStructure)
	if err != nil || len(bs.Children) >= 1000 {
		t.Fatalf("%d children, %v", len(bs.Children), err)
	}
	t.Logf("10,000 parts parsed in %v", time.Since(start))

	// Deep nesting becomes an opaque leaf at the depth cap.
	var deep strings.Builder
	deep.WriteString("Subject: deep\r\n")
	for i := 0; i < 5000; i++ {
		deep.WriteString("Content-Type: multipart/mixed; boundary=L" + itoa(i) + "\r\n\r\n--L" + itoa(i) + "\r\n")
	}
	deep.WriteString("Content-Type: text/plain\r\n\r\nbottom\r\n")
	m, err = Parse(strings.NewReader(deep.String()), Limits{MaxDepth: 8})
	if err != nil {
		t.Fatal(err)
	}
	bs, _ = DecodeBodyStructure(m.BodyStructure)
	depth := 0
	for p := bs; p != nil && len(p.Children) > 0; p = p.Children[0] {
		depth++
	}
	if depth > 8 {
		t.Fatalf("depth %d beyond cap", depth)
	}

	// An empty multipart still has one child; no Content-Type is text/plain.
	for _, msg := range []string{
		"Content-Type: multipart/mixed; boundary=E\r\n\r\n--E--\r\n",
		"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n",
		"Subject: plain\r\n\r\nhello\r\n",
		"",
		"\r\n",
	} {
		m, err := Parse(strings.NewReader(msg), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		bs, err := DecodeBodyStructure(m.BodyStructure)
		if err != nil || (bs.IsMultipart() && len(bs.Children) == 0) || bs.Type == "" {
			t.Fatalf("%q: %+v %v", msg, bs, err)
		}
	}

	// Beyond MaxParse the structure is not cached (sizes would be wrong).
	m, _ = Parse(strings.NewReader("Subject: x\r\n\r\n"+strings.Repeat("y", 1000)), Limits{MaxParse: 100})
	if m.BodyStructure != nil || m.Envelope == nil {
		t.Fatalf("truncated message: bodystructure %q envelope %q", m.BodyStructure, m.Envelope)
	}
	if _, err := DecodeBodyStructure([]byte("garbage")); err != ErrNoCache {
		t.Fatalf("decode garbage: %v", err)
	}
}
