package delivery

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestDestinations covers MX resolution and host fallback, end to end.
func TestDestinations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		records  []string
		servfail string
		rcpt     string
		perConn  func(int) connBehaviour
		isLocal  func(netip.Addr) bool
		status   Status
		enhanced string
		host     string // host of the result
		msgs     int    // messages the receiver got
		conns    int    // connections the receiver accepted
	}{
		{name: "delivered", records: mxRecords,
			status: Delivered, enhanced: "2.0.0", host: "mx.b.test", msgs: 1, conns: 1},
		{name: "preference order", records: []string{
			"b.test. MX 20 mx2.b.test.", "b.test. MX 10 mx1.b.test.",
			"mx1.b.test. A 127.0.0.1", "mx2.b.test. A 127.0.0.1"},
			status: Delivered, enhanced: "2.0.0", host: "mx1.b.test", msgs: 1, conns: 1},
		{name: "first MX down (closed port)", records: []string{
			"b.test. MX 10 mx1.b.test.", "b.test. MX 20 mx2.b.test.",
			"mx1.b.test. A 127.0.0.2", "mx2.b.test. A 127.0.0.1"},
			status: Delivered, enhanced: "2.0.0", host: "mx2.b.test", msgs: 1, conns: 1},
		{name: "first address down, second up", records: []string{
			"b.test. MX 10 mx.b.test.", "mx.b.test. A 127.0.0.2", "mx.b.test. A 127.0.0.1"},
			status: Delivered, enhanced: "2.0.0", host: "mx.b.test", msgs: 1, conns: 1},
		{name: "5xx greeting moves to next MX", records: []string{
			"b.test. MX 10 mx1.b.test.", "b.test. MX 20 mx2.b.test.",
			"mx1.b.test. A 127.0.0.1", "mx2.b.test. A 127.0.0.1"},
			perConn: func(n int) connBehaviour {
				if n == 1 {
					return connBehaviour{greeting: "554 5.7.1 go away"}
				}
				return connBehaviour{}
			},
			status: Delivered, enhanced: "2.0.0", host: "mx2.b.test", msgs: 1, conns: 2},
		{name: "5xx greeting everywhere is temporary", records: mxRecords,
			perConn: func(int) connBehaviour { return connBehaviour{greeting: "554 5.7.1 go away"} },
			status:  TempFail, enhanced: "4.7.1", host: "mx.b.test", conns: 1},
		{name: "all MX down", records: []string{"b.test. MX 10 mx.b.test.", "mx.b.test. A 127.0.0.2"},
			status: TempFail, enhanced: "4.4.1", host: "mx.b.test"},
		{name: "implicit MX", records: []string{"b.test. A 127.0.0.1"},
			status: Delivered, enhanced: "2.0.0", host: "b.test", msgs: 1, conns: 1},
		{name: "null MX", records: []string{"b.test. MX 0 .", "b.test. A 127.0.0.1"},
			status: PermFail, enhanced: "5.1.10"},
		{name: "NXDOMAIN", records: []string{"other.test. A 127.0.0.1"},
			status: PermFail, enhanced: "5.1.2"},
		{name: "SERVFAIL", records: mxRecords, servfail: "b.test.",
			status: TempFail, enhanced: "4.4.3"},
		{name: "SERVFAIL for the MX host", records: mxRecords, servfail: "mx.b.test.",
			status: TempFail, enhanced: "4.4.3"},
		{name: "MX host does not exist", records: []string{"b.test. MX 10 nohost.b.test."},
			status: PermFail, enhanced: "5.4.4"},
		{name: "address literal", rcpt: "bob@[127.0.0.1]",
			status: Delivered, enhanced: "2.0.0", host: "[127.0.0.1]", msgs: 1, conns: 1},
		{name: "bad address literal", rcpt: "bob@[300.1.2.3]",
			status: PermFail, enhanced: "5.1.2"},
		{name: "MX is ourselves", records: mxRecords,
			isLocal: func(a netip.Addr) bool { return a == mustAddr("127.0.0.1") },
			status:  TempFail, enhanced: "4.4.6"},
		{name: "less preferred MX is ourselves", records: []string{
			"b.test. MX 10 mx1.b.test.", "b.test. MX 20 us.b.test.",
			"mx1.b.test. A 127.0.0.1", "us.b.test. A 192.0.2.25"},
			isLocal: func(a netip.Addr) bool { return a == mustAddr("192.0.2.25") },
			status:  Delivered, enhanced: "2.0.0", host: "mx1.b.test", msgs: 1, conns: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, recvConfig{perConn: tc.perConn}, tc.records, func(c *Config) { c.IsLocalIP = tc.isLocal })
			if tc.servfail != "" {
				f.dns.ServFail(tc.servfail, true)
			}
			rcpt := tc.rcpt
			if rcpt == "" {
				rcpt = "bob@b.test"
			}
			r := deliver(t, f.tr, newMsg(simpleBody, rcpt))[0]
			if r.Status != tc.status || r.Enhanced != tc.enhanced || r.Host != tc.host {
				t.Errorf("got %v %s host %q (%d %q, err %v); want %v %s host %q",
					r.Status, r.Enhanced, r.Host, r.Code, r.Message, r.Err, tc.status, tc.enhanced, tc.host)
			}
			f.tr.Close() // closes pooled connections, so counts settle
			if got := len(f.rcv.messages()); got != tc.msgs {
				t.Errorf("receiver got %d messages, want %d", got, tc.msgs)
			}
			if acc, _ := f.rcv.stats(); acc != tc.conns {
				t.Errorf("receiver accepted %d connections, want %d", acc, tc.conns)
			}
			if tc.status == Delivered {
				m := f.rcv.messages()[0]
				if m.from != "alice@a.test" || len(m.rcpts) != 1 || m.rcpts[0] != rcpt || string(m.data) != simpleBody {
					t.Errorf("receiver got %+v", m)
				}
				if !strings.Contains(f.logs.String(), "event=delivery-attempt") {
					t.Errorf("no delivery-attempt log line:\n%s", f.logs)
				}
			}
		})
	}
}

