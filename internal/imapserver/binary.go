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
// BINARY[] (the whole message) is the message with every part decoded and
// marked Content-Transfer-Encoding: binary (decodeMessage), so a message
// sent whole as binary comes back as it was sent.

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
	return transcode(msg, r, e, 0, encodeLeaf)
}

// decodeMessage is BINARY[]: msg with every base64 or quoted-printable
// part decoded (RFC 3516 §4.2); a part that does not decode stays as it is.
func decodeMessage(msg []byte) []byte {
	r := bytes.NewReader(msg)
	e := parseEntity(r, 0, int64(len(msg)))
	return transcode(msg, r, e, 0, decodeLeaf)
}

// transcode rebuilds entity e of msg with leaf applied to every leaf part
// (nil from leaf: the part as it is).
func transcode(msg []byte, r *bytes.Reader, e entity, depth int, leaf func(msg []byte, e entity) []byte) []byte {
	if depth > maxBinaryDepth {
		return msg[e.start:e.end]
	}
	switch {
	case e.multipart():
		out := append([]byte(nil), msg[e.start:e.body]...)
		pos := e.body
		for _, kid := range children(r, e, maxParts) {
			out = append(out, msg[pos:kid.start]...)
			out = append(out, transcode(msg, r, kid, depth+1, leaf)...)
			pos = kid.end
		}
		return append(out, msg[pos:e.end]...)
	case e.message():
		// The message inside: its own parts.
		out := append([]byte(nil), msg[e.start:e.body]...)
		return append(out, transcode(msg, r, parseEntity(r, e.body, e.end), depth+1, leaf)...)
	}
	if b := leaf(msg, e); b != nil {
		return b
	}
	return msg[e.start:e.end]
}

// headerWithCTE is e's header with its Content-Transfer-Encoding replaced
// by cte, and the blank line that ends it.
func headerWithCTE(msg []byte, e entity, cte string) []byte {
	var out []byte
	for _, f := range headerFields(msg[e.start:e.body]) {
		if !strings.EqualFold(f.name, "Content-Transfer-Encoding") {
			out = append(out, f.raw...)
		}
	}
	return append(out, "Content-Transfer-Encoding: "+cte+"\r\n\r\n"...)
}

// decodeLeaf decodes a base64 or quoted-printable part.
func decodeLeaf(msg []byte, e entity) []byte {
	if e.encoding != "base64" && e.encoding != "quoted-printable" {
		return nil
	}
	dec, err := binarySection(bytes.NewReader(msg[e.start:e.end]), e.end-e.start, []uint32{1}, e.end-e.start+1)
	if err != nil {
		return nil
	}
	return append(headerWithCTE(msg, e, "binary"), dec...)
}

// encodeLeaf base64-encodes a part whose content has a NUL.
func encodeLeaf(msg []byte, e entity) []byte {
	body := msg[e.body:e.end]
	if bytes.IndexByte(body, 0) < 0 {
		return nil
	}
	switch e.encoding {
	case "", "7bit", "8bit", "binary":
	default:
		return nil // already encoded: not ours to decode
	}
	out := headerWithCTE(msg, e, "base64")
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
