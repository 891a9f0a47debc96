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
