package imapserver

import (
	"bufio"
	"bytes"
	"io"
	"slices"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/kantorpos/kantorpos/internal/msgmeta"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Fetch implements imapserver.Session. FLAGS, UID, INTERNALDATE,
// RFC822.SIZE, ENVELOPE and BODYSTRUCTURE come from the message rows and
// the metadata cached at delivery, in batches of FetchBatch messages per
// query; only BODY[...] and BINARY[...] open the message. A non-PEEK body
// section sets \Seen (unless the mailbox was EXAMINEd) and the new FLAGS are
// returned with it (RFC 9051 6.4.5).
func (s *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, opts *imap.FetchOptions) (rerr error) {
	defer s.enter()()
	refs := s.resolve(numSet)
	if len(refs) > 1 {
		uncork := s.tc.cork()
		defer func() {
			if err := uncork(); err != nil && rerr == nil {
				rerr = err
			}
		}()
	}
	needMeta := opts.Envelope || opts.BodyStructure != nil
	if len(opts.BodySection) > 0 {
		bp := getBuf(&s.srv.headerBufs, 8<<10)
		s.scratch = *bp
		defer func() { s.scratch = nil; s.srv.headerBufs.Put(bp) }()
	}
	markSeen := false
	if !s.sel.readOnly {
		for _, bs := range opts.BodySection {
			markSeen = markSeen || !bs.Peek
		}
		for _, bs := range opts.BinarySection {
			markSeen = markSeen || !bs.Peek
		}
	}
	mbID := s.sel.mb.ID
	var failed error
	for start := 0; start < len(refs); start += s.srv.cfg.FetchBatch {
		part := refs[start:min(start+s.srv.cfg.FetchBatch, len(refs))]
		msgs, err := s.srv.backend.FetchMessages(s.ctx, mbID, uidSetOf(refUIDs(part)), store.FetchOptions{Meta: needMeta})
		if err != nil {
			return s.storeErr("fetch", err)
		}
		byUID := make(map[uint32]*store.Message, len(msgs))
		for i := range msgs {
			byUID[msgs[i].UID] = &msgs[i]
		}
		seenNow := map[uint32]bool{}
		if markSeen {
			var unseen []uint32
			for _, m := range msgs {
				if !hasFlag(m.Flags, store.FlagSeen) {
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
					if m := byUID[st.UID]; m != nil {
						m.Flags, seenNow[st.UID] = st.Flags, true
					}
				}
			}
		}
		for _, r := range part {
			m := byUID[r.uid]
			if m == nil {
				continue // expunged meanwhile
			}
			if err := s.fetchOne(w, r.seq, m, opts, seenNow[r.uid]); err != nil {
				if _, isWrite := err.(writeError); isWrite {
					return err
				}
				failed = err
			}
		}
	}
	if failed != nil {
		return s.storeErr("fetch", failed)
	}
	return nil
}

// writeError is a failure to write to the client: the connection is gone.
type writeError struct{ error }

// fetchOne writes one FETCH response. A message that cannot be read still
// gets a well-formed response (empty sections); the error is returned for
// the tagged reply.
func (s *session) fetchOne(w *imapserver.FetchWriter, seq uint32, m *store.Message, opts *imap.FetchOptions, seenNow bool) error {
	rw := w.CreateMessage(seq)
	if opts.UID {
		rw.WriteUID(imap.UID(m.UID))
	}
	if opts.Flags || seenNow {
		rw.WriteFlags(toIMAPFlags(m.Flags))
	}
	if opts.InternalDate {
		rw.WriteInternalDate(m.InternalDate)
	}
	if opts.RFC822Size {
		rw.WriteRFC822Size(m.Size)
	}
	var failed error
	if opts.Envelope || opts.BodyStructure != nil {
		env, bs, err := s.structure(m, opts.Envelope, opts.BodyStructure != nil)
		if err != nil {
			failed = err
			env, bs = &msgmeta.Envelope{}, &msgmeta.Part{Type: "text", Subtype: "plain"}
		}
		if opts.Envelope {
			rw.WriteEnvelope(toEnvelope(env))
		}
		if opts.BodyStructure != nil {
			rw.WriteBodyStructure(toBodyStructure(bs))
		}
	}
	if len(opts.BodySection) > 0 || len(opts.BinarySection) > 0 || len(opts.BinarySectionSize) > 0 {
		var c store.Content
		c, err := s.srv.backend.OpenMessage(s.ctx, m)
		if err != nil {
			failed = err
		} else {
			defer c.Close()
		}
		for _, sec := range opts.BodySection {
			var r io.Reader = bytes.NewReader(nil)
			var n int64
			if c != nil {
				r, n = bodySection(c, sec, &s.scratch)
			}
			if err := s.copyLiteral(rw.WriteBodySection(sec, n), r, n); err != nil {
				return writeError{err}
			}
		}
		for _, sec := range opts.BinarySection {
			var b []byte
			if c != nil {
				b = imapserver.ExtractBinarySection(io.NewSectionReader(c, 0, c.Size()), sec)
			}
			if err := s.copyLiteral(rw.WriteBinarySection(sec, int64(len(b))), bytes.NewReader(b), int64(len(b))); err != nil {
				return writeError{err}
			}
		}
		for _, sec := range opts.BinarySectionSize {
			var n uint32
			if c != nil {
				n = imapserver.ExtractBinarySectionSize(io.NewSectionReader(c, 0, c.Size()), sec)
			}
			rw.WriteBinarySectionSize(sec, n)
		}
	}
	if err := rw.Close(); err != nil {
		return writeError{err}
	}
	return failed
}

// getBuf takes a buffer of size bytes from p.
func getBuf(p *sync.Pool, size int) *[]byte {
	if bp, ok := p.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, size)
	return &b
}

