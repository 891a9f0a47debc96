package imapwire

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzReader feeds arbitrary input to the parser, reading each command as
// a handler would (arguments of several kinds, APPEND's literal opened or
// refused) and refusing it at some point. Properties: no panic; every
// round makes progress or ends; a reader that reports a fatal error stays
// failed; a command line that follows a discarded one in the input is
// read as a command (resynchronisation).
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"a LOGIN {4+}\r\nuser pw\r\n",
		"a APPEND INBOX (\\Seen) \"30-Feb-2020 00:00:00 +0000\" {12+}\r\nb DELETE Junk\r\n",
		"a FETCH 1:*,$ (BODY.PEEK[1.HEADER.FIELDS (A)]<0.1> BINARY[2])\r\n",
		"a SEARCH OR NOT (FROM {1}\r\nx) SINCE 1-Jan-2020 UID 1:*\r\n",
		"a SELECT ~{3}\r\nabc\r\n",
		"a {5-}\r\nhello\r\n",
		"a X " + strings.Repeat("(", 50) + "\r\n",
	} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, in string, mode uint8) {
		tm := time.AfterFunc(3*time.Second, func() { panic(fmt.Sprintf("HANG on %q", in)) })
		defer tm.Stop()
		r := NewReader(bufio.NewReader(strings.NewReader(in)), Limits{MaxLine: 256, MaxLiteral: 64, MaxCommand: 1024, MaxDiscard: 512})
		for round := 0; round < 1000; round++ {
			_, name, err := r.Begin()
			if errors.Is(err, ErrFatal) || r.Err() != nil {
				if _, _, err2 := r.Begin(); err2 == nil {
					t.Fatal("reader usable after a fatal error")
				}
				return
			}
			if err == nil {
				err = handle(r, name, mode)
			}
			if err != nil {
				if derr := r.Discard(); derr != nil {
					if r.Err() == nil {
						t.Fatalf("Discard failed (%v) without a fatal state", derr)
					}
					return
				}
			}
		}
	})
}

// handle reads arguments the way the command name suggests.
func handle(r *Reader, name string, mode uint8) error {
	for !r.AtEnd() {
		if err := r.SP(); err != nil {
			return err
		}
		var err error
		switch {
		case name == "FETCH":
			if _, err = r.SeqSet(); err == nil && r.SP() == nil {
				_, err = r.FetchAtts()
			}
		case name == "SEARCH":
			_, err = r.SearchKeys()
		case name == "APPEND" && r.Peek() == '{' || r.Peek() == '~':
			if _, err = r.LiteralAhead(true); err != nil {
				return err
			}
			if mode%2 == 1 {
				return Bad("refused")
			}
			lr, err := r.OpenLiteral()
			if err != nil {
				return err
			}
			buf := make([]byte, 7)
			for {
				if _, err := lr.Read(buf); err != nil {
					break
				}
			}
			if r.Err() != nil {
				return r.Err()
			}
			err = r.EndLiteral()
		case r.Peek() == '(':
			_, err = r.Flags(true)
		default:
			_, err = r.AString()
		}
		if err != nil {
			return err
		}
	}
	return r.End()
}

// FuzzReaderResync: input without literals (no line ends in "}"), each
// line refused at some point of its parsing, then "zz NOOP": the reader
// must come back in step and read zz NOOP as a command of its own, or
// report a fatal error (a line over its limits).
func FuzzReaderResync(f *testing.F) {
	for _, s := range []string{"a LOGIN x y", "a FETCH 1:* (BODY[HEADER.FIELDS (A B)])\r\nb SEARCH OR", "\r\n\r\n", "a X (((", "* BAD"} {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in string, stop uint8) {
		in = strings.ReplaceAll(in, "}", "")
		r := NewReader(bufio.NewReader(strings.NewReader(in+"\r\nzz NOOP\r\n")), Limits{MaxLine: 256, MaxDiscard: 512})
		for round := 0; round < 10000; round++ {
			tag, name, err := r.Begin()
			if r.Err() != nil {
				if errors.Is(r.Err(), ErrFatal) {
					return
				}
				t.Fatalf("reached %v before zz NOOP", r.Err())
			}
			if tag == "zz" && name == "NOOP" && err == nil {
				if !r.AtEnd() {
					t.Fatal("zz NOOP read with something after it")
				}
				return
			}
			// Parse a few arguments, then refuse.
			for i := 0; err == nil && i < int(stop%8); i++ {
				if err = r.SP(); err == nil {
					_, err = r.AString()
				}
			}
			if derr := r.Discard(); derr != nil {
				if errors.Is(derr, ErrFatal) {
					return
				}
				t.Fatalf("Discard: %v", derr)
			}
		}
		t.Fatal("zz NOOP never read")
	})
}