// TestTLS covers opportunistic STARTTLS and the plaintext fallback order.
func TestTLS(t *testing.T) {
	t.Parallel()
	twoMX := []string{
		"b.test. MX 10 mx1.b.test.", "b.test. MX 20 mx2.b.test.",
		"mx1.b.test. A 127.0.0.1", "mx2.b.test. A 127.0.0.1"}
	broken := func(upTo int) func(int) connBehaviour {
		return func(n int) connBehaviour { return connBehaviour{brokenTLS: n <= upTo} }
	}
	tests := []struct {
		name     string
		rc       recvConfig
		records  []string
		wantTLS  bool
		host     string
		conns    int
		wantCiph bool
	}{
		{name: "STARTTLS used when offered", rc: recvConfig{startTLS: true}, records: mxRecords,
			wantTLS: true, host: "mx.b.test", conns: 1},
		{name: "plaintext when not offered", rc: recvConfig{}, records: mxRecords,
			wantTLS: false, host: "mx.b.test", conns: 1},
		{name: "failed handshake tries next MX with TLS", rc: recvConfig{startTLS: true, perConn: broken(1)},
			records: twoMX, wantTLS: true, host: "mx2.b.test", conns: 2},
		{name: "failed handshake everywhere falls back to plaintext on first MX",
			rc: recvConfig{startTLS: true, perConn: broken(1000)}, records: twoMX,
			wantTLS: false, host: "mx1.b.test", conns: 3},
		{name: "failed handshake on the only MX falls back to plaintext",
			rc: recvConfig{startTLS: true, perConn: broken(1000)}, records: mxRecords,
			wantTLS: false, host: "mx.b.test", conns: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, tc.rc, tc.records, nil)
			r := deliver(t, f.tr, newMsg(simpleBody, "bob@b.test"))[0]
			if r.Status != Delivered || r.Host != tc.host {
				t.Fatalf("got %v via %q (%d %s, err %v), want delivered via %q", r.Status, r.Host, r.Code, r.Message, r.Err, tc.host)
			}
			msgs := f.rcv.messages()
			if len(msgs) != 1 || msgs[0].tls != tc.wantTLS {
				t.Fatalf("receiver: %d messages, tls=%v; want 1, tls=%v", len(msgs), len(msgs) > 0 && msgs[0].tls, tc.wantTLS)
			}
			if (r.TLS != "") != tc.wantTLS {
				t.Errorf("result TLS %q, want TLS %v", r.TLS, tc.wantTLS)
			}
			if acc, _ := f.rcv.stats(); acc != tc.conns {
				t.Errorf("receiver accepted %d connections, want %d", acc, tc.conns)
			}
			if tc.wantTLS && !strings.Contains(f.logs.String(), "cipher=TLS_") {
				t.Errorf("log lacks the cipher:\n%s", f.logs)
			}
		})
	}
}

