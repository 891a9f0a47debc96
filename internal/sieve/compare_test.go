package sieve

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/testutil"
)

// The envelope both interpreters see.
const (
	cmpFrom = "ann+lists@example.org"
	cmpRcpt = "bob+work@example.com"
)

// TestCompareWithPigeonhole runs every script of testdata/compare with our
// interpreter and with Dovecot Pigeonhole's sieve-test on the same message
// and envelope, and compares the actions.
func TestCompareWithPigeonhole(t *testing.T) {
	bin := testutil.NeedCommand(t, "sieve-test", "dovecot-sieve")
	// sieve-test runs as nobody when we are root, and writes .svbin files
	// next to the scripts: a directory of its own that nobody can enter
	// (t.TempDir's parent is private).
	dir, err := os.MkdirTemp("", "sieve-compare-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	mail := filepath.Join(dir, "mail")
	os.Mkdir(mail, 0o777)
	conf := "mail_location = maildir:" + mail + "\nmail_home = " + mail + "\n" +
		"plugin {\n  sieve_extensions = +vacation-seconds\n}\n"
	if os.Getuid() == 0 {
		conf = "mail_uid = 65534\nmail_gid = 65534\n" + conf
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	confPath := write("dovecot.conf", []byte(conf))
	raw, err := os.ReadFile("testdata/compare/message.eml")
	if err != nil {
		t.Fatal(err)
	}
	msgPath := write("message.eml", raw)
	scripts, _ := filepath.Glob("testdata/compare/*.sieve")
	if len(scripts) < 20 {
		t.Fatalf("only %d scripts", len(scripts))
	}
	for _, path := range scripts {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".sieve"), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-c", confPath, "-f", cmpFrom, "-r", cmpRcpt, "-a", cmpRcpt,
				write(name, src), msgPath).CombinedOutput()
			if err != nil {
				t.Fatalf("sieve-test: %v\n%s", err, out)
			}
			theirs := pigeonholeActions(string(out))
			ours := ourActions(t, string(src), raw)
			t.Logf("%q", ours)
			if !slices.Equal(theirs, ours) {
				t.Fatalf("actions differ:\nsieve-test: %q\nours:       %q\n%s", theirs, ours, out)
			}
		})
	}
}

// pigeonholeActions reads sieve-test's "Performed actions" and "Implicit
// keep" sections into sorted, normalised actions.
func pigeonholeActions(out string) []string {
	var acts []string
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		var flags []string
		for i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "+ add IMAP flags:") {
			flags = append(flags, strings.Fields(strings.TrimPrefix(strings.TrimSpace(lines[i+1]), "+ add IMAP flags:"))...)
			i++
		}
		switch {
		case strings.HasPrefix(l, "* store message in folder: "), strings.HasPrefix(l, "store message in folder: "):
			acts = append(acts, normAction(fileAction(l[strings.Index(l, ": ")+2:]), flags))
		case strings.HasPrefix(l, "* redirect message to: "):
			acts = append(acts, "redirect:"+strings.Trim(strings.TrimPrefix(l, "* redirect message to: "), "<>"))
		case strings.HasPrefix(l, "* reject message"):
			acts = append(acts, "reject")
		case l == "* discard":
			acts = append(acts, "discard")
		case strings.HasPrefix(l, "* send vacation message"):
			acts = append(acts, "vacation")
		}
	}
	slices.Sort(acts)
	return slices.Compact(acts)
}

func fileAction(folder string) string {
	if strings.EqualFold(folder, "INBOX") {
		return "keep"
	}
	return "fileinto:" + folder
}

func normAction(a string, flags []string) string {
	if len(flags) == 0 {
		return a
	}
	for i := range flags {
		flags[i] = strings.ToLower(flags[i])
	}
	slices.Sort(flags)
	return a + "[" + strings.Join(flags, " ") + "]"
}

func ourActions(t *testing.T, src string, raw []byte) []string {
	t.Helper()
	s, err := Parse(src)
	if err != nil {
		t.Fatalf("our parser: %v", err)
	}
	msg, err := NewMessage(strings.NewReader(string(raw)), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), msg, Env{Envelope: Envelope{From: cmpFrom, To: cmpRcpt}, Now: time.Now()})
	if err != nil {
		t.Fatalf("our run: %v", err)
	}
	var acts []string
	for _, a := range res.Actions {
		var s string
		switch a.Kind {
		case ActKeep:
			s = "keep"
		case ActFileInto:
			s = fileAction(a.Mailbox)
		case ActRedirect:
			s = "redirect:" + a.Addr
		case ActDiscard:
			s = "discard"
		case ActReject:
			s = "reject"
		case ActVacation:
			s = "vacation"
		}
		acts = append(acts, normAction(s, append([]string(nil), a.Flags...)))
	}
	slices.Sort(acts)
	return slices.Compact(acts)
}
