package mailauth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/kantorpos/kantorpos/internal/dns/dnstest"
)

func TestStripForged(t *testing.T) {
	t.Parallel()
	const tail = "Subject: x\r\n\r\n"
	tests := []struct {
		name   string
		header string
		want   string
		n      int
	}{
		{"ours", "Authentication-Results: mx.ours.test; spf=pass\r\n" + tail, tail, 1},
		{"case-insensitive", "authentication-results:MX.Ours.TEST;dkim=pass\r\n" + tail, tail, 1},
		{"folded", "Authentication-Results:\r\n  mx.ours.test;\r\n\tdmarc=pass header.from=x.test\r\n" + tail, tail, 1},
		{"comment before id", "Authentication-Results: (forged (nested)) mx.ours.test 1; none\r\n" + tail, tail, 1},
		{"quoted id", "Authentication-Results: \"mx.ours.test\"; none\r\n" + tail, tail, 1},
		{"no results", "Authentication-Results: mx.ours.test\r\n" + tail, tail, 1},
		{"other server kept", "Authentication-Results: mx.other.test; spf=pass\r\n" + tail,
			"Authentication-Results: mx.other.test; spf=pass\r\n" + tail, 0},
		{"suffix is not ours", "Authentication-Results: evil-mx.ours.test; spf=pass\r\n" + tail,
			"Authentication-Results: evil-mx.ours.test; spf=pass\r\n" + tail, 0},
		{"prefix is not ours", "Authentication-Results: mx.ours.test.evil; spf=pass\r\n" + tail,
			"Authentication-Results: mx.ours.test.evil; spf=pass\r\n" + tail, 0},
		{"other field kept", "X-Authentication-Results: mx.ours.test\r\n" + tail,
			"X-Authentication-Results: mx.ours.test\r\n" + tail, 0},
		{"several, order kept", "A: 1\r\nAuthentication-Results: mx.ours.test; a\r\nB: 2\r\nAuthentication-Results: mx.ours.test; b\r\nC: 3\r\n\r\n",
			"A: 1\r\nB: 2\r\nC: 3\r\n\r\n", 2},
		{"bare LF", "Authentication-Results: mx.ours.test; x\nA: 1\n\n", "A: 1\n\n", 1},
		{"no final empty line", "A: 1\r\nAuthentication-Results: mx.ours.test", "A: 1\r\n", 1},
		// Issue 19 item 13: any of our hosted domains, not only the host name.
		{"hosted domain", "Authentication-Results: example.test; dkim=pass header.d=example.test\r\n" + tail, tail, 1},
		{"other hosted domain, upper case", "Authentication-Results: SHOP.Test; dmarc=pass\r\n" + tail, tail, 1},
		{"name under a hosted domain", "Authentication-Results: mail.example.test; spf=pass\r\n" + tail, tail, 1},
		{"final dot", "Authentication-Results: example.test.; spf=pass\r\n" + tail, tail, 1},
		{"space before colon", "Authentication-Results : example.test; spf=pass\r\n" + tail, tail, 1},
		{"not a hosted domain", "Authentication-Results: notexample.test; spf=pass\r\n" + tail,
			"Authentication-Results: notexample.test; spf=pass\r\n" + tail, 0},
		{"no id", "Authentication-Results: ; spf=pass\r\n" + tail, "Authentication-Results: ; spf=pass\r\n" + tail, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, n := StripForged([]byte(tt.header), oursTest)
			if string(got) != tt.want || n != tt.n {
				t.Errorf("StripForged = %q, %d; want %q, %d", got, n, tt.want, tt.n)
			}
		})
	}
}

