package imapserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"sync"

	"github.com/kantorpos/kantorpos/internal/imapserver/imapwire"
	"github.com/kantorpos/kantorpos/internal/msgmeta"
	"github.com/kantorpos/kantorpos/internal/store"
)

func cmdFetch(s *session, _ string) error    { return s.fetch(false) }
func cmdUIDFetch(s *session, _ string) error { return s.fetch(true) }

// fetch runs FETCH (RFC 9051 §6.4.5). FLAGS, UID, INTERNALDATE,
// RFC822.SIZE, ENVELOPE and BODYSTRUCTURE come from the message rows and
// the metadata cached at delivery, in batches of FetchBatch messages per
// query; only body sections open the message. A non-PEEK body section
// sets \Seen (unless the mailbox was EXAMINEd) and the new FLAGS are
// returned with it.
func (s *session) fetch(byUID bool) error {
	if err := s.r.SP(); err != nil {
		return err
	}
	set, err := s.r.SeqSet()
	if err != nil {
		return err
	}
	if err := s.r.SP(); err != nil {
		return err
	}
	atts, err := s.r.FetchAtts()
	if err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err
	}
	if byUID && !slices.ContainsFunc(atts, func(a imapwire.FetchAtt) bool { return a.Name == "UID" }) {
		atts = append([]imapwire.FetchAtt{{Name: "UID"}}, atts...)
	}
	needMeta, body, markSeen := false, false, false
	for _, a := range atts {
		switch a.Name {
		case "ENVELOPE", "BODYSTRUCTURE":
			needMeta = true
		case "BODY":
			needMeta = needMeta || a.Section == nil
			body = body || a.Section != nil
			markSeen = markSeen || a.Section != nil && !a.Peek
		case "BINARY", "BINARY.SIZE", "RFC822.HEADER":
			body = true
			markSeen = markSeen || a.Name == "BINARY" && !a.Peek
		case "RFC822", "RFC822.TEXT":
			body, markSeen = true, true
		}
	}
	markSeen = markSeen && !s.sel.readOnly
	if body {
		bp := getBuf(&s.srv.headerBufs, 8<<10)
		s.scratch = *bp
		defer func() { s.scratch = nil; s.srv.headerBufs.Put(bp) }()
	}
	s.announceKeywords()
	refs := s.resolve(set, byUID)
	mbID := s.sel.mb.ID
	var failed error
	for start := 0; start < len(refs); start += s.srv.cfg.FetchBatch {
		part := refs[start:min(start+s.srv.cfg.FetchBatch, len(refs))]
		msgs, err := s.srv.backend.FetchMessages(s.ctx, mbID, uidSetOf(refUIDs(part)), store.FetchOptions{Meta: needMeta})
		if err != nil {
			return s.storeErr("fetch", err)
		}
		byUIDs := make(map[uint32]*store.Message, len(msgs))
		for i := range msgs {
			byUIDs[msgs[i].UID] = &msgs[i]
		}
		seenNow := map[uint32]bool{}
		if markSeen {
			var unseen []uint32
			for _, m := range msgs {
				if !slices.Contains(m.Flags, store.FlagSeen) {
					unseen = append(unseen, m.UID)
				}
			}
			if len(unseen) > 0 {
				states, err := s.changeFlags(unseen, func() ([]store.MessageState, error) {
					return s.srv.backend.UpdateFlags(s.ctx, mbID, uidSetOf(unseen), store.FlagsAdd, []string{store.FlagSeen})
				})
				if err != nil {
					return s.storeErr("fetch: set \\Seen", err)
				}
				for _, st := range states {
					if m := byUIDs[st.UID]; m != nil {
						m.Flags, seenNow[st.UID] = st.Flags, true
					}
				}
				s.sel.view.flushMailboxFlags(s.w)
			}
		}
		for _, r := range part {
			m := byUIDs[r.uid]
			if m == nil {
				continue // expunged meanwhile
			}
			if err := s.fetchOne(r.seq, m, atts, seenNow[r.uid]); err != nil {
				var werr writeError
				if errors.As(err, &werr) {
					return errConnGone
				}
				failed = err
			}
		}
	}
	if failed != nil {
		if errors.Is(failed, errUnknownCTE) {
			return no("UNKNOWN-CTE", "Cannot decode the part's content-transfer-encoding")
		}
		return s.storeErr("fetch", failed)
	}
	return nil
}

// writeError is a failure to write to the client: the connection is gone.
type writeError struct{ error }

