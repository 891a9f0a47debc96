package pop3server

import (
	"context"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/auth"
)

// newUnitSession returns a session over a fakeConn, in state st (in
// TRANSACTION with alice's maildrop of two messages).
func newUnitSession(t *testing.T, st state) (*session, *fakeConn, *memBackend) {
	t.Helper()
	b := newMemBackend()
	b.add(1, "Subject: one\r\n\r\nbody one\r\n")
	b.add(1, "Subject: two\r\n\r\nbody two\r\n")
	srv := &Server{Backend: b, Auth: newTestAuth(t, auth.LimiterConfig{}, testUsers), Config: Config{AllowInsecureAuth: true}}
	srv.init()
	fc := &fakeConn{in: strings.NewReader("")}
	s := newSession(srv, fc, localIP, 1)
	s.state = st
	switch st {
	case stateUser:
		s.user = "alice@example.test"
	case stateTransaction:
		d, err := openMaildrop(context.Background(), b, auth.Identity{AccountID: 1, Address: "alice@example.test"})
		if err != nil {
			t.Fatal(err)
		}
		s.drop = d
	}
	return s, fc, b
}

// TestCommandTable runs every verb in every state and checks the table
// decides: legal commands run, the others are refused before running.
func TestCommandTable(t *testing.T) {
	t.Parallel()
	const (
		run     = "run"
		illegal = "-ERR Command not valid in this state"
		unknown = "-ERR Unknown command"
	)
	lines := map[string]string{
		"CAPA": "CAPA", "STLS": "STLS", "USER": "USER alice@example.test", "PASS": "PASS alice-pw",
		"AUTH": "AUTH", "QUIT": "QUIT", "STAT": "STAT", "LIST": "LIST", "UIDL": "UIDL 1",
		"RETR": "RETR 1", "TOP": "TOP 1 0", "DELE": "DELE 1", "NOOP": "NOOP", "RSET": "RSET",
		"APOP": "APOP alice@example.test c4c9334bac560ecc979e58001b3e22fb", "XTND": "XTND XMIT", "LAST": "LAST",
	}
	want := map[state]map[string]string{
		stateAuthorization: {
			"CAPA": run, "STLS": run, "USER": run, "PASS": illegal, "AUTH": run, "QUIT": run,
			"STAT": illegal, "LIST": illegal, "UIDL": illegal, "RETR": illegal, "TOP": illegal,
			"DELE": illegal, "NOOP": illegal, "RSET": illegal, "APOP": unknown, "XTND": unknown, "LAST": unknown,
		},
		stateUser: {
			"CAPA": run, "STLS": illegal, "USER": run, "PASS": run, "AUTH": illegal, "QUIT": run,
			"STAT": illegal, "LIST": illegal, "UIDL": illegal, "RETR": illegal, "TOP": illegal,
			"DELE": illegal, "NOOP": illegal, "RSET": illegal, "APOP": unknown, "XTND": unknown, "LAST": unknown,
		},
		stateTransaction: {
			"CAPA": run, "STLS": illegal, "USER": illegal, "PASS": illegal, "AUTH": illegal, "QUIT": run,
			"STAT": run, "LIST": run, "UIDL": run, "RETR": run, "TOP": run,
			"DELE": run, "NOOP": run, "RSET": run, "APOP": unknown, "XTND": unknown, "LAST": unknown,
		},
		stateUpdate: {
			"CAPA": illegal, "STLS": illegal, "USER": illegal, "PASS": illegal, "AUTH": illegal, "QUIT": illegal,
			"STAT": illegal, "LIST": illegal, "UIDL": illegal, "RETR": illegal, "TOP": illegal,
			"DELE": illegal, "NOOP": illegal, "RSET": illegal, "APOP": unknown, "XTND": unknown, "LAST": unknown,
		},
	}
	for st, row := range want {
		for verb, w := range row {
			t.Run(st.String()+"/"+verb, func(t *testing.T) {
				t.Parallel()
				for _, line := range []string{lines[verb], strings.ToLower(lines[verb])} {
					s, fc, _ := newUnitSession(t, st)
					s.dispatch(line)
					s.bw.Flush()
					got := fc.out.String()
					if w == run {
						if strings.HasPrefix(got, illegal) || strings.HasPrefix(got, unknown) || strings.HasPrefix(got, "-ERR Syntax") {
							t.Errorf("%q in %v: got %q, want it run", line, st, got)
						}
					} else if !strings.HasPrefix(got, w+"\r\n") {
						t.Errorf("%q in %v: got %q, want %q", line, st, got, w)
					}
				}
			})
		}
	}
}

