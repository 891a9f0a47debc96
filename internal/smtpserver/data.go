package smtpserver

import (
	"errors"
	"io"
)

// Errors of the DATA reader.
var (
	// ErrBareLineEnding: a CR not followed by LF, or an LF not preceded by
	// CR. RFC 5321 2.3.8: CRLF is the only line terminator; accepting
	// others is what makes SMTP smuggling possible (security.md 1.1).
	ErrBareLineEnding = errors.New("smtpserver: bare CR or LF in message")
	// ErrHeaderTooLarge: the header section exceeds its bound.
	ErrHeaderTooLarge = errors.New("smtpserver: header section too large")
	// ErrNUL: a NUL byte in the content. Neither 7bit nor 8bit data may
	// hold one (RFC 2045 2.7, 2.8; RFC 6152 2); only BINARYMIME could,
	// and it is not offered. Stored, it would reach IMAP clients raw.
	ErrNUL = errors.New("smtpserver: NUL byte in message")
)

// strictReader passes message content through unchanged and fails with
// ErrBareLineEnding at the first bare CR or LF and with ErrNUL at the first
// NUL. go-smtp has already removed dot-stuffing and stopped at
// <CRLF>.<CRLF>; with BDAT the content is raw, and BINARYMIME is not
// offered, so the same rules apply.
type strictReader struct {
	r      io.Reader
	prevCR bool
	err    error
	touch  func() // called before each read (extends the data deadline)
	n      int64  // bytes passed through
	// lostCR, when set, is asked at the end of the content whether the
	// connection sent a line starting with "." and a bare CR: go-smtp's
	// DATA reader drops both bytes ("\r\n.\rX" arrives as "\r\nX"), so
	// only the raw stream shows it (cmdGuard). It counts as a bare CR.
	lostCR func() bool
}

func (s *strictReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.touch != nil {
		s.touch()
	}
	n, err := s.r.Read(p)
	for i := 0; i < n; i++ {
		c := p[i]
		if s.prevCR {
			if c != '\n' {
				return s.fail(i, ErrBareLineEnding)
			}
			s.prevCR = false
			continue
		}
		switch c {
		case '\r':
			s.prevCR = true
		case '\n':
			return s.fail(i, ErrBareLineEnding)
		case 0:
			return s.fail(i, ErrNUL)
		}
	}
	s.n += int64(n)
	if err == io.EOF && (s.prevCR || s.lostCR != nil && s.lostCR()) {
		// The content ends in a CR without LF, or go-smtp dropped one.
		s.err = ErrBareLineEnding
		return n, s.err
	}
	if err != nil {
		s.err = err
	}
	return n, err
}

// fail stops at p[i] with err: the bytes before it are good.
func (s *strictReader) fail(i int, err error) (int, error) {
	s.err = err
	s.n += int64(i)
	return i, s.err
}