// fetchOne writes one FETCH response. A message that cannot be read still
// gets a well-formed response (empty sections); the error is returned for
// the tagged reply.
func (s *session) fetchOne(seq uint32, m *store.Message, atts []imapwire.FetchAtt, seenNow bool) error {
	w := s.w
	w.Raw("* ").Number(uint64(seq)).Raw(" FETCH (")
	var failed error
	var content store.Content
	defer func() {
		if content != nil {
			content.Close()
		}
	}()
	open := func() store.Content {
		if content == nil && failed == nil {
			c, err := s.srv.backend.OpenMessage(s.ctx, m)
			if err != nil {
				failed = err
				return nil
			}
			content = c
		}
		return content
	}
	var env *msgmeta.Envelope
	var bs *msgmeta.Part
	structure := func(wantEnv bool) {
		if env != nil || bs != nil {
			return
		}
		var err error
		env, bs, err = s.structure(m, true, true)
		if err != nil {
			failed = err
			env, bs = &msgmeta.Envelope{}, &msgmeta.Part{Type: "text", Subtype: "plain"}
		}
	}
	flagsDone := false
	for i, a := range atts {
		if i > 0 {
			w.SP()
		}
		switch a.Name {
		case "UID":
			w.Raw("UID ").Number(uint64(m.UID))
		case "FLAGS":
			w.Raw("FLAGS ")
			writeFlags(w, s.sel.view.flagsOf(m.UID, m.Flags))
			flagsDone = true
		case "INTERNALDATE":
			w.Raw("INTERNALDATE ").DateTime(m.InternalDate)
		case "RFC822.SIZE":
			w.Raw("RFC822.SIZE ").Number(uint64(m.Size))
		case "ENVELOPE":
			structure(true)
			w.Raw("ENVELOPE ")
			s.writeEnvelope(env)
		case "BODYSTRUCTURE":
			structure(false)
			w.Raw("BODYSTRUCTURE ")
			s.writeBodyStructure(bs, true, 0)
		case "RFC822", "RFC822.HEADER", "RFC822.TEXT":
			sec := &imapwire.Section{}
			switch a.Name {
			case "RFC822.HEADER":
				sec.Spec = "HEADER"
			case "RFC822.TEXT":
				sec.Spec = "TEXT"
			}
			w.Raw(a.Name).SP()
			if err := s.writeSection(open(), sec, nil); err != nil {
				return writeError{err}
			}
		case "BODY":
			if a.Section == nil {
				structure(false)
				w.Raw("BODY ")
				s.writeBodyStructure(bs, false, 0)
				continue
			}
			w.Raw("BODY[").Raw(a.Section.String()).Byte(']')
			if a.Partial != nil {
				w.Byte('<').Number(uint64(a.Partial.Offset)).Byte('>')
			}
			w.SP()
			if err := s.writeSection(open(), a.Section, a.Partial); err != nil {
				return writeError{err}
			}
		case "BINARY", "BINARY.SIZE":
			var b []byte
			if c := open(); c != nil {
				var err error
				b, err = binarySection(c, c.Size(), a.Section.Part, int64(s.srv.cfg.AppendLimit)+1)
				if err != nil && !errors.Is(err, errNoPart) {
					failed = err
				}
			}
			if a.Name == "BINARY.SIZE" {
				w.Raw("BINARY.SIZE[").Raw(a.Section.String()).Raw("] ").Number(uint64(len(b)))
				continue
			}
			if p := a.Partial; p != nil {
				b = b[min(int(p.Offset), len(b)):]
				b = b[:min(int(p.Count), len(b))]
			}
			w.Raw("BINARY[").Raw(a.Section.String()).Byte(']')
			if a.Partial != nil {
				w.Byte('<').Number(uint64(a.Partial.Offset)).Byte('>')
			}
			w.SP()
			var err error
			if bytes.IndexByte(b, 0) >= 0 {
				err = w.Literal8(bytes.NewReader(b), int64(len(b)))
			} else {
				err = w.Literal(bytes.NewReader(b), int64(len(b)))
			}
			if err != nil {
				return writeError{err}
			}
		}
	}
	if seenNow && !flagsDone {
		w.Raw(" FLAGS ")
		writeFlags(w, s.sel.view.flagsOf(m.UID, m.Flags))
	}
	w.Raw(")\r\n")
	if err := w.Err(); err != nil {
		return writeError{err}
	}
	return failed
}

