package dsn

import (
	"strings"
	"testing"
	"time"
)

func TestShouldNotify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		notify                                   string
		failed, delayed, delivered, relayed, exp bool
	}{
		{"", true, true, false, false, false}, // absent: FAILURE,DELAY
		{"NEVER", false, false, false, false, false},
		{"never", false, false, false, false, false},
		{"SUCCESS", false, false, true, true, true},
		{"FAILURE", true, false, false, false, false},
		{"DELAY", false, true, false, false, false},
		{"SUCCESS,FAILURE", true, false, true, true, true},
		{"failure, delay", true, true, false, false, false},
		{"SUCCESS,FAILURE,DELAY", true, true, true, true, true},
	}
	for _, tc := range tests {
		for action, want := range map[Action]bool{
			Failed: tc.failed, Delayed: tc.delayed, Delivered: tc.delivered, Relayed: tc.relayed, Expanded: tc.exp,
		} {
			if got := ShouldNotify(tc.notify, action); got != want {
				t.Errorf("ShouldNotify(%q, %s) = %v, want %v", tc.notify, action, got, want)
			}
		}
	}
}

func TestIsNullSender(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{"": true, "<>": true, " <> ": true, "alice@a.test": false, "<alice@a.test>": false} {
		if got := IsNullSender(s); got != want {
			t.Errorf("IsNullSender(%q) = %v", s, got)
		}
	}
}

func failParams() Params {
	return Params{
		Hostname: "mta.a.test", To: "alice@a.test", Date: t0, MessageID: "<x@mta.a.test>",
		Recipients: []Recipient{{Final: "bob@b.test", Action: Failed, Status: "5.1.1",
			RemoteMTA: "mx.b.test", Diagnostic: "550 5.1.1 unknown"}},
	}
}

func TestBuildRefuses(t *testing.T) {
	t.Parallel()
	tests := map[string]func(*Params){
		"null sender":      func(p *Params) { p.To = "" },
		"null sender <>":   func(p *Params) { p.To = "<>" },
		"no date":          func(p *Params) { p.Date = time.Time{} },
		"no recipients":    func(p *Params) { p.Recipients = nil },
		"bad action":       func(p *Params) { p.Recipients[0].Action = "bounced" },
		"bad status":       func(p *Params) { p.Recipients[0].Status = "550" },
		"status with CRLF": func(p *Params) { p.Recipients[0].Status = "5.1.1\r\nBcc: x" },
		"bad hostname":     func(p *Params) { p.Hostname = "mta.a.test\r\nBcc: x" },
		"bad message id":   func(p *Params) { p.MessageID = "no-brackets" },
		"no final":         func(p *Params) { p.Recipients[0].Final = "" },
	}
	for name, mod := range tests {
		p := failParams()
		mod(&p)
		if _, err := Build(p); err == nil {
			t.Errorf("%s: Build accepted it", name)
		}
	}
}

// TestOriginalBounds: RET=FULL over the limit returns the header only; a
// header over its limit is cut at a line end; no original, no part 3.
func TestOriginalBounds(t *testing.T) {
	t.Parallel()
	big := origHeader + "\r\n" + strings.Repeat("0123456789abcdef\r\n", 1000)
	t.Run("too large for RET=FULL", func(t *testing.T) {
		t.Parallel()
		p := failParams()
		p.RET, p.Original, p.MaxOriginal = "FULL", strings.NewReader(big), 4096
		r := buildParse(t, p)
		if r.origTyp != "text/rfc822-headers" || r.orig != origHeader {
			t.Errorf("part 3 %s %q", r.origTyp, r.orig)
		}
		if !strings.Contains(unfold(r.text), "too large to return in full") {
			t.Errorf("text does not say why:\n%s", r.text)
		}
	})
	t.Run("header cut", func(t *testing.T) {
		t.Parallel()
		p := failParams()
		p.Original, p.MaxHeader = strings.NewReader(big), 100
		r := buildParse(t, p)
		if len(r.orig) > 100 || !strings.HasPrefix(origHeader, r.orig) || !strings.HasSuffix(r.orig, "\r\n") {
			t.Errorf("cut header %q", r.orig)
		}
		if !strings.Contains(unfold(r.text), "shortened") {
			t.Errorf("text does not say the header was cut:\n%s", r.text)
		}
	})
	t.Run("bare LF original", func(t *testing.T) {
		t.Parallel()
		p := failParams()
		p.RET, p.Original = "FULL", strings.NewReader("Subject: lf\n\nbody\nline")
		r := buildParse(t, p)
		if r.origTyp != "message/rfc822" || r.orig != "Subject: lf\r\n\r\nbody\r\nline\r\n" {
			t.Errorf("part 3 %s %q", r.origTyp, r.orig)
		}
	})
	t.Run("no original", func(t *testing.T) {
		t.Parallel()
		r := buildParse(t, failParams())
		if len(r.parts) != 2 {
			t.Errorf("parts %v", r.parts)
		}
	})
}

