package msgmeta

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	msg := "From: =?UTF-8?Q?Chlo=C3=A9?= <chloe@ext.test>\r\n" +
		"To: bob@example.test\r\nCc: amy@example.test\r\n" +
		"Subject: =?ISO-8859-1?Q?Caf=E9?= meeting\r\n" +
		"Date: Tue, 03 Mar 2026 10:00:00 +0100\r\n" +
		"Message-ID: <abc@ext.test>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Bonjour =E0 tous\r\n" +
		"--XX\r\nContent-Type: text/html\r\n\r\n<html><style>p{}</style><p>Hello <b>world</b></p></html>\r\n" +
		"--XX--\r\n"
	m, err := Parse(strings.NewReader(msg), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Café meeting" || m.From != "Chloé <chloe@ext.test>" || m.To != "bob@example.test" ||
		m.Cc != "amy@example.test" || m.MessageID != "<abc@ext.test>" {
		t.Fatalf("meta = %+v", m)
	}
	if !m.Date.Equal(time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)) { // as written, for SENT*
		t.Fatalf("date = %v", m.Date)
	}
	if !strings.Contains(m.Text, "Bonjour à tous") || !strings.Contains(m.Text, "Hello") || strings.Contains(m.Text, "<b>") || strings.Contains(m.Text, "p{}") {
		t.Fatalf("text = %q", m.Text)
	}
	if !strings.HasPrefix(m.Header, "From: =?UTF-8?Q?Chlo=C3=A9?=") || strings.Contains(m.Header, "Bonjour") {
		t.Fatalf("header = %q", m.Header)
	}
}

func TestParseLimits(t *testing.T) {
	t.Parallel()
	// 10,000 parts, deeply nested: bounded work, no error.
	var b strings.Builder
	b.WriteString("Subject: many\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n")
	for i := 0; i < 10000; i++ {
		b.WriteString("--B\r\nContent-Type: text/plain\r\n\r\npart\r\n")
	}
	b.WriteString("--B--\r\n")
	m, err := Parse(strings.NewReader(b.String()), Limits{MaxParts: 50})
	if err != nil || m.Subject != "many" {
		t.Fatalf("%v %+v", err, m)
	}
	if n := strings.Count(m.Text, "part"); n > 50 {
		t.Fatalf("visited %d parts, limit 50", n)
	}

	var deep strings.Builder
	deep.WriteString("Subject: deep\r\n")
	for i := 0; i < 200; i++ {
		deep.WriteString("Content-Type: multipart/mixed; boundary=L" + itoa(i) + "\r\n\r\n--L" + itoa(i) + "\r\n")
	}
	deep.WriteString("Content-Type: text/plain\r\n\r\nbottom\r\n")
	if m, err := Parse(strings.NewReader(deep.String()), Limits{MaxDepth: 10}); err != nil || strings.Contains(m.Text, "bottom") {
		t.Fatalf("depth cap: %v %q", err, m.Text)
	}

	big := "Subject: big\r\nX-Long: " + strings.Repeat("a", 100000) + "\r\n\r\n" + strings.Repeat("word ", 100000)
	m, err = Parse(strings.NewReader(big), Limits{MaxHeader: 1000, MaxText: 2000})
	if err != nil || len(m.Header) > 1000+2 || len(m.Text) > 2000 || m.Subject != "big" {
		t.Fatalf("size caps: %v header %d text %d", err, len(m.Header), len(m.Text))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func FuzzParse(f *testing.F) {
	f.Add("Subject: x\r\n\r\nbody")
	f.Add("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nx\r\n--a--")
	f.Add("From: =?utf-8?b?////?=\r\nDate: garbage\r\n\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(strings.NewReader(s), Limits{MaxParts: 20, MaxDepth: 5, MaxText: 1000, MaxHeader: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Text) > 1000 || len(m.Header) > 1000+2 {
			t.Fatalf("limits exceeded: %d %d", len(m.Text), len(m.Header))
		}
	})
}

// FuzzStructure: the ENVELOPE and BODYSTRUCTURE of any message (FETCH of a
// message without cached structure) within the part and depth caps.
func FuzzStructure(f *testing.F) {
	f.Add("Subject: x\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\nx\r\n--a--\r\n")
	f.Add(strings.Repeat("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n", 50))
	f.Add(strings.Repeat("Content-Type: message/rfc822\r\n\r\n", 50) + "Subject: in\r\n\r\nx")
	f.Add("Content-Type: text/plain; name*0*=utf-8''a; name*1*=%ff; name*2=\"\r\n\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		env, root, err := Structure(strings.NewReader(s), Limits{MaxParts: 20, MaxDepth: 5, MaxHeader: 4096})
		if err != nil {
			return
		}
		if env == nil || root == nil {
			t.Fatal("nil envelope or root without an error")
		}
		var walk func(p *Part, depth int) int
		walk = func(p *Part, depth int) int {
			if depth > 5+2 {
				t.Fatalf("structure nested %d deep, cap 5", depth)
			}
			n := 1
			for _, c := range p.Children {
				n += walk(c, depth+1)
			}
			if p.Body != nil {
				n += walk(p.Body, depth+1)
			}
			return n
		}
		if n := walk(root, 0); n > 20+25 {
			t.Fatalf("%d parts, cap 20", n)
		}
	})
}
