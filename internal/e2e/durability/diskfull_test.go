package durability

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/kantorpos/kantorpos/internal/e2e/binary"
)

// smallFS mounts a tmpfs of size MiB for the test (root only). Outside CI
// it skips when it cannot; under CI=true (root) it fails.
func smallFS(t *testing.T, mib int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", mib), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a %d MiB tmpfs (needs root): %v %s", mib, err, bytes.TrimSpace(out))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func freeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// bigMessage is message n of about size bytes, recognisable by its X-Seq.
func bigMessage(n, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: a@ext.test\r\nSubject: flood %d\r\nMessage-ID: <flood-%d@crash.test>\r\nX-Seq: %d\r\n\r\n", n, n, n)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "flood %d line %06d %s\r\n", n, i, strings.Repeat("0123456789", 6))
	}
	fmt.Fprintf(&b, "END %d\r\n", n)
	return b.Bytes()
}

// TestDiskFull puts the data directory on a 32 MiB tmpfs and floods it
// over SMTP and IMAP APPEND. The server must refuse with 452 4.3.1 / NO
// while space is left (storage.min_free_disk), keep serving reads, stay
// alive and consistent when even SQLite cannot write (SQLITE_FULL),
// recover when space returns, and lose nothing it acknowledged.
func TestDiskFull(t *testing.T) {
	mnt := smallFS(t, 32)
	srv := binary.New(t, binary.Options{
		DataDir: filepath.Join(mnt, "data"),
		Storage: `min_free_disk = "4MiB"`,
		SMTP:    `max_message_size = "1MiB"`,
		IMAP:    `max_append_size = "1MiB"`,
	})
	srv.Admin("", "domain", "add", "crash.test")
	srv.Admin(password+"\n", "user", "add", "u@crash.test", "-password-stdin")
	srv.Start()
	acked := map[int]bool{}
	n := 0

	// 1. SMTP flood: 452 4.3.1 before the disk is full.
	smtpSend := func(msg []byte) string {
		c := dial(t, srv.Addr["smtp"])
		c.want("220")
		c.cmd("EHLO client.test", "250 ")
		for _, cmd := range []string{"MAIL FROM:<a@ext.test>", "RCPT TO:<u@crash.test>", "DATA"} {
			if r := c.cmd(cmd, ""); !strings.HasPrefix(r, "250") && !strings.HasPrefix(r, "354") {
				return r
			}
		}
		r := c.cmd(string(msg)+".", "")
		c.cmd("QUIT", "")
		return r
	}
	var refusal string
	var freeAtRefusal int64
	for refusal == "" {
		n++
		if n > 400 {
			t.Fatalf("no refusal after %d messages of 256 KiB on a 32 MiB disk (free %d)", n, freeBytes(mnt))
		}
		r := smtpSend(bigMessage(n, 256<<10))
		switch {
		case strings.HasPrefix(r, "250"):
			acked[n] = true
		case strings.HasPrefix(r, "452 4.3.1"):
			refusal, freeAtRefusal = r, freeBytes(mnt)
		default:
			t.Fatalf("message %d: %q, want 250 or 452 4.3.1 (free %d bytes)\n%s", n, r, freeBytes(mnt), srv.Log())
		}
	}
	t.Logf("SMTP: %d messages accepted, then %q with %d KiB free", len(acked), refusal, freeAtRefusal>>10)
	if freeAtRefusal < 1<<20 {
		t.Errorf("SMTP refused only when %d bytes were left: want the reserve (4 MiB) kept", freeAtRefusal)
	}

	// 2. IMAP APPEND flood: NO, not BAD or BYE.
	ic := dial(t, srv.Addr["imap"])
	ic.want("* OK")
	ic.cmd(`a LOGIN u@crash.test "`+password+`"`, "a OK")
	appended := 0
	for {
		n++
		msg := bigMessage(n, 256<<10)
		r := ic.cmd(fmt.Sprintf("b APPEND INBOX {%d+}\r\n%s", len(msg), msg), "b ")
		if strings.HasPrefix(r, "b NO") {
			t.Logf("IMAP APPEND: %d accepted, then %q with %d KiB free", appended, r, freeBytes(mnt)>>10)
			break
		}
		if !strings.HasPrefix(r, "b OK") || appended > 20 {
			t.Fatalf("APPEND on a nearly full disk: %q after %d, want OK then NO (free %d)", r, appended, freeBytes(mnt))
		}
		acked[n] = true
		appended++
	}
	if free := freeBytes(mnt); free < 1<<20 {
		t.Errorf("APPEND refused only when %d bytes were left: want the reserve (4 MiB) kept", free)
	}

	// 3. Reads still work: IMAP FETCH, POP3 RETR.
	ic.cmd("c SELECT INBOX", "c OK")
	ic.cmd("d FETCH 1 (BODY.PEEK[])", "d OK")
	pc := dial(t, srv.Addr["pop3"])
	pc.want("+OK")
	pc.cmd("USER u@crash.test", "+OK")
	pc.cmd("PASS "+password, "+OK")
	pc.cmd("RETR 1", "+OK")
	pc.want(".")
	pc.cmd("QUIT", "+OK")

	ic.cmd("e LOGOUT", "e OK")

	// 4. Nothing left at all: the database cannot grow either. A clean
	// stop removes the WAL; the server restarts with 256 KiB free, and
	// database writes fill it: each must fail cleanly (NO / 4xx, SQLite's
	// SQLITE_FULL), the server must stay up.
	srv.Stop()
	filler := filepath.Join(mnt, "filler")
	fillDisk(t, filler, 256<<10)
	srv.Start()
	t.Logf("disk filled: %d KiB free", freeBytes(mnt)>>10)
	ic = dial(t, srv.Addr["imap"])
	ic.want("* OK")
	ic.cmd(`a LOGIN u@crash.test "`+password+`"`, "a OK")
	ic.cmd("c SELECT INBOX", "c OK")
	var dbRefusals []string
	for i := 0; i < 400 && len(dbRefusals) < 20; i++ {
		name := fmt.Sprintf("e%d", i)
		r := ic.cmd(fmt.Sprintf(`%s CREATE "Folder %d %s"`, name, i, strings.Repeat("x", 200)), name+" ")
		if !strings.HasPrefix(r, name+" OK") {
			if !strings.HasPrefix(r, name+" NO") {
				t.Fatalf("CREATE on a full disk: %q, want OK or NO\n%s", r, srv.Log())
			}
			dbRefusals = append(dbRefusals, r)
		}
		name = fmt.Sprintf("f%d", i)
		r = ic.cmd(fmt.Sprintf(`%s STORE 1:* +FLAGS (kw%d%s)`, name, i, strings.Repeat("k", 100)), name+" ")
		if !strings.HasPrefix(r, name+" OK") {
			if !strings.HasPrefix(r, name+" NO") {
				t.Fatalf("STORE on a full disk: %q, want OK or NO\n%s", r, srv.Log())
			}
			dbRefusals = append(dbRefusals, r)
		}
	}
	if r := smtpSend(bigMessage(n+1, 1000)); !strings.HasPrefix(r, "452 4.3.1") {
		t.Errorf("SMTP on a full disk: %q, want 452 4.3.1", r)
	}
	ic.cmd("d FETCH 1 (BODY.PEEK[])", "d OK")
	if !srv.Running() {
		t.Fatalf("server died on a full disk:\n%s", srv.Log())
	}
	t.Logf("database writes on a full disk: %d refused, e.g. %q; %d KiB free; the log mentions a full database: %v",
		len(dbRefusals), first(dbRefusals), freeBytes(mnt)>>10, srv.LogContains("disk is full") || srv.LogContains("SQLITE_FULL"))
	if len(dbRefusals) == 0 {
		t.Errorf("400 CREATEs and STOREs with 256 KiB free were all accepted: SQLITE_FULL not reached")
	}
	for _, r := range dbRefusals {
		if !strings.Contains(r, "NO [LIMIT]") {
			t.Errorf("database full: %q, want the disk-full reply NO [LIMIT]", r)
		}
	}

	// 5. Space returns (the filler goes, the filesystem grows): mail is
	// accepted again at once, and the database takes writes.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,size=64m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	for range 3 {
		n++
		if r := smtpSend(bigMessage(n, 64<<10)); !strings.HasPrefix(r, "250") {
			t.Fatalf("after space returned: %q, want 250\n%s", r, srv.Log())
		}
		acked[n] = true
	}
	n++
	msg := bigMessage(n, 10000)
	acked[n] = true
	ic.cmd(fmt.Sprintf("g APPEND INBOX {%d+}\r\n%s", len(msg), msg), "g OK")
	ic.cmd("h CREATE Recovered", "h OK")
	ic.cmd("h2 STORE 1 +FLAGS (\\Flagged)", "h2 OK")
	ic.cmd("i LOGOUT", "i OK")

	// 6. Nothing acknowledged is lost, nothing is half written.
	got := fetchSeqs(t, srv.Addr["imap"])
	for seq := range acked {
		if !got[seq] {
			t.Errorf("message %d was acknowledged and is gone", seq)
		}
	}
	srv.Stop()
	if out, err := srv.AdminErr("", "verify"); err != nil {
		t.Errorf("kantorpos verify: %v\n%s", err, out)
	} else {
		t.Logf("kantorpos verify: %s", strings.TrimSpace(out))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// fillDisk writes path until the filesystem has only leave bytes free.
func fillDisk(t *testing.T, path string, leave int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			t.Fatal(err)
		}
	}
	// The last bytes: smaller writes until nothing fits.
	for _, n := range []int{4096, 512, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(fi.Size() - leave); err != nil {
		t.Fatal(err)
	}
}

// fetchSeqs returns the X-Seq of every whole flood message in the INBOX,
// failing on any that is not what was sent.
func fetchSeqs(t *testing.T, addr string) map[int]bool {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("u@crash.test", password).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]bool{}
	for _, m := range msgs {
		body := m.FindBodySection(section)
		var seq int
		if i := bytes.Index(body, []byte("X-Seq: ")); i >= 0 {
			fmt.Sscanf(string(body[i+7:]), "%d", &seq)
		}
		want := bigMessage(seq, 0)
		// The size is not in the message: compare the stored tail from
		// the sent header on (the server prepends its own fields).
		i := bytes.Index(body, want[:bytes.Index(want, []byte("\r\n\r\n"))])
		if seq == 0 || i < 0 || !bytes.HasSuffix(body, []byte(fmt.Sprintf("END %d\r\n", seq))) {
			t.Errorf("stored message %d is not whole (%d bytes)", seq, len(body))
			continue
		}
		out[seq] = true
	}
	return out
}