// TestInternationalised: non-ASCII addresses use the RFC 6533 types.
func TestInternationalised(t *testing.T) {
	t.Parallel()
	p := failParams()
	p.To = "alïce@a.test"
	p.Recipients[0].Final = "bøb@b.test"
	p.Original = strings.NewReader(origMsg)
	r := buildParse(t, p)
	if r.parts[1] != "message/global-delivery-status" || r.parts[2] != "message/global-headers" {
		t.Errorf("parts %v", r.parts)
	}
	if got := r.status[1].Get("Final-Recipient"); got != "utf-8; bøb@b.test" {
		t.Errorf("Final-Recipient %q", got)
	}
}

// TestNoInjection: remote text and ids cannot add header fields or
// delivery-status fields.
func TestNoInjection(t *testing.T) {
	t.Parallel()
	p := failParams()
	p.EnvID = "id\r\nBcc: evil@x"
	p.Recipients[0].Diagnostic = "550 5.1.1 no\r\nAction: delivered\r\n\r\nFinal-Recipient: rfc822; evil@x"
	p.Recipients[0].RemoteMTA = "mx.b.test\r\nX-Evil: 1"
	p.Recipients[0].Original = "rfc822;a@b\r\nX-Evil: 2"
	r := buildParse(t, p)
	if len(r.status) != 2 {
		t.Fatalf("%d status blocks, want 2", len(r.status))
	}
	for _, b := range r.status {
		if b.Has("Bcc") || b.Has("X-Evil") || len(b.Values("Action")) > 1 || len(b.Values("Final-Recipient")) > 1 {
			t.Errorf("injected field in %v", b.Map())
		}
	}
	if r.header.Has("Bcc") {
		t.Error("injected Bcc in the header")
	}
}

func buildParse(t *testing.T, p Params) report {
	t.Helper()
	out, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, out)
}

func TestGeneratedMessageID(t *testing.T) {
	t.Parallel()
	p := failParams()
	p.MessageID = ""
	a, b := buildParse(t, p), buildParse(t, p)
	ida, idb := a.header.Get("Message-ID"), b.header.Get("Message-ID")
	if !strings.HasSuffix(ida, "@mta.a.test>") || ida == idb {
		t.Errorf("Message-IDs %q %q", ida, idb)
	}
}

// FuzzBuild: whatever the original and the remote said, the report parses
// as multipart/report with one block per recipient and no extra fields.
func FuzzBuild(f *testing.F) {
	f.Add([]byte(origMsg), "550 5.1.1 unknown", "FULL")
	f.Add([]byte("no header end"), "451 4.7.1 \r\nAction: x", "HDRS")
	f.Add([]byte("\r\n\r\n--=_dsn_\r\n"), "", "")
	f.Add([]byte("Subject: =?utf-8?b?w6k=?=\n\n\xff\x00"), "\xff\xfe", "FULL")
	f.Fuzz(func(t *testing.T, orig []byte, diag, ret string) {
		p := failParams()
		p.Original, p.RET, p.MaxOriginal, p.MaxHeader = strings.NewReader(string(orig)), ret, 512, 256
		p.Recipients[0].Diagnostic = diag
		out, err := Build(p)
		if err != nil {
			t.Fatal(err)
		}
		r := parse(t, out)
		if len(r.parts) != 3 || len(r.status) != 2 {
			t.Fatalf("parts %v, %d status blocks", r.parts, len(r.status))
		}
		allowed := map[string]bool{"final-recipient": true, "action": true, "status": true, "remote-mta": true, "diagnostic-code": true}
		for fs := r.status[1].Fields(); fs.Next(); {
			if !allowed[strings.ToLower(fs.Key())] {
				t.Fatalf("unexpected field %q", fs.Key())
			}
		}
	})
}
