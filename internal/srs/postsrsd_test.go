package srs

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/testutil"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// tcpTable asks a Postfix TCP lookup table (postsrsd) for key.
func tcpTable(t *testing.T, port, key string) string {
	t.Helper()
	var c net.Conn
	var err error
	testutil.WaitFor(t, 10*time.Second, "postsrsd listening", func() bool {
		c, err = net.Dial("tcp", "127.0.0.1:"+port)
		return err == nil
	})
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "get %s\n", url.PathEscape(key))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	code, val, _ := strings.Cut(strings.TrimSpace(line), " ")
	if code != "200" {
		t.Fatalf("postsrsd get %s: %q", key, line)
	}
	v, err := url.PathUnescape(val)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// startPostsrsd runs postsrsd on two free loopback ports and waits until
// it listens. A port taken by another test between freePort and
// postsrsd's bind makes it exit: then it is tried again on other ports.
func startPostsrsd(t *testing.T, bin, secret string) (fwdPort, revPort string) {
	t.Helper()
	var out strings.Builder
	for range 5 {
		fwdPort, revPort = freePort(t), freePort(t)
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, "-s"+secret, "-dfwd.test", "-l127.0.0.1", "-f"+fwdPort, "-r"+revPort, "-4")
		out.Reset()
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		up := false
		testutil.WaitFor(t, 20*time.Second, "postsrsd listening or gone", func() bool {
			select {
			case <-exited:
				return true
			default:
			}
			for _, p := range []string{revPort, fwdPort} {
				c, err := net.Dial("tcp", "127.0.0.1:"+p)
				if err != nil {
					return false
				}
				c.Close()
			}
			up = true
			return true
		})
		if up {
			t.Cleanup(func() { cancel(); <-exited })
			return fwdPort, revPort
		}
		cancel()
		<-exited
	}
	t.Fatalf("postsrsd did not start: %s", out.String())
	return "", ""
}

// Interoperability with Debian's postsrsd sharing our secret: the same
// rewriting, and each side reverses the other's addresses.
func TestPostsrsdInterop(t *testing.T) {
	bin := testutil.NeedCommand(t, "postsrsd", "postsrsd")
	key, err := LoadKey(filepath.Join(t.TempDir(), "srs.key"))
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "postsrsd.secret")
	if err := os.WriteFile(secret, append(key, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	fwdPort, revPort := startPostsrsd(t, bin, secret)
	s := &SRS{Secret: key}

	for _, sender := range []string{"alice@example.org", "Bob.Smith+x@Example.NET"} {
		theirs := tcpTable(t, fwdPort, sender)
		ours, _ := s.Forward(sender, "fwd.test")
		if !strings.EqualFold(theirs, ours) {
			// A day boundary between the two calls changes the stamp: retry once.
			theirs, ours = tcpTable(t, fwdPort, sender), mustForward(t, s, sender)
		}
		if !strings.EqualFold(theirs, ours) {
			t.Fatalf("forward %s: postsrsd %q, ours %q", sender, theirs, ours)
		}
		t.Logf("%s: postsrsd %s, ours %s", sender, theirs, ours)
		if back := tcpTable(t, revPort, ours); !strings.EqualFold(back, sender) {
			t.Fatalf("postsrsd reverses ours to %q, want %q", back, sender)
		}
		local := theirs[:strings.LastIndexByte(theirs, '@')]
		if back, err := s.Reverse(local); err != nil || !strings.EqualFold(back, sender) {
			t.Fatalf("we reverse postsrsd's %q to %q, %v", theirs, back, err)
		}
	}
	// SRS1: both rewrite another forwarder's SRS0 address alike.
	other := &SRS{Secret: []byte("another forwarder's secret")}
	srs0 := mustForward(t, other, "carol@example.org")
	srs0 = strings.Replace(srs0, "@fwd.test", "@first.test", 1)
	theirs := tcpTable(t, fwdPort, srs0)
	ours := mustForward(t, s, srs0)
	if !strings.EqualFold(theirs, ours) || !strings.HasPrefix(ours, "SRS1=") {
		t.Fatalf("SRS1: postsrsd %q, ours %q", theirs, ours)
	}
	if back := tcpTable(t, revPort, ours); !strings.EqualFold(back, srs0) {
		t.Fatalf("postsrsd reverses our SRS1 to %q, want %q", back, srs0)
	}
}

func mustForward(t *testing.T, s *SRS, sender string) string {
	t.Helper()
	out, err := s.Forward(sender, "fwd.test")
	if err != nil {
		t.Fatal(err)
	}
	return out
}
