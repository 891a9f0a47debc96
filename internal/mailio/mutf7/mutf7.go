// Package mutf7 encodes and decodes IMAP's modified UTF-7 (RFC 3501
// 5.1.3), the spelling of non-ASCII mailbox names on the IMAP wire and in
// Maildir++ folder directory names.
package mutf7

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// enc is base64 with "," instead of "/" and no padding.
var enc = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// Encode returns s in modified UTF-7.
func Encode(s string) string {
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		buf := make([]byte, 2*len(u))
		for i, c := range u {
			buf[2*i], buf[2*i+1] = byte(c>>8), byte(c)
		}
		b.WriteByte('&')
		b.WriteString(enc.EncodeToString(buf))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}

// ErrInvalid is returned for text that is not modified UTF-7.
var ErrInvalid = errors.New("mutf7: invalid modified UTF-7")

// Decode returns the UTF-8 text of a modified UTF-7 string.
func Decode(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", ErrInvalid
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", ErrInvalid
		}
		chunk := s[i+1 : i+1+end]
		i += end + 1
		if chunk == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := enc.DecodeString(chunk)
		if err != nil || len(raw)%2 != 0 {
			return "", ErrInvalid
		}
		u := make([]uint16, len(raw)/2)
		for j := range u {
			u[j] = uint16(raw[2*j])<<8 | uint16(raw[2*j+1])
		}
		for _, r := range utf16.Decode(u) {
			// RFC 3501 says printable ASCII is never encoded; we accept it
			// (Maildir++ names spell a dot inside a component "&AC4-").
			if r == utf8.RuneError {
				return "", ErrInvalid
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}
