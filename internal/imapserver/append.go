package imapserver

import (
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/kantorpos/kantorpos/internal/msgmeta"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Append implements imapserver.Session. The literal (at most AppendLimit
// bytes, enforced by the wire library before it says "+") is written to a
// blob and parsed in the same pass; the OK with APPENDUID (RFC 4315) is
// sent only once blob and row are durable (DESIGN.md "Durability").
func (s *session) Append(mailbox string, r imap.LiteralReader, opts *imap.AppendOptions) (*imap.AppendData, error) {
	defer s.enter()()
	mb, err := s.destination(mailbox)
	if err != nil {
		return nil, err
	}
	size := r.Size()
	if err := s.srv.blobs.CheckSpace(size); err != nil {
		return nil, s.storeErr("append", err)
	}
	w, err := s.srv.blobs.Create(s.ctx)
	if err != nil {
		return nil, s.storeErr("append", err)
	}
	defer w.Abort()

	// Parse while writing: the parser reads a pipe fed by the copy.
	pr, pw := io.Pipe()
	type parsed struct {
		meta *store.MessageMeta
		err  error
	}
	done := make(chan parsed, 1)
	go func() {
		l := s.srv.cfg.Parse
		l.MaxParse = max(l.MaxParse, size+1)
		meta, err := msgmeta.Parse(pr, l)
		io.Copy(io.Discard, pr) // whatever the parser left
		done <- parsed{meta, err}
	}()
	n, err := io.Copy(io.MultiWriter(w, pw), io.LimitReader(r, size))
	pw.CloseWithError(err)
	p := <-done
	if err != nil {
		return nil, s.storeErr("append: write blob", err)
	}
	if n != size {
		return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Short literal"}
	}
	if p.err != nil {
		return nil, s.storeErr("append: parse", p.err)
	}
	ref, err := w.Commit(s.ctx)
	if err != nil {
		return nil, s.storeErr("append: commit blob", err)
	}
	var flags []string
	for _, f := range opts.Flags {
		if !strings.EqualFold(string(f), `\Recent`) {
			flags = append(flags, canonicalFlag(string(f)))
		}
	}
	a, err := s.srv.backend.Append(s.ctx, mb.ID, store.NewMessage{Blob: ref, Meta: p.meta, Flags: flags, InternalDate: opts.Time})
	if err != nil {
		return nil, s.storeErr("append", err)
	}
	s.log.Info("append", "mailbox", mb.Name, "uid", a.UID, "size", size)
	if s.sel != nil && s.sel.mb.ID == mb.ID {
		if err := s.sel.box.sync(s.ctx, nil); err != nil {
			s.log.Warn("sync after append", "err", err)
		}
	}
	return &imap.AppendData{UID: imap.UID(a.UID), UIDValidity: mb.UIDValidity}, nil
}