// TestVerifyCountsForged: Verify reports forged fields, and its own field
// is not one of them after StripForged.
func TestVerifyCountsForged(t *testing.T) {
	t.Parallel()
	s := dnstest.New(t)
	v := newVerifier(t, s)
	msg := "Authentication-Results: mx.ours.test; dmarc=pass header.from=bank.test\r\n" + basicMessage("a@bank.test")
	res := verify(t, v, ConnInfo{IP: ip1, HELO: "client.test", MailFrom: "a@bank.test"}, msg)
	if res.Forged != 1 {
		t.Errorf("Forged = %d, want 1", res.Forged)
	}
	id, results, err := authres.Parse(strings.TrimPrefix(unfold(res.AuthenticationResults), "Authentication-Results:"))
	if err != nil || id != ourHost || len(results) != 4 {
		t.Errorf("our field parses as %q, %d results, %v", id, len(results), err)
	}
}

// oursTest is the StripForged predicate of a server named ourHost that
// hosts example.test and shop.test.
func oursTest(id string) bool { return OursID(id, ourHost, []string{"example.test", "shop.test"}) }

func unfold(s string) string {
	return strings.NewReplacer("\r\n\t", " ", "\r\n", "").Replace(s)
}

func TestAuthorDomains(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from []string
		want []string
		err  error
	}{
		{[]string{"a@Example.TEST"}, []string{"example.test"}, nil},
		{[]string{`"Doe, John" <john@example.test>`}, []string{"example.test"}, nil},
		{[]string{"=?iso-2022-jp?B?GyRCJTUlcyVXJWsbKEI=?= <a@example.test>"}, []string{"example.test"}, nil},
		{[]string{"a@x.test, b@y.test, c@x.test"}, []string{"x.test", "y.test"}, nil},
		{[]string{"a@bücher.example"}, []string{"xn--bcher-kva.example"}, nil},
		{nil, nil, errNoFrom},
		{[]string{"a@x.test", "b@x.test"}, nil, errSeveralFrom},
		{[]string{"not an address"}, nil, errBadFrom},
		{[]string{"a@[127.0.0.1]"}, nil, errBadFrom},
		{[]string{""}, nil, errBadFrom},
	}
	for _, tt := range tests {
		var h []string
		for _, f := range tt.from {
			h = append(h, "From: "+f)
		}
		fields := splitFields([]byte(message("", append(h, "To: x@y.test")...)))
		got, err := authorDomains(fields)
		if !errors.Is(err, tt.err) || !slices.Equal(got, tt.want) {
			t.Errorf("authorDomains(%q) = %q, %v; want %q, %v", tt.from, got, err, tt.want, tt.err)
		}
	}
}

func TestReadHeader(t *testing.T) {
	t.Parallel()
	long := "X: " + strings.Repeat("a", 5000) + "\r\n" // longer than bufio's buffer
	tests := []struct {
		name, in, header, body string
		max                    int
		err                    error
	}{
		{"crlf", "A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n\r\n", "body\r\n", 100, nil},
		{"lf", "A: 1\n\nbody", "A: 1\n\n", "body", 100, nil},
		{"no body", "A: 1\r\n", "A: 1\r\n", "", 100, nil},
		{"long line", long + "\r\nb", long + "\r\n", "b", 10000, nil},
		{"too long", long + "\r\nb", "", "", 1000, ErrHeaderTooLong},
		{"empty line inside a long line is not the end", "X: " + strings.Repeat("a", 4093) + "\r\n\r\nB", "X: " + strings.Repeat("a", 4093) + "\r\n\r\n", "B", 10000, nil},
	}
	for _, tt := range tests {
		br := bufio.NewReader(strings.NewReader(tt.in))
		h, err := readHeader(br, tt.max)
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
			continue
		}
		rest := new(bytes.Buffer)
		rest.ReadFrom(br) //nolint:errcheck
		if err == nil && (string(h) != tt.header || rest.String() != tt.body) {
			t.Errorf("%s: header %q body %q; want %q %q", tt.name, h, rest, tt.header, tt.body)
		}
	}
}

