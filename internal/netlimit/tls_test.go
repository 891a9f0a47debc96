package netlimit

import (
	"bufio"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/testutil"
	"github.com/kantorpos/kantorpos/internal/tlsconf"
)

// clientHelloHalf returns the first half of a real ClientHello.
func clientHelloHalf(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true}).Handshake() //nolint:errcheck // only its first record is wanted
	buf := make([]byte, 4096)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := b.Read(buf)
	if err != nil || n < 10 {
		t.Fatalf("ClientHello: %d %v", n, err)
	}
	return buf[:n/2]
}

func TestTLSListenerHandshakeDeadline(t *testing.T) {
	t.Parallel()
	srvCfg, cliCfg, err := tlsconf.TestConfig("imap")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limits := NewListener(raw, Options{MaxPerAddr: 10})
	l := NewTLSListener(limits, srvCfg, 300*time.Millisecond, nil)
	accepted := serve(t, l)
	addr := raw.Addr().String()

	// Clients that never finish a handshake: silent, or half a ClientHello.
	silent := dial(t, "tcp4", addr)
	half := dial(t, "tcp4", addr)
	half.Write(clientHelloHalf(t))
	// Meanwhile a real client is served at once.
	good, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp4", addr, cliCfg)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer good.Close()
	s := recv(t, accepted)
	if tc, ok := s.(*tls.Conn); !ok || !tc.ConnectionState().HandshakeComplete {
		t.Fatalf("accepted %T without a complete handshake", s)
	}
	s.Write([]byte("* OK\r\n"))
	good.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(good).ReadString('\n'); err != nil || line != "* OK\r\n" {
		t.Fatalf("greeting: %q %v", line, err)
	}
	// The stalled clients are closed after the deadline, their slots freed.
	for name, c := range map[string]net.Conn{"silent": silent, "half ClientHello": half} {
		if got := readAll(t, c); got != "" && got[0] != 0x15 { // nothing, or a TLS alert
			t.Errorf("%s: got %q", name, got)
		}
	}
	// The server side closes just after the client sees EOF.
	testutil.WaitFor(t, 10*time.Second, "the stalled clients' slots freed", func() bool { return limits.Open() == 1 })
	select {
	case c := <-accepted:
		t.Fatalf("a connection without a handshake was accepted: %v", c.RemoteAddr())
	default:
	}
}

func TestTLSListenerCloseEndsHandshakes(t *testing.T) {
	t.Parallel()
	srvCfg, _, err := tlsconf.TestConfig("smtp")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewTLSListener(raw, srvCfg, time.Hour, nil)
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	silent := dial(t, "tcp4", raw.Addr().String())
	// Wait until the handshake is under way (the server has the
	// connection): a read on it blocks rather than failing.
	silent.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	silent.Read(make([]byte, 1))
	l.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Accept returned a connection")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
	if got := readAll(t, silent); got != "" {
		t.Errorf("got %q", got)
	}
	if _, err := l.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}
