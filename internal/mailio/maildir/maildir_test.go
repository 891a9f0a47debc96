package maildir

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseName(t *testing.T) {
	t.Parallel()
	kw := []string{"$Label1", "work", "", "urgent"}
	for _, c := range []struct {
		name    string
		base    string
		size    int64
		vsize   int64
		letters string
		flags   []string
	}{
		{"1700000000.M1P2Q3.host,S=1234,W=1260:2,FRS", "1700000000.M1P2Q3.host", 1234, 1260, "FRS",
			[]string{`\Flagged`, `\Answered`, `\Seen`}},
		{"1700000000.M1P2Q3.host:2,DT", "1700000000.M1P2Q3.host", -1, -1, "DT", []string{`\Draft`, `\Deleted`}},
		{"1700000000.M1P2Q3.host,S=10:2,Sabd", "1700000000.M1P2Q3.host", 10, -1, "Sabd", []string{`\Seen`, "$Label1", "work", "urgent"}},
		{"1700000000.M1P2Q3.host:2,SPSx", "1700000000.M1P2Q3.host", -1, -1, "PSx", []string{Forwarded, `\Seen`}},
		{"1700000000.M1P2Q3.host", "1700000000.M1P2Q3.host", -1, -1, "", nil},
		{"odd,name,X=1:2,", "odd,name,X=1", -1, -1, "", nil},
		{"win!2,S", "win", -1, -1, "S", []string{`\Seen`}},
	} {
		n := ParseName(c.name)
		if n.Base != c.base || n.Size != c.size || n.VSize != c.vsize || n.Letters != c.letters {
			t.Errorf("ParseName(%q) = %+v", c.name, n)
		}
		if got := n.Flags(kw); !reflect.DeepEqual(got, c.flags) {
			t.Errorf("flags of %q = %q, want %q", c.name, got, c.flags)
		}
	}
}

func TestLettersAndFormat(t *testing.T) {
	t.Parallel()
	kw := &Keywords{Names: []string{"work"}}
	letters, dropped := Letters([]string{`\Seen`, `\Flagged`, "urgent", "Work", `\Recent`, Forwarded}, kw)
	if letters != "FPSab" || dropped != nil || !reflect.DeepEqual(kw.Names, []string{"work", "urgent"}) {
		t.Fatalf("letters %q dropped %q keywords %q", letters, dropped, kw.Names)
	}
	name := FormatName("base", 10, 12, letters)
	if name != "base,S=10,W=12:2,FPSab" {
		t.Fatal(name)
	}
	n := ParseName(name)
	if !reflect.DeepEqual(n.Flags(kw.Names), []string{`\Flagged`, Forwarded, `\Seen`, "work", "urgent"}) {
		t.Fatalf("round trip: %q", n.Flags(kw.Names))
	}
	full := &Keywords{}
	for i := range MaxKeywords {
		full.Letter(strings.Repeat("k", i+1))
	}
	if _, dropped := Letters([]string{"one-too-many"}, full); len(dropped) != 1 {
		t.Fatal("27th keyword not dropped")
	}
}

func TestFolderNames(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ dir, name string }{
		{"", "INBOX"},
		{".Sent", "Sent"},
		{".Work.Sub", "Work/Sub"},
		{".Entw&APw-rfe", "Entwürfe"},
		{".a&AC4-b.c", "a.b/c"},
		{".INBOX.Lists", "INBOX/Lists"},
	} {
		got, err := FolderName(c.dir)
		if err != nil || got != c.name {
			t.Errorf("FolderName(%q) = %q, %v", c.dir, got, err)
		}
		if c.dir != ".INBOX.Lists" {
			if back := DirName(c.name); back != c.dir {
				t.Errorf("DirName(%q) = %q, want %q", c.name, back, c.dir)
			}
		}
	}
	for _, bad := range []string{"..", ".a..b", ".&Jjo", "cur", "..."} {
		if _, err := FolderName(bad); err == nil {
			t.Errorf("FolderName(%q) accepted", bad)
		}
	}
}

func TestWriteAndScan(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	date := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, folder := range []string{"INBOX", "Work/Sub"} {
		w, err := CreateFolder(root, folder)
		if err != nil {
			t.Fatal(err)
		}
		for i, flags := range [][]string{{`\Seen`}, {"todo", `\Flagged`}} {
			if _, err := w.Write("m"+string(rune('1'+i)), strings.NewReader("Subject: x\r\n\r\nbody\r\n"), flags, date); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	folders, err := Folders(root)
	if err != nil || len(folders) != 2 || folders[0].Name != "INBOX" || folders[1].Name != "Work/Sub" {
		t.Fatalf("folders: %+v %v", folders, err)
	}
	if _, err := os.Stat(filepath.Join(root, ".Work.Sub", "maildirfolder")); err != nil {
		t.Fatal(err)
	}
	kw, _ := ReadKeywords(folders[1].Dir)
	msgs, err := Messages(folders[1].Dir)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("messages: %+v %v", msgs, err)
	}
	if !msgs[1].ModTime.Equal(date) || msgs[1].Name.Size != 20 ||
		!reflect.DeepEqual(msgs[1].Name.Flags(kw.Names), []string{`\Flagged`, "todo"}) {
		t.Fatalf("message: %+v (keywords %q)", msgs[1], kw.Names)
	}
}

func TestUIDListOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o700)
	}
	os.WriteFile(filepath.Join(dir, "cur", "b,S=1:2,S"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "cur", "a:2,"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "new", "c"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "dovecot-uidlist"), []byte("3 V1 N3 Gabc\n1 :b,S=1:2,S\n2 W5 :a:2,\n"), 0o600)
	msgs, err := Messages(dir)
	if err != nil || len(msgs) != 3 || msgs[0].Name.Base != "b" || msgs[1].Name.Base != "a" || msgs[2].Name.Base != "c" || !msgs[2].New {
		t.Fatalf("%+v %v", msgs, err)
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"1700000000.M1P2Q3.host,S=1234,W=1260:2,FRS", "x:2,", "x", "a,S=-1,W=x:2,Sabc", "a!2,T", ":2,:2,S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := ParseName(s)
		for i := 1; i < len(n.Letters); i++ {
			if n.Letters[i-1] >= n.Letters[i] {
				t.Fatalf("letters of %q not sorted and unique: %q", s, n.Letters)
			}
		}
		flags := n.Flags([]string{"k0", "k1"})
		kw := &Keywords{Names: []string{"k0", "k1"}}
		letters, _ := Letters(flags, kw)
		// Letters that mean something survive a round trip.
		m := ParseName(FormatName("b", 1, 1, letters))
		if !reflect.DeepEqual(m.Flags(kw.Names), flags) {
			t.Fatalf("%q: flags %q, round trip %q", s, flags, m.Flags(kw.Names))
		}
		if n.HasInfo && !strings.Contains(s, "2,") {
			t.Fatalf("%q: info without 2,", s)
		}
	})
}

func FuzzFolderName(f *testing.F) {
	for _, s := range []string{".Work.Sub", ".Entw&APw-rfe", ".a&AC4-b", "..", ".x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := FolderName(s)
		if err != nil {
			return
		}
		back, err := FolderName(DirName(name))
		if err != nil || back != name {
			t.Fatalf("%q → %q → %q → %q, %v", s, name, DirName(name), back, err)
		}
	})
}