// writeSection writes a BODY section as a literal, streamed from the
// store; a missing part is an empty string.
func (s *session) writeSection(c store.Content, sec *imapwire.Section, partial *imapwire.Partial) error {
	if c == nil {
		return s.w.Literal(bytes.NewReader(nil), 0)
	}
	size := c.Size()
	var off, n int64
	var built []byte
	var err error
	switch {
	case len(sec.Part) == 0 && sec.Spec == "HEADER":
		var head []byte
		n, head = headerEnd(c, &s.scratch)
		built = head
	case len(sec.Part) == 0 && sec.Spec == "TEXT":
		h, _ := headerEnd(c, &s.scratch)
		off, n = h, size-h
	case len(sec.Part) == 0 && sec.Spec == "":
		off, n = 0, size
	default:
		off, n, built, err = sectionRange(c, size, sec)
		if err != nil {
			off, n, built = 0, 0, nil
		}
	}
	if partial != nil {
		po := min(int64(partial.Offset), n)
		off, n = off+po, min(int64(partial.Count), n-po)
		if built != nil {
			built = built[po : po+n]
		}
	}
	var r io.Reader = io.NewSectionReader(c, off, n)
	if built != nil {
		r = bytes.NewReader(built)
	}
	return s.w.Literal(r, n)
}

// getBuf takes a buffer of size bytes from p.
func getBuf(p *sync.Pool, size int) *[]byte {
	if bp, ok := p.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, size)
	return &b
}

// headerEnd is the offset just past the blank line that ends the header
// section (the whole message when there is none).
// When the header section lies within the first 8 KiB (most do), they are
// read into *scratch and head is the section, valid until the next call.
func headerEnd(c store.Content, scratch *[]byte) (end int64, head []byte) {
	if len(*scratch) == 0 {
		*scratch = make([]byte, 8<<10)
	}
	buf := *scratch
	n, _ := c.ReadAt(buf, 0)
	if e, ok := blankLine(buf[:n]); ok {
		return int64(e), buf[:e]
	}
	if int64(n) >= c.Size() {
		return c.Size(), buf[:n]
	}
	br := bufio.NewReader(io.NewSectionReader(c, 0, c.Size()))
	var off int64
	for {
		line, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			off += int64(len(line))
			line, err = br.ReadSlice('\n')
		}
		off += int64(len(line))
		if string(line) == "\r\n" || string(line) == "\n" {
			return off, nil
		}
		if err != nil {
			return c.Size(), nil
		}
	}
}

// structure returns a message's envelope and MIME structure from the
// cache, or parses the message (and refreshes the cache) when the cache is
// missing or outdated.
func (s *session) structure(m *store.Message, wantEnv, wantBS bool) (env *msgmeta.Envelope, bs *msgmeta.Part, err error) {
	if m.Meta != nil {
		var err1, err2 error
		if wantEnv {
			env, err1 = msgmeta.DecodeEnvelope(m.Meta.Envelope)
		}
		if wantBS {
			bs, err2 = msgmeta.DecodeBodyStructure(m.Meta.BodyStructure)
		}
		if err1 == nil && err2 == nil {
			return env, bs, nil
		}
	}
	c, err := s.srv.backend.OpenMessage(s.ctx, m)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	// The cache belongs to the blob: parse it without the per-recipient prefix.
	blobPart := io.NewSectionReader(c, int64(len(m.Prefix)), c.Size()-int64(len(m.Prefix)))
	l := s.srv.cfg.Parse
	l.MaxParse = max(l.MaxParse, blobPart.Size()+1)
	meta, err := msgmeta.Parse(blobPart, l)
	if err != nil {
		return nil, nil, err
	}
	if err := s.srv.backend.SetMeta(s.ctx, m.Blob.Hash, meta); err != nil {
		s.log.Warn("fetch: refresh metadata cache", "err", err)
	}
	env, err1 := msgmeta.DecodeEnvelope(meta.Envelope)
	bs, err2 := msgmeta.DecodeBodyStructure(meta.BodyStructure)
	if err1 != nil || err2 != nil {
		return nil, nil, msgmeta.ErrNoCache
	}
	return env, bs, nil
}

// blankLine finds the end of the header section in b (just past the empty
// line, CRLF or LF) when b holds it.
func blankLine(b []byte) (int, bool) {
	if bytes.HasPrefix(b, []byte("\r\n")) {
		return 2, true
	}
	if bytes.HasPrefix(b, []byte("\n")) {
		return 1, true
	}
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0, false
		}
		i += j + 1
		switch {
		case bytes.HasPrefix(b[i:], []byte("\r\n")):
			return i + 2, true
		case bytes.HasPrefix(b[i:], []byte("\n")):
			return i + 1, true
		case len(b)-i < 2:
			// "\r" or nothing after the last LF: the next read decides.
			return 0, false
		}
	}
}
