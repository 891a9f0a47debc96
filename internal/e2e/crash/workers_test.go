package crash

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
)

// load holds what the workers share.
type load struct {
	ctl  *controller
	led  *ledger
	addr map[string]string
	seq  atomic.Int64
}

func (l *load) nextSeq(worker string) string {
	size := 500 + rand.IntN(6000)
	if rand.IntN(10) == 0 {
		size = 64<<10 + rand.IntN(192<<10) // some big ones: kills land inside DATA
	}
	return fmt.Sprintf("%s-%d-%d", worker, l.seq.Add(1), size)
}

const password = "crash test password"

// smtpWorker sends messages over one connection after another: on the MX
// to a local account (where "mx1", "mx2" or "pop"), or through submission
// to a remote recipient (where "sink"). A message goes into the ledger
// only after the 250 to its final dot.
func (l *load) smtpWorker(ctx context.Context, name, where string) {
	addr, user, from, rcpt := l.addr["smtp"], "", "a@ext.test", where+"@crash.test"
	if where == "sink" {
		addr, user, from, rcpt = l.addr["submission"], "sender@crash.test", "sender@crash.test", "r@sink.test"
	}
	for ctx.Err() == nil {
		gen, _ := l.ctl.state()
		err := func() error {
			w, err := smtpOpen(addr, user, password)
			if err != nil {
				return err
			}
			defer w.close()
			for i := 0; i < 20 && ctx.Err() == nil; i++ {
				seq := l.nextSeq(name)
				msg := dotStuff(message(seq))
				if err := w.smtpCmd("MAIL FROM:<"+from+">", 250); err != nil {
					return err
				}
				if err := w.smtpCmd("RCPT TO:<"+rcpt+">", 250); err != nil {
					return err
				}
				if err := w.smtpCmd("DATA", 354); err != nil {
					return err
				}
				half := len(msg) / 2
				if err := w.send(string(msg[:half])); err != nil {
					return err
				}
				if where != "sink" {
					l.ctl.hit("smtp-mid")
				}
				if err := w.send(string(msg[half:]) + ".\r\n"); err != nil {
					return err
				}
				if where != "sink" {
					l.ctl.hit("smtp-dot")
				}
				code, text, err := w.smtpReply()
				if err != nil {
					return err
				}
				if code != 250 {
					return fmt.Errorf("DATA: %s", text)
				}
				l.led.ack(seq, where)
			}
			return w.smtpCmd("QUIT", 221)
		}()
		if err != nil && !l.ctl.failed(ctx, gen, name, err) {
			return
		}
	}
}

var appendUID = regexp.MustCompile(`\[APPENDUID \d+ (\d+)\]`)

// appendWorker APPENDs to ap@crash.test's INBOX with LITERAL+; a message
// goes into the ledger (with its UID) only after the tagged OK.
func (l *load) appendWorker(ctx context.Context, name string) {
	for ctx.Err() == nil {
		gen, _ := l.ctl.state()
		err := func() error {
			w, err := dialWire(l.addr["imap"])
			if err != nil {
				return err
			}
			defer w.close()
			if _, err := w.line(); err != nil {
				return err
			}
			if err := w.send(`l LOGIN ap@crash.test "` + password + `"` + "\r\n"); err != nil {
				return err
			}
			if r, err := w.imapTagged("l"); err != nil || !strings.HasPrefix(r, "l OK") {
				return fmt.Errorf("LOGIN: %q %v", r, err)
			}
			for i := 0; i < 50 && ctx.Err() == nil; i++ {
				seq := l.nextSeq(name)
				msg := message(seq)
				tag := fmt.Sprintf("a%d", i)
				half := len(msg) / 2
				if err := w.send(fmt.Sprintf("%s APPEND INBOX {%d+}\r\n%s", tag, len(msg), msg[:half])); err != nil {
					return err
				}
				l.ctl.hit("append-mid")
				if err := w.send(string(msg[half:]) + "\r\n"); err != nil {
					return err
				}
				l.ctl.hit("append-end")
				r, err := w.imapTagged(tag)
				if err != nil {
					return err
				}
				if !strings.HasPrefix(r, tag+" OK") {
					return fmt.Errorf("APPEND: %s", r)
				}
				m := appendUID.FindStringSubmatch(r)
				if m == nil {
					return fmt.Errorf("APPEND OK without APPENDUID: %s", r)
				}
				uid, _ := strconv.ParseUint(m[1], 10, 32)
				l.led.mu.Lock()
				if prev, dup := l.led.appendUID[uint32(uid)]; dup {
					l.led.bad = append(l.led.bad, fmt.Sprintf("APPENDUID %d given to %s and to %s", uid, prev, seq))
				}
				l.led.appendUID[uint32(uid)] = seq
				l.led.acked[seq] = "ap"
				l.led.mu.Unlock()
			}
			w.send("z LOGOUT\r\n")
			return nil
		}()
		if err != nil && !l.ctl.failed(ctx, gen, name, err) {
			return
		}
	}
}

