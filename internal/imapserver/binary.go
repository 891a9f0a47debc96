package imapserver

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// Binary content (RFC 3516). A message APPENDed as a literal8 may carry
// NUL octets, which no plain literal may (RFC 9051 §4.3), so BODY[] could
// not send it intact. As RFC 3516 §4.3 allows, the server re-encodes such
// content: at APPEND, every part whose content has a NUL is stored
// base64-encoded (Content-Transfer-Encoding: base64), so BODY[],
// RFC822.SIZE and BODYSTRUCTURE all describe a valid MIME message, and
// BINARY[part] decodes it back to the exact octets that were sent.

// maxBinaryDepth bounds the nesting the re-encoder follows.
const maxBinaryDepth = 32

// reencodeBinary returns msg with every part whose content holds a NUL
// base64-encoded; msg itself if nothing needed it.
func reencodeBinary(msg []byte) []byte {
	if bytes.IndexByte(msg, 0) < 0 {
		return msg
	}
	r := bytes.NewReader(msg)
	e := parseEntity(r, 0, int64(len(msg)))
	return reencodeEntity(msg, r, e, 0)
}

func reencodeEntity(msg []byte, r *bytes.Reader, e entity, depth int) []byte {
	body := msg[e.body:e.end]
	if bytes.IndexByte(body, 0) < 0 || depth > maxBinaryDepth {
		return msg[e.start:e.end]
	}
	switch {
	case e.multipart():
		out := append([]byte(nil), msg[e.start:e.body]...)
		pos := e.body
		for _, kid := range children(r, e, maxParts) {
			out = append(out, msg[pos:kid.start]...)
			out = append(out, reencodeEntity(msg, r, kid, depth+1)...)
			pos = kid.end
		}
		return append(out, msg[pos:e.end]...)
	case e.message():
		// The message inside: its own parts are re-encoded.
		out := append([]byte(nil), msg[e.start:e.body]...)
		return append(out, reencodeEntity(msg, r, parseEntity(r, e.body, e.end), depth+1)...)
	}
	switch e.encoding {
	case "", "7bit", "8bit", "binary":
	default:
		return msg[e.start:e.end] // already encoded: not ours to decode
	}
	var out []byte
	for _, f := range headerFields(msg[e.start:e.body]) {
		if !strings.EqualFold(f.name, "Content-Transfer-Encoding") {
			out = append(out, f.raw...)
		}
	}
	out = append(out, "Content-Transfer-Encoding: base64\r\n\r\n"...)
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(body)))
	base64.StdEncoding.Encode(enc, body)
	for len(enc) > 0 {
		n := min(len(enc), 76) // RFC 2045 §6.8: lines of at most 76 characters
		out = append(out, enc[:n]...)
		enc = enc[n:]
		if len(enc) > 0 || e.end == int64(len(msg)) {
			out = append(out, "\r\n"...)
		}
	}
	return out
}