// TestReplies covers the mapping of MAIL, RCPT and DATA replies to
// per-recipient results, with and without PIPELINING.
func TestReplies(t *testing.T) {
	t.Parallel()
	rcptErr := map[string]*smtp.SMTPError{
		"temp@b.test": serr(450, "4.2.1", "mailbox busy"),
		"gone@b.test": serr(550, "5.1.1", "no such user"),
	}
	type want struct {
		status   Status
		code     int
		enhanced string
	}
	tests := []struct {
		name    string
		rc      recvConfig
		rcpts   []string
		want    []want
		msgs    int
		rcvdFor []string
	}{
		{name: "250/450/550 mix", rc: recvConfig{rcptErr: rcptErr},
			rcpts: []string{"bob@b.test", "temp@b.test", "gone@b.test"},
			want:  []want{{Delivered, 250, "2.0.0"}, {TempFail, 450, "4.2.1"}, {PermFail, 550, "5.1.1"}},
			msgs:  1, rcvdFor: []string{"bob@b.test"}},
		{name: "250/450/550 mix without PIPELINING", rc: recvConfig{rcptErr: rcptErr, hide: []string{"PIPELINING"}},
			rcpts: []string{"bob@b.test", "temp@b.test", "gone@b.test"},
			want:  []want{{Delivered, 250, "2.0.0"}, {TempFail, 450, "4.2.1"}, {PermFail, 550, "5.1.1"}},
			msgs:  1, rcvdFor: []string{"bob@b.test"}},
		{name: "no recipient accepted", rc: recvConfig{rcptErr: rcptErr},
			rcpts: []string{"temp@b.test", "gone@b.test"},
			want:  []want{{TempFail, 450, "4.2.1"}, {PermFail, 550, "5.1.1"}}},
		{name: "no recipient accepted without PIPELINING", rc: recvConfig{rcptErr: rcptErr, hide: []string{"PIPELINING"}},
			rcpts: []string{"temp@b.test", "gone@b.test"},
			want:  []want{{TempFail, 450, "4.2.1"}, {PermFail, 550, "5.1.1"}}},
		{name: "4xx after DATA applies to every accepted recipient",
			rc:    recvConfig{rcptErr: rcptErr, dataErr: serr(451, "4.3.0", "try later")},
			rcpts: []string{"bob@b.test", "carol@b.test", "gone@b.test"},
			want:  []want{{TempFail, 451, "4.3.0"}, {TempFail, 451, "4.3.0"}, {PermFail, 550, "5.1.1"}}},
		{name: "5xx after DATA", rc: recvConfig{dataErr: serr(554, "5.6.0", "content rejected")},
			rcpts: []string{"bob@b.test", "carol@b.test"},
			want:  []want{{PermFail, 554, "5.6.0"}, {PermFail, 554, "5.6.0"}}},
		{name: "5xx to MAIL applies to all", rc: recvConfig{mailErr: serr(550, "5.7.1", "sender blocked")},
			rcpts: []string{"bob@b.test", "carol@b.test"},
			want:  []want{{PermFail, 550, "5.7.1"}, {PermFail, 550, "5.7.1"}}},
		{name: "4xx to MAIL without PIPELINING", rc: recvConfig{hide: []string{"PIPELINING"}, mailErr: serr(451, "4.7.1", "greylisted")},
			rcpts: []string{"bob@b.test", "carol@b.test"},
			want:  []want{{TempFail, 451, "4.7.1"}, {TempFail, 451, "4.7.1"}}},
		{name: "invalid recipient address fails alone", rc: recvConfig{},
			rcpts: []string{"bob@b.test", "bad address@b.test"},
			want:  []want{{Delivered, 250, "2.0.0"}, {PermFail, 550, "5.1.3"}},
			msgs:  1, rcvdFor: []string{"bob@b.test"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, tc.rc, mxRecords, nil)
			res := deliver(t, f.tr, newMsg(simpleBody, tc.rcpts...))
			for i, w := range tc.want {
				r := res[i]
				if r.Status != w.status || r.Code != w.code || r.Enhanced != w.enhanced {
					t.Errorf("%s: got %v %d %s %q (err %v), want %v %d %s", r.Rcpt, r.Status, r.Code, r.Enhanced, r.Message, r.Err, w.status, w.code, w.enhanced)
				}
			}
			msgs := f.rcv.messages()
			if len(msgs) != tc.msgs {
				t.Fatalf("receiver got %d messages, want %d", len(msgs), tc.msgs)
			}
			if tc.msgs > 0 && strings.Join(msgs[0].rcpts, ",") != strings.Join(tc.rcvdFor, ",") {
				t.Errorf("receiver got recipients %v, want %v", msgs[0].rcpts, tc.rcvdFor)
			}
		})
	}
}