// copyLiteral copies n bytes of r into a literal through one of the
// server's buffers (io.CopyN would allocate 32 KiB for every message).
func (s *session) copyLiteral(wc io.WriteCloser, r io.Reader, n int64) error {
	var err error
	var copied int64
	if br, ok := r.(*bytes.Reader); ok && int64(br.Len()) == n {
		copied, err = br.WriteTo(wc)
	} else {
		bp := getBuf(&s.srv.copyBufs, 32<<10)
		copied, err = io.CopyBuffer(wc, io.LimitReader(r, n), *bp)
		s.srv.copyBufs.Put(bp)
	}
	if err == nil && copied < n {
		err = io.ErrUnexpectedEOF // the literal's announced size cannot be kept
	}
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}

// bodySection returns a BODY[...] section. The whole message, its header
// and its text are read straight from the store at offsets; anything else
// (parts, header fields) goes through the wire library's extractor.
//
// scratch is the session's buffer for the start of the message: a header
// section that fits is served from it.
func bodySection(c store.Content, sec *imap.FetchItemBodySection, scratch *[]byte) (io.Reader, int64) {
	size := c.Size()
	if len(sec.Part) == 0 && len(sec.HeaderFields) == 0 && len(sec.HeaderFieldsNot) == 0 {
		var off, n int64
		switch sec.Specifier {
		case imap.PartSpecifierNone:
			off, n = 0, size
		case imap.PartSpecifierHeader:
			var head []byte
			n, head = headerEnd(c, scratch)
			if head != nil && sec.Partial == nil {
				return bytes.NewReader(head), n
			}
		case imap.PartSpecifierText:
			h, _ := headerEnd(c, scratch)
			off, n = h, size-h
		default:
			return bytes.NewReader(nil), 0
		}
		if p := sec.Partial; p != nil {
			if p.Offset >= n {
				return bytes.NewReader(nil), 0
			}
			off += p.Offset
			n = min(p.Size, n-p.Offset)
		}
		return io.NewSectionReader(c, off, n), n
	}
	b := imapserver.ExtractBodySection(io.NewSectionReader(c, 0, size), sec)
	return bytes.NewReader(b), int64(len(b))
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

func hasFlag(flags []string, f string) bool { return slices.Contains(flags, f) }

// toEnvelope converts a cached envelope for the wire library.
func toEnvelope(e *msgmeta.Envelope) *imap.Envelope {
	if e == nil {
		return &imap.Envelope{}
	}
	return &imap.Envelope{
		Date: e.Date, Subject: e.Subject,
		From: toAddrs(e.From), Sender: toAddrs(e.Sender), ReplyTo: toAddrs(e.ReplyTo),
		To: toAddrs(e.To), Cc: toAddrs(e.Cc), Bcc: toAddrs(e.Bcc),
		InReplyTo: e.InReplyTo, MessageID: e.MessageID,
	}
}

func toAddrs(l []msgmeta.Address) []imap.Address {
	if len(l) == 0 {
		return nil
	}
	out := make([]imap.Address, len(l))
	for i, a := range l {
		out[i] = imap.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host}
	}
	return out
}

// toBodyStructure converts a cached MIME structure (depth-capped by
// msgmeta) for the wire library, always with extension data.
func toBodyStructure(p *msgmeta.Part) imap.BodyStructure {
	var disp *imap.BodyStructureDisposition
	if p.Disposition != "" {
		disp = &imap.BodyStructureDisposition{Value: p.Disposition, Params: p.DispositionParams}
	}
	if p.IsMultipart() {
		mp := &imap.BodyStructureMultiPart{Subtype: p.Subtype, Extended: &imap.BodyStructureMultiPartExt{
			Params: p.Params, Disposition: disp, Language: p.Language, Location: p.Location}}
		for _, c := range p.Children {
			mp.Children = append(mp.Children, toBodyStructure(c))
		}
		if len(mp.Children) == 0 {
			mp.Children = []imap.BodyStructure{toBodyStructure(&msgmeta.Part{Type: "text", Subtype: "plain"})}
		}
		return mp
	}
	sp := &imap.BodyStructureSinglePart{
		Type: p.Type, Subtype: p.Subtype, Params: p.Params, ID: p.ID, Description: p.Description,
		Encoding: p.Encoding, Size: p.Size,
		Extended: &imap.BodyStructureSinglePartExt{Disposition: disp, Language: p.Language, Location: p.Location},
	}
	switch {
	case p.Type == "message" && p.Envelope != nil && p.Body != nil:
		sp.MessageRFC822 = &imap.BodyStructureMessageRFC822{Envelope: toEnvelope(p.Envelope), BodyStructure: toBodyStructure(p.Body), NumLines: p.Lines}
	case p.Type == "text":
		sp.Text = &imap.BodyStructureText{NumLines: p.Lines}
	}
	return sp
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
