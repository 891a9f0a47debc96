package smtpserver

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// A TLS scanner or an old client is not a server fault: its failed
// handshake is logged at INFO, never ERROR (issue "Run it for real": a
// scanner filled the log with level=ERROR lines).
func TestClientTLSFailureIsNotAnError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, SubmissionTLS)
	for _, cfg := range []*tls.Config{
		{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS10}, // an old client
		{InsecureSkipVerify: true, NextProtos: []string{"imap"}}, // ALPACA: another protocol
	} {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(c, cfg)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err == nil {
			t.Errorf("handshake with %+v succeeded", cfg)
		}
		c.Close()
	}
	waitFor(t, "the handshake failures in the log", func() bool {
		l := e.logs.String() // the handshake runs in go-smtp or in our TLS listener
		return strings.Count(l, "client connection failed")+strings.Count(l, "TLS handshake failed") >= 2
	})
	if strings.Contains(e.logs.String(), "level=ERROR") {
		t.Errorf("a client's failed handshake was logged as an error:\n%s", e.logs.String())
	}
}

func TestErrorLogLevels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line  string
		level string
	}{
		{"error handling 127.0.0.1:4242: tls: client offered only unsupported versions: [302]", "INFO"},
		{"error handling 127.0.0.1:4242: read tcp 127.0.0.1:25->127.0.0.1:4242: read: connection reset by peer", "INFO"},
		{"error handling 127.0.0.1:4242: EOF", "INFO"},
		{"panic serving 127.0.0.1:4242: runtime error: invalid memory address\ngoroutine 1", "ERROR"},
		{"error handling 127.0.0.1:4242: blob: disk on fire", "ERROR"},
	} {
		var buf bytes.Buffer
		errorLog{slog.New(slog.NewTextHandler(&buf, nil))}.Printf("%s", tc.line)
		if !strings.Contains(buf.String(), "level="+tc.level) {
			t.Errorf("%q logged as %s, want %s", tc.line, buf.String(), tc.level)
		}
	}
}