// TestRecipientLimits: LIMITS RCPTMAX splits the recipients into several
// transactions; without it, 452 "too many recipients" does the same.
func TestRecipientLimits(t *testing.T) {
	t.Parallel()
	for _, hide := range [][]string{nil, {"LIMITS"}} {
		t.Run("hide="+strings.Join(hide, ","), func(t *testing.T) {
			t.Parallel()
			f := setup(t, recvConfig{maxRcpts: 2, hide: hide}, mxRecords, nil)
			rcpts := []string{"r1@b.test", "r2@b.test", "r3@b.test", "r4@b.test", "r5@b.test"}
			for _, r := range deliver(t, f.tr, newMsg(simpleBody, rcpts...)) {
				if r.Status != Delivered {
					t.Errorf("%s: %v %d %s", r.Rcpt, r.Status, r.Code, r.Message)
				}
			}
			var got []string
			for _, m := range f.rcv.messages() {
				if len(m.rcpts) > 2 {
					t.Errorf("a transaction had %d recipients", len(m.rcpts))
				}
				got = append(got, m.rcpts...)
			}
			if strings.Join(got, ",") != strings.Join(rcpts, ",") {
				t.Errorf("receiver got %v", got)
			}
			if acc, _ := f.rcv.stats(); acc != 1 {
				t.Errorf("%d connections, want 1", acc)
			}
		})
	}
}

