package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:25", true},
		{"127.0.0.9:25", true},
		{"[::1]:143", true},
		{"localhost:110", true},
		{"192.0.2.1:25", false},
		{"[2001:db8::1]:25", false},
		{"0.0.0.0:25", false},
		{"127.0.0.1", false}, // no port
	} {
		err := CheckLoopback(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
	if _, err := RunSMTP(t.Context(), SMTPOptions{Addr: "192.0.2.1:25"}); err == nil || !strings.Contains(err.Error(), "loopback only") {
		t.Errorf("RunSMTP to a remote address: %v", err)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var l Latencies
	if l.Percentile(50) != 0 {
		t.Error("empty")
	}
	for i := 100; i >= 1; i-- {
		l.Add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := l.Percentile(tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	var r Result
	l.Report(&r, "x")
	if got := r.String(); got != "x_p50_ms=50 x_p99_ms=99" {
		t.Errorf("report: %q", got)
	}
}

func TestResult(t *testing.T) {
	t.Parallel()
	var r Result
	r.Set("a", 1).Set("b", 2.5).Set("c", "two words").Set("d", 1500*time.Millisecond).Set("a", 3).Set("e", 0.0)
	if got := r.String(); got != "a=3 b=2.5 c=two_words d=1.500 e=0" {
		t.Errorf("%q", got)
	}
	if r.Float("b") != 2.5 || r.Get("zz") != "" {
		t.Error("Float/Get")
	}
}

func TestParseMbox(t *testing.T) {
	t.Parallel()
	mbox := "From a@example.org Mon Jan  1 00:00:00 2025\nSubject: one\n\nbody\n>From quoted\n\n" +
		"From b@example.org Mon Jan  1 00:00:00 2025\nSubject: two\n\n.dot line\n\n"
	msgs, err := parseMbox(strings.NewReader(mbox))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Subject: one\r\n\r\nbody\r\n>From quoted\r\n", "Subject: two\r\n\r\n.dot line\r\n"}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages", len(msgs))
	}
	for i := range want {
		if string(msgs[i]) != want[i] {
			t.Errorf("message %d: %q, want %q", i, msgs[i], want[i])
		}
	}
	if got := string(dotStuff(msgs[1])); got != "Subject: two\r\n\r\n..dot line\r\n" {
		t.Errorf("dotStuff: %q", got)
	}
}

func TestMakeMessageAndLanes(t *testing.T) {
	t.Parallel()
	m := makeMessage("a@x", "b@y", 1, 5120)
	if len(m) != 5120 || !strings.HasSuffix(string(m), "\r\n") {
		t.Errorf("size %d", len(m))
	}
	o := SMTPOptions{Sessions: 3, Messages: 10, Users: 5, RcptFormat: "u%d"}
	lanes := o.lanes()
	n := 0
	for i, l := range lanes {
		for _, r := range l {
			n++
			var u int
			if _, err := fmt.Sscanf(r, "u%d", &u); err != nil || (u-1)%3 != i {
				t.Errorf("lane %d has %s", i, r)
			}
		}
	}
	if n != 10 {
		t.Errorf("%d messages in lanes", n)
	}
}