// pop3Worker empties pop@crash.test's maildrop a few messages at a time.
// At each login it checks the RFC 1939 promise: what an interrupted
// session (no QUIT) marked deleted is still there, and what an
// acknowledged QUIT deleted never comes back.
func (l *load) pop3Worker(ctx context.Context) {
	for ctx.Err() == nil {
		gen, _ := l.ctl.state()
		mail := l.led.popMailSignal()
		empty := false
		var deleted []string
		quitSent := false
		err := func() error {
			w, err := dialWire(l.addr["pop3"])
			if err != nil {
				return err
			}
			defer w.close()
			if _, ok, err := w.pop3Status(); err != nil || !ok {
				return fmt.Errorf("greeting: %v", err)
			}
			if _, err := w.pop3Cmd("USER pop@crash.test"); err != nil {
				return err
			}
			if _, err := w.pop3Cmd("PASS " + password); err != nil {
				return err
			}
			if _, err := w.pop3Cmd("UIDL"); err != nil {
				return err
			}
			body, err := w.pop3Multi()
			if err != nil {
				return err
			}
			type entry struct{ n, uidl string }
			var list []entry
			present := map[string]bool{}
			for _, ln := range strings.Split(strings.TrimSpace(string(body)), "\r\n") {
				if f := strings.Fields(ln); len(f) == 2 {
					list = append(list, entry{f[0], f[1]})
					present[f[1]] = true
				}
			}
			l.led.mu.Lock()
			for u := range l.led.popMustExist {
				if !present[u] {
					l.led.bad = append(l.led.bad, fmt.Sprintf("POP3: message %s, marked deleted in a session killed before QUIT, is gone", u))
				}
				delete(l.led.popMustExist, u)
			}
			for u := range present {
				if l.led.popGone[u] {
					l.led.bad = append(l.led.bad, fmt.Sprintf("POP3: message %s, deleted by an acknowledged QUIT, is back", u))
				}
			}
			l.led.mu.Unlock()
			empty = len(list) == 0
			// Read and check up to 5 messages, then mark them deleted.
			for i, e := range list {
				if i == 5 {
					break
				}
				if _, err := w.pop3Cmd("RETR " + e.n); err != nil {
					return err
				}
				m, err := w.pop3Multi()
				if err != nil {
					return err
				}
				seq, cerr := checkStored(m)
				if cerr != nil {
					l.led.badMessage("POP3 RETR: " + cerr.Error())
				}
				l.led.mu.Lock()
				l.led.popSeen[seq] = true
				l.led.mu.Unlock()
				if _, err := w.pop3Cmd("DELE " + e.n); err != nil {
					return err
				}
				deleted = append(deleted, e.uidl)
			}
			l.ctl.hit("pop3-dele")
			if err := w.send("QUIT\r\n"); err != nil {
				return err
			}
			quitSent = true
			l.ctl.hit("pop3-quit")
			r, ok, err := w.pop3Status()
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("QUIT: %s", r)
			}
			l.led.mu.Lock()
			for _, u := range deleted {
				l.led.popGone[u] = true
			}
			l.led.mu.Unlock()
			return nil
		}()
		if err == nil && empty {
			// Nothing to do: wait for new mail instead of logging in again.
			select {
			case <-mail:
			case <-ctx.Done():
				return
			}
		}
		if err != nil {
			if !quitSent {
				l.led.mu.Lock()
				for _, u := range deleted {
					l.led.popMustExist[u] = true
				}
				l.led.mu.Unlock()
			}
			if !l.ctl.failed(ctx, gen, "pop3", err) {
				return
			}
		}
	}
}