// TestExtensions covers SIZE, SMTPUTF8, 8BITMIME and DSN parameters.
func TestExtensions(t *testing.T) {
	t.Parallel()
	t.Run("SIZE exceeded", func(t *testing.T) {
		t.Parallel()
		f := setup(t, recvConfig{size: 1000}, mxRecords, nil)
		m := newMsg(simpleBody, "bob@b.test")
		m.Size = 5000
		r := deliver(t, f.tr, m)[0]
		if r.Status != PermFail || r.Enhanced != "5.3.4" || r.Code != 552 {
			t.Errorf("got %v %d %s %q", r.Status, r.Code, r.Enhanced, r.Message)
		}
		if bytes.Contains(f.rcv.rawAll(), []byte("MAIL FROM")) {
			t.Error("MAIL was sent for a message over the SIZE limit")
		}
	})
	t.Run("SIZE announced to server", func(t *testing.T) {
		t.Parallel()
		f := setup(t, recvConfig{size: 100000}, mxRecords, nil)
		r := deliver(t, f.tr, newMsg(simpleBody, "bob@b.test"))[0]
		if r.Status != Delivered {
			t.Fatalf("got %v %d %s", r.Status, r.Code, r.Message)
		}
		if got := f.rcv.messages()[0].mailOpts.Size; got != int64(len(simpleBody)) {
			t.Errorf("SIZE=%d, want %d", got, len(simpleBody))
		}
	})
	for _, tc := range []struct {
		name    string
		rcpt    string
		flag    bool
		offered bool
	}{
		{"SMTPUTF8 flag to non-SMTPUTF8 host", "bob@b.test", true, false},
		{"UTF-8 local part to non-SMTPUTF8 host", "bøb@b.test", false, false},
		{"SMTPUTF8 to SMTPUTF8 host", "bøb@b.test", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, recvConfig{smtputf8: tc.offered}, mxRecords, nil)
			m := newMsg(simpleBody, tc.rcpt)
			m.SMTPUTF8 = tc.flag
			r := deliver(t, f.tr, m)[0]
			if !tc.offered {
				if r.Status != PermFail || r.Enhanced != "5.6.7" {
					t.Errorf("got %v %d %s %q, want PermFail 5.6.7", r.Status, r.Code, r.Enhanced, r.Message)
				}
				if bytes.Contains(f.rcv.rawAll(), []byte("MAIL FROM")) {
					t.Error("a transaction was started")
				}
				return
			}
			if r.Status != Delivered {
				t.Fatalf("got %v %d %s", r.Status, r.Code, r.Message)
			}
			got := f.rcv.messages()[0]
			if !got.mailOpts.UTF8 || got.rcpts[0] != tc.rcpt {
				t.Errorf("receiver got UTF8=%v rcpt %q", got.mailOpts.UTF8, got.rcpts[0])
			}
		})
	}
	for _, hide := range []bool{false, true} {
		t.Run("8BITMIME hidden="+map[bool]string{false: "no", true: "yes"}[hide], func(t *testing.T) {
			t.Parallel()
			rc := recvConfig{}
			if hide {
				rc.hide = []string{"8BITMIME"}
			}
			f := setup(t, rc, mxRecords, nil)
			body := "Subject: caf\xc3\xa9\r\n\r\ncaf\xc3\xa9\r\n"
			m := newMsg(body, "bob@b.test")
			m.EightBit = true
			r := deliver(t, f.tr, m)[0]
			if r.Status != Delivered {
				t.Fatalf("got %v %d %s", r.Status, r.Code, r.Message)
			}
			got := f.rcv.messages()[0]
			wantBody := "8BITMIME"
			if hide {
				wantBody = ""
				if !strings.Contains(f.logs.String(), "without 8BITMIME") {
					t.Errorf("no log note about the missing 8BITMIME:\n%s", f.logs)
				}
			}
			if string(got.mailOpts.Body) != wantBody || string(got.data) != body {
				t.Errorf("BODY=%q data %q", got.mailOpts.Body, got.data)
			}
		})
	}
	for _, offered := range []bool{true, false} {
		t.Run("DSN offered="+map[bool]string{true: "yes", false: "no"}[offered], func(t *testing.T) {
			t.Parallel()
			f := setup(t, recvConfig{dsn: offered}, mxRecords, nil)
			m := newMsg(simpleBody, "bob@b.test", "carol@b.test")
			m.RET, m.EnvID = "HDRS", "env+1=x y"
			m.Rcpts[0].Notify, m.Rcpts[0].ORcpt = "success,FAILURE", "rfc822;Bob+tag@b.test"
			m.Rcpts[1].Notify = "NEVER"
			res := deliver(t, f.tr, m)
			for _, r := range res {
				if r.Status != Delivered || r.PeerDSN != offered {
					t.Errorf("%s: %v PeerDSN=%v", r.Rcpt, r.Status, r.PeerDSN)
				}
			}
			got := f.rcv.messages()[0]
			raw := string(f.rcv.rawAll())
			if !offered {
				if strings.Contains(raw, "NOTIFY=") || strings.Contains(raw, "RET=") {
					t.Errorf("DSN parameters sent to a server without DSN:\n%s", raw)
				}
				return
			}
			if got.mailOpts.Return != "HDRS" || got.mailOpts.EnvelopeID != "env+1=x y" {
				t.Errorf("RET=%q ENVID=%q", got.mailOpts.Return, got.mailOpts.EnvelopeID)
			}
			o := got.rcptOpts[0]
			if len(o.Notify) != 2 || o.Notify[0] != "SUCCESS" || o.Notify[1] != "FAILURE" ||
				o.OriginalRecipientType != "RFC822" || o.OriginalRecipient != "Bob+tag@b.test" {
				t.Errorf("rcpt 0 options %+v", o)
			}
			if n := got.rcptOpts[1].Notify; len(n) != 1 || n[0] != "NEVER" {
				t.Errorf("rcpt 1 NOTIFY %v", n)
			}
			if !strings.Contains(raw, "ENVID=env+2B1+3Dx+20y") || !strings.Contains(raw, "ORCPT=rfc822;Bob+2Btag@b.test") {
				t.Errorf("xtext encoding not as expected:\n%s", raw)
			}
		})
	}
}