// TestCommandArgs checks argument counts and number parsing.
func TestCommandArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		st   state
		line string
		want string
	}{
		{stateAuthorization, "USER", "-ERR Syntax error"},
		{stateAuthorization, "CAPA x", "-ERR Syntax error"},
		{stateAuthorization, "AUTH PLAIN x y", "-ERR Syntax error"},
		{stateAuthorization, "AUTH CRAM-MD5", "-ERR Unsupported authentication mechanism"},
		{stateAuthorization, "USER a\x00b", "-ERR Invalid characters in command"},
		{stateAuthorization, "", "-ERR Unknown command"},
		{stateUser, "PASS", "-ERR Syntax error"},
		{stateTransaction, "RETR", "-ERR Syntax error"},
		{stateTransaction, "RETR 1 2", "-ERR Syntax error"},
		{stateTransaction, "RETR 0", "-ERR No such message"},
		{stateTransaction, "RETR 3", "-ERR No such message"},
		{stateTransaction, "RETR +1", "-ERR No such message"},
		{stateTransaction, "RETR -1", "-ERR No such message"},
		{stateTransaction, "RETR 1x", "-ERR No such message"},
		{stateTransaction, "RETR 99999999999999999999", "-ERR No such message"},
		{stateTransaction, "LIST 2", "+OK 2 26"},
		{stateTransaction, "LIST 1 2", "-ERR Syntax error"},
		{stateTransaction, "TOP 1", "-ERR Syntax error"},
		{stateTransaction, "TOP 1 -1", "-ERR Invalid number of lines"},
		{stateTransaction, "TOP 1 x", "-ERR Invalid number of lines"},
		{stateTransaction, "TOP 1 99999999999999", "+OK Top of message follows"},
		{stateTransaction, "LIST 0002", "+OK 2 26"},
		{stateTransaction, "STAT", "+OK 2 52"},
		{stateTransaction, "STAT 1", "-ERR Syntax error"},
		{stateTransaction, "UIDL 2", "+OK 2 000000026553F101"},
		{stateTransaction, "NOOP", "+OK\r\n"},
		{stateTransaction, "DELE 1", "+OK Message 1 deleted"},
	}
	for _, tt := range tests {
		s, fc, _ := newUnitSession(t, tt.st)
		s.dispatch(tt.line)
		s.bw.Flush()
		if got := fc.out.String(); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%v %q: got %q, want %q", tt.st, tt.line, got, tt.want)
		}
	}
}

// TestDeleteMarksOnly: DELE, RSET and a second DELE change nothing in the
// store; only QUIT from TRANSACTION deletes, in one call.
func TestDeleteMarksOnly(t *testing.T) {
	t.Parallel()
	s, fc, b := newUnitSession(t, stateTransaction)
	for _, l := range []string{"DELE 1", "DELE 1", "RETR 1", "LIST 1", "RSET", "DELE 2", "STAT"} {
		if err := s.dispatch(l); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	s.bw.Flush()
	want := []string{"+OK Message 1 deleted", "-ERR Message already deleted", "-ERR Message already deleted",
		"-ERR Message already deleted", "+OK Maildrop has 2 messages (52 octets)", "+OK Message 2 deleted", "+OK 1 26"}
	if got := strings.Split(strings.TrimSuffix(fc.out.String(), "\r\n"), "\r\n"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if b.deleteCalls() != 0 || len(b.uids(1)) != 2 {
		t.Fatal("deleted before QUIT")
	}
	if err := s.dispatch("QUIT"); err != errCloseConn {
		t.Fatalf("QUIT = %v", err)
	}
	if b.deleteCalls() != 1 || len(b.uids(1)) != 1 || b.uids(1)[0] != 1 {
		t.Fatalf("after QUIT: %d calls, uids %v", b.deleteCalls(), b.uids(1))
	}
	if b.locked(1) {
		t.Fatal("lock held after QUIT")
	}
}