func TestVerifyHeaderTooLong(t *testing.T) {
	t.Parallel()
	s := dnstest.New(t)
	v := newVerifier(t, s)
	v.MaxHeaderBytes = 100
	_, err := v.Verify(context.Background(), ConnInfo{IP: ip1}, strings.NewReader(basicMessage("a@x.test")))
	if !errors.Is(err, ErrHeaderTooLong) {
		t.Fatalf("err = %v", err)
	}
}

// FuzzHeader feeds untrusted header bytes to everything of ours that parses
// them: splitting, From extraction, authserv-id and StripForged.
func FuzzHeader(f *testing.F) {
	f.Add([]byte("From: a@example.test\r\nAuthentication-Results: mx.ours.test; spf=pass\r\n\r\nbody"))
	f.Add([]byte("Authentication-Results: (c (d) \\) \"mx.ours.test\"; x\n\tfolded\nFrom: \"q\\\"\" <a@b>\n\n"))
	f.Add([]byte("DKIM-Signature: v=1; a=rsa-sha256; s=x; d=y; l=1\r\n From:\r\n\r\n"))
	f.Add([]byte(" leading continuation\r\n:\r\nFrom: =?utf-8?q?x?= <a@[1.2.3.4]>, b@c.test\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		h, err := readHeader(br, 1<<16)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(data, h) {
			t.Fatalf("header %q is not a prefix of the input", h)
		}
		fields := splitFields(h)
		total := 0
		for _, fl := range fields {
			total += len(fl.Raw)
			_ = fl.Value()
			_ = tagValue(fl.Value(), "s")
			_ = authservID(fl.Value())
		}
		if total > len(h) {
			t.Fatalf("fields hold %d bytes of a %d-byte header", total, len(h))
		}
		authorDomains(fields) //nolint:errcheck
		out, n := StripForged(h, oursTest)
		if n == 0 && !bytes.Equal(out, h) {
			t.Fatal("header changed with nothing removed")
		}
		if len(out) > len(h) {
			t.Fatal("StripForged grew the header")
		}
		if again, m := StripForged(out, oursTest); m != 0 || !bytes.Equal(again, out) {
			t.Fatalf("a second StripForged removed %d more", m)
		}
		if s := sanitize(string(data)); strings.ContainsAny(s, "\r\n\"\\") {
			t.Fatalf("sanitize left a control character or quote: %q", s)
		}
	})
}

// FuzzVerify runs whole messages through Verify against a loopback DNS
// server: whatever the message, Verify returns a result or an error, and
// never panics or hangs. Every run queries DNS, so minimizing is slow: run
// it with -fuzzminimizetime=1s.
func FuzzVerify(f *testing.F) {
	s := dnstest.New(f)
	k := edKey(f, "example.test", "s1")
	publish(f, s, k)
	s.Add(f, `example.test. TXT "v=spf1 ip4:127.0.0.1 -all"`, `_dmarc.example.test. TXT "v=DMARC1; p=reject"`)
	v := newVerifier(f, s)
	v.Log = nil
	signed := sign(f, basicMessage("a@example.test"), k)
	f.Add([]byte(signed))
	f.Add([]byte(strings.Replace(signed, "d=example.test", "d=other.test", 1)))
	f.Add([]byte("DKIM-Signature: v=1; a=ed25519-sha256; d=example.test; s=s1; h=from; bh=; b=\r\n" + basicMessage("a@example.test")))
	f.Fuzz(func(t *testing.T, msg []byte) {
		res, err := v.Verify(context.Background(), ConnInfo{IP: ip1, HELO: "client.test", MailFrom: "a@example.test"}, bytes.NewReader(msg))
		if err != nil {
			return
		}
		if !strings.HasPrefix(res.AuthenticationResults, "Authentication-Results: "+ourHost+";") ||
			strings.Count(res.AuthenticationResults, "\n") != strings.Count(res.AuthenticationResults, "\r\n\t")+1 {
			t.Fatalf("bad field %q", res.AuthenticationResults)
		}
	})
}