func TestNullSender(t *testing.T) {
	t.Parallel()
	f := setup(t, recvConfig{}, mxRecords, nil)
	m := newMsg(simpleBody, "bob@b.test")
	m.From = ""
	if r := deliver(t, f.tr, m)[0]; r.Status != Delivered {
		t.Fatalf("got %v %d %s", r.Status, r.Code, r.Message)
	}
	if got := f.rcv.messages()[0].from; got != "" {
		t.Errorf("MAIL FROM %q, want <>", got)
	}
	if !bytes.Contains(f.rcv.rawAll(), []byte("MAIL FROM:<>")) {
		t.Errorf("no MAIL FROM:<> on the wire")
	}
}

// TestEnvelope: IDNA domains are looked up and sent as A-labels; mixed
// domains in one message are a caller error (temporary, nothing lost).
func TestEnvelope(t *testing.T) {
	t.Parallel()
	t.Run("IDNA domain", func(t *testing.T) {
		t.Parallel()
		f := setup(t, recvConfig{}, []string{"xn--bcher-kva.test. MX 10 mx.b.test.", "mx.b.test. A 127.0.0.1"}, nil)
		r := deliver(t, f.tr, newMsg(simpleBody, "bob@bücher.test"))[0]
		if r.Status != Delivered || r.Host != "mx.b.test" {
			t.Fatalf("got %v via %q %d %s (err %v)", r.Status, r.Host, r.Code, r.Message, r.Err)
		}
		if got := f.rcv.messages()[0].rcpts[0]; got != "bob@xn--bcher-kva.test" {
			t.Errorf("RCPT %q", got)
		}
	})
	t.Run("mixed domains", func(t *testing.T) {
		t.Parallel()
		f := setup(t, recvConfig{}, mxRecords, nil)
		res := deliver(t, f.tr, newMsg(simpleBody, "bob@b.test", "bad@", "carol@c.test"))
		if res[0].Status != TempFail || res[0].Enhanced != "4.3.5" || res[2].Status != TempFail || res[1].Status != PermFail {
			t.Errorf("got %v %s / %v %s / %v %s", res[0].Status, res[0].Enhanced, res[1].Status, res[1].Enhanced, res[2].Status, res[2].Enhanced)
		}
		if acc, _ := f.rcv.stats(); acc != 0 {
			t.Errorf("%d connections", acc)
		}
	})
}

// TestEqualPreference: hosts of equal preference are tried in random
// order (RFC 5321 5.1), so over many attempts both are used first.
func TestEqualPreference(t *testing.T) {
	t.Parallel()
	f := setup(t, recvConfig{}, []string{
		"b.test. MX 10 mx1.b.test.", "b.test. MX 10 mx2.b.test.",
		"mx1.b.test. A 127.0.0.1", "mx2.b.test. A 127.0.0.1"}, func(c *Config) { c.Pool.Disable = true })
	seen := map[string]int{}
	for range 40 { // both hosts first at least once: fails with probability 2^-39
		r := deliver(t, f.tr, newMsg(simpleBody, "bob@b.test"))[0]
		if r.Status != Delivered {
			t.Fatalf("got %v %d %s", r.Status, r.Code, r.Message)
		}
		seen[r.Host]++
	}
	if seen["mx1.b.test"] == 0 || seen["mx2.b.test"] == 0 {
		t.Errorf("hosts used: %v", seen)
	}
}
