package dsn

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

const origMsg = "Received: from [192.0.2.7] by mta.a.test with ESMTPSA; Wed, 25 Nov 2026 09:59:58 +0000\r\n" +
	"From: Alice <alice@a.test>\r\n" +
	"To: Bob <bob@b.test>, carol@c.test\r\n" +
	"Subject: =?utf-8?q?Quarterly_figures_=E2=80=93_draft?=\r\n" +
	"Date: Wed, 25 Nov 2026 09:59:57 +0000\r\n" +
	"Message-ID: <orig-1@a.test>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hello Bob,\r\n\r\nthe figures are below.\r\n"

var origHeader = origMsg[:strings.Index(origMsg, "\r\n\r\n")+2]

// goldenCases are the three kinds of report, each checked against
// testdata/<name>.eml and parsed back with go-message.
var goldenCases = []struct {
	name string
	p    Params
}{
	{"failure", Params{
		Hostname: "mta.a.test", To: "alice@a.test", EnvID: "QQ314159", Arrival: t0, Date: t0.Add(2 * time.Minute),
		MessageID: "<dsn-failure@mta.a.test>",
		Recipients: []Recipient{
			{Final: "bob@b.test", Original: "rfc822;Bob@b.test", Action: Failed, Status: "5.1.1",
				RemoteMTA: "mx.b.test", Diagnostic: "550 5.1.1 <bob@b.test>: Recipient address rejected: User unknown in virtual mailbox table",
				LastAttempt: t0.Add(time.Minute)},
			{Final: "carol@c.test", Action: Failed, Status: "5.1.10",
				Reason: "c.test does not accept mail (null MX, RFC 7505)", LastAttempt: t0.Add(time.Minute)},
		},
	}},
	{"delay", Params{
		Hostname: "mta.a.test", To: "alice@a.test", Arrival: t0, Date: t0.Add(4 * time.Hour),
		MessageID: "<dsn-delay@mta.a.test>",
		Recipients: []Recipient{
			{Final: "bob@b.test", Action: Delayed, Status: "4.7.1", RemoteMTA: "mx.b.test",
				Diagnostic:  "451 4.7.1 Greylisted, please try again later",
				LastAttempt: t0.Add(4 * time.Hour), WillRetryUntil: t0.Add(5 * 24 * time.Hour)},
			{Final: "carol@c.test", Action: Delayed, Status: "4.4.1",
				Reason:      "cannot connect to mx.c.test [192.0.2.25]:25: connection refused",
				LastAttempt: t0.Add(4 * time.Hour), WillRetryUntil: t0.Add(5 * 24 * time.Hour)},
		},
	}},
	{"success", Params{
		Hostname: "mta.a.test", To: "alice@a.test", EnvID: "QQ314160", Arrival: t0, Date: t0.Add(time.Minute),
		MessageID: "<dsn-success@mta.a.test>", RET: "FULL",
		Recipients: []Recipient{
			{Final: "bob@b.test", Original: "rfc822;bob@b.test", Action: Delivered, Status: "2.0.0",
				RemoteMTA: "mx.b.test", Diagnostic: "250 2.0.0 Ok: queued as 4F3A2", LastAttempt: t0.Add(time.Minute)},
			{Final: "carol@c.test", Action: Relayed, Status: "2.0.0",
				RemoteMTA: "old.c.test", Diagnostic: "250 ok", LastAttempt: t0.Add(time.Minute)},
		},
	}},
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := tc.p
			p.Original = strings.NewReader(origMsg)
			out, err := Build(p)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".eml")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("output differs from %s (run with -update after checking):\n%s", golden, out)
			}
			checkStructure(t, out, p, tc.p.RET == "FULL")
		})
	}
}

// report is a DSN parsed back with go-message.
type report struct {
	header  message.Header
	text    string
	status  []textproto.Header // per-message block, then one per recipient
	orig    string
	origTyp string
	parts   []string // content types in order
}

func parse(t testing.TB, out []byte) report {
	t.Helper()
	for i, l := range strings.SplitAfter(string(out), "\n") {
		if !strings.HasSuffix(l, "\r\n") && l != "" {
			t.Fatalf("line %d does not end in CRLF: %q", i+1, l)
		}
		if len(l) > 1000 {
			t.Fatalf("line %d longer than 998 octets", i+1)
		}
	}
	e, err := message.Read(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("go-message cannot read the report: %v", err)
	}
	r := report{header: e.Header}
	mt, params, err := e.Header.ContentType()
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q %v (%v)", mt, params, err)
	}
	mr := e.MultipartReader()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(r.parts)+1, err)
		}
		typ, _, _ := part.Header.ContentType()
		r.parts = append(r.parts, typ)
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatal(err)
		}
		switch len(r.parts) {
		case 1:
			r.text = string(body)
		case 2:
			br := bufio.NewReader(bytes.NewReader(body))
			for {
				h, err := textproto.ReadHeader(br)
				if err != nil {
					t.Fatalf("delivery-status block %d: %v", len(r.status)+1, err)
				}
				r.status = append(r.status, h)
				if _, err := br.Peek(1); err != nil {
					break
				}
			}
		case 3:
			r.orig, r.origTyp = string(body), typ
		}
	}
	return r
}

