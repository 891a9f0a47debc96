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
)

// strictReader passes message content through unchanged and fails with
// ErrBareLineEnding at the first bare CR or LF. go-smtp has already
// removed dot-stuffing and stopped at <CRLF>.<CRLF>; with BDAT the content is
// raw, and BINARYMIME is not offered, so the same rule applies.
type strictReader struct {
	r      io.Reader
	prevCR bool
	err    error
	touch  func() // called before each read (extends the data deadline)
	n      int64  // bytes passed through
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
				return s.fail(i)
			}
			s.prevCR = false
			continue
		}
		switch c {
		case '\r':
			s.prevCR = true
		case '\n':
			return s.fail(i)
		}
	}
	s.n += int64(n)
	if err == io.EOF && s.prevCR {
		// The content ends in a CR without LF.
		s.err = ErrBareLineEnding
		return n, s.err
	}
	if err != nil {
		s.err = err
	}
	return n, err
}

// fail stops at p[i]: the bytes before it are good.
func (s *strictReader) fail(i int) (int, error) {
	s.err = ErrBareLineEnding
	s.n += int64(i)
	return i, s.err
}
