package pop3server

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/auth"
)

// FuzzSession drives a whole session with arbitrary client input. It must
// never panic, answer only in CRLF lines, release the maildrop lock, and
// delete nothing unless the client sent QUIT.
func FuzzSession(f *testing.F) {
	for _, seed := range []string{
		"CAPA\r\nUSER alice@example.test\r\nPASS alice-pw\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1\r\nDELE 1\r\nQUIT\r\n",
		"USER alice@example.test\r\nPASS alice-pw\r\nDELE 1\r\nDELE 2\r\nDELE 3\r\n",
		"USER alice@example.test\nPASS alice-pw\nDELE 2\nRSET\nDELE 3\nquit\n",
		"AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==\r\nRETR 3\r\nQUIT\r\n",
		"AUTH PLAIN\r\nAGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==\r\nLIST 2\r\n",
		"AUTH PLAIN\r\n*\r\nAUTH PLAIN =\r\nAUTH\r\n",
		"STLS\r\nCAPA\r\n",
		"USER a\x00b\r\nPASS\r\nRETR 1\r\n\r\n\r\n",
		"USER bob@example.test\r\nPASS wrong\r\nUSER bob@example.test\r\nPASS bob pw with spaces\r\nTOP 1 0\r\n",
		strings.Repeat("X", 5000) + "\r\n",
	} {
		f.Add([]byte(seed))
	}
	tlsConf, _ := testTLS(f)
	ta := newTestAuth(f, auth.LimiterConfig{FreeFailures: 1 << 30, MaxFailures: 1 << 30}, testUsers)
	f.Fuzz(func(t *testing.T, in []byte) {
		b := newMemBackend()
		b.add(1, "Subject: one\r\n\r\n.leading dot\r\n")
		b.add(1, "Subject: two\r\n\r\nline\nbare lf\n")
		b.add(1, "no header or end")
		srv := &Server{Backend: b, Auth: ta, TLSConfig: tlsConf, noRecover: true,
			Config: Config{AllowInsecureAuth: true, MaxLineLength: 1024}}
		srv.init()
		fc := &fakeConn{in: bytes.NewReader(in)}
		srv.serveConn(fc, localIP)

		out := fc.out.Bytes()
		if !bytes.HasPrefix(out, []byte("+OK ")) {
			t.Fatalf("no greeting: %q", out)
		}
		if i := bytes.IndexByte(bytes.ReplaceAll(out, []byte("\r\n"), nil), '\n'); i >= 0 && !bytes.Contains(in, []byte("STLS")) {
			t.Fatalf("bare LF in output: %q", out)
		}
		if b.locked(1) || b.locked(2) {
			t.Fatal("maildrop lock not released")
		}
		if !bytes.Contains(bytes.ToUpper(in), []byte("QUIT")) {
			if b.deleteCalls() != 0 || len(b.uids(1)) != 3 {
				t.Fatalf("deleted without QUIT: %d calls, %v left", b.deleteCalls(), b.uids(1))
			}
		}
	})
}