// checkStructure checks what RFC 3464 and RFC 6522 require, and that the
// report says what p says.
func checkStructure(t *testing.T, out []byte, p Params, full bool) {
	t.Helper()
	r := parse(t, out)
	h := r.header
	if got := h.Get("From"); got != "Mail Delivery System <MAILER-DAEMON@"+p.Hostname+">" {
		t.Errorf("From %q", got)
	}
	if got := h.Get("To"); got != "<"+p.To+">" {
		t.Errorf("To %q", got)
	}
	if h.Get("Auto-Submitted") != "auto-replied" || h.Get("MIME-Version") != "1.0" || h.Get("Message-ID") != p.MessageID {
		t.Errorf("Auto-Submitted %q MIME-Version %q Message-ID %q", h.Get("Auto-Submitted"), h.Get("MIME-Version"), h.Get("Message-ID"))
	}
	if d, err := mail.ParseDate(h.Get("Date")); err != nil || !d.Equal(p.Date) {
		t.Errorf("Date %q: %v", h.Get("Date"), err)
	}
	wantParts := []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}
	wantOrig := origHeader
	if full {
		wantParts[2], wantOrig = "message/rfc822", origMsg
	}
	if !slices.Equal(r.parts, wantParts) {
		t.Fatalf("parts %v, want %v", r.parts, wantParts)
	}
	if r.orig != wantOrig {
		t.Errorf("part 3 is\n%q\nwant\n%q", r.orig, wantOrig)
	}

	// Per-message fields (RFC 3464 2.2).
	if len(r.status) != 1+len(p.Recipients) {
		t.Fatalf("%d delivery-status blocks, want %d", len(r.status), 1+len(p.Recipients))
	}
	pm := r.status[0]
	if pm.Get("Reporting-MTA") != "dns; "+p.Hostname || pm.Get("Original-Envelope-Id") != p.EnvID {
		t.Errorf("per-message fields: Reporting-MTA %q Original-Envelope-Id %q", pm.Get("Reporting-MTA"), pm.Get("Original-Envelope-Id"))
	}
	if d, err := mail.ParseDate(pm.Get("Arrival-Date")); err != nil || !d.Equal(p.Arrival) {
		t.Errorf("Arrival-Date %q", pm.Get("Arrival-Date"))
	}
	// Per-recipient fields (RFC 3464 2.3).
	for i, rc := range p.Recipients {
		b := r.status[1+i]
		if b.Get("Final-Recipient") != "rfc822; "+rc.Final || b.Get("Action") != string(rc.Action) || b.Get("Status") != rc.Status {
			t.Errorf("recipient %d: Final-Recipient %q Action %q Status %q", i, b.Get("Final-Recipient"), b.Get("Action"), b.Get("Status"))
		}
		if rc.Original != "" && b.Get("Original-Recipient") != strings.Replace(rc.Original, ";", "; ", 1) {
			t.Errorf("recipient %d: Original-Recipient %q", i, b.Get("Original-Recipient"))
		}
		if rc.Diagnostic != "" && unfold(b.Get("Diagnostic-Code")) != "smtp; "+rc.Diagnostic {
			t.Errorf("recipient %d: Diagnostic-Code %q", i, b.Get("Diagnostic-Code"))
		}
		if rc.RemoteMTA != "" && b.Get("Remote-MTA") != "dns; "+rc.RemoteMTA {
			t.Errorf("recipient %d: Remote-MTA %q", i, b.Get("Remote-MTA"))
		}
		if rc.Action == Delayed {
			if d, err := mail.ParseDate(b.Get("Will-Retry-Until")); err != nil || !d.Equal(rc.WillRetryUntil) {
				t.Errorf("recipient %d: Will-Retry-Until %q", i, b.Get("Will-Retry-Until"))
			}
		} else if b.Has("Will-Retry-Until") {
			t.Errorf("recipient %d: Will-Retry-Until on a %s report", i, rc.Action)
		}
		// The human text names each recipient and what was said.
		text := unfold(r.text)
		if !strings.Contains(text, "<"+rc.Final+">") || (rc.Diagnostic != "" && !strings.Contains(text, rc.Diagnostic)) ||
			(rc.Reason != "" && !strings.Contains(text, rc.Reason)) {
			t.Errorf("human text does not explain recipient %d:\n%s", i, r.text)
		}
		if rc.Action == Delayed && !strings.Contains(text, "We keep trying until "+date(rc.WillRetryUntil)) {
			t.Errorf("delay text lacks the retry date:\n%s", r.text)
		}
	}
}

// unfold joins folded lines (of a header field or of wrapped text).
func unfold(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
