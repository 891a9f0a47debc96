package imapserver

import (
	"bytes"
	"io"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/msgmeta"
	"github.com/kantorpos/kantorpos/internal/store"
)

// cmdAppend: APPEND mailbox [flags] [date-time] literal (RFC 9051 §6.3.12,
// literal8 from RFC 3516 §4.4, APPENDLIMIT RFC 7889). Everything before
// the literal is checked first: a command we refuse never gets "+", and
// its non-synchronising literal is discarded, never run as commands. The
// literal is written to a blob and parsed in the same pass; the OK with
// APPENDUID (RFC 4315) is sent only once blob and row are durable
// (DESIGN.md "Durability").
func cmdAppend(s *session, _ string) error {
	name, err := s.spMailbox()
	if err != nil {
		return err
	}
	if err := s.r.SP(); err != nil {
		return err
	}
	var flags []string
	if s.r.Peek() == '(' {
		fl, err := s.r.Flags(true)
		if err != nil {
			return err
		}
		for _, f := range fl {
			if f == `\*` {
				return bad(`\* is not a flag`)
			}
			if !strings.EqualFold(f, `\Recent`) {
				flags = append(flags, canonicalFlag(f))
			}
		}
		if err := s.r.SP(); err != nil {
			return err
		}
	}
	var date time.Time
	if s.r.Peek() == '"' {
		if date, err = s.r.DateTime(); err != nil {
			return err
		}
		if err := s.r.SP(); err != nil {
			return err
		}
	}
	lit, err := s.r.LiteralAhead(true)
	if err != nil {
		return err
	}
	if lit.Size > int64(s.srv.cfg.AppendLimit) {
		return no("TOOBIG", "Message over the APPENDLIMIT")
	}
	mb, err := s.destination(name)
	if err != nil {
		return err
	}
	if err := s.checkQuota(lit.Size); err != nil {
		return err // before "+": the client does not send the message
	}
	if err := s.srv.blobs.CheckSpace(lit.Size); err != nil {
		return s.storeErr("append", err)
	}
	w, err := s.srv.blobs.Create(s.ctx)
	if err != nil {
		return s.storeErr("append", err)
	}
	defer w.Abort()
	lr, err := s.r.OpenLiteral()
	if err != nil {
		return err
	}
	var src io.Reader = lr
	size := lit.Size
	if lit.Binary && lit.Size <= s.srv.cfg.BinaryConvertLimit {
		// Binary content is re-encoded before it is stored (binary.go).
		b, err := io.ReadAll(io.LimitReader(lr, lit.Size))
		if rerr := s.r.Err(); rerr != nil {
			return rerr // the client went away mid-literal
		}
		if err != nil {
			return err
		}
		b = reencodeBinary(b)
		src, size = bytes.NewReader(b), int64(len(b))
	}

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
	var nul nulDetector
	dst := io.MultiWriter(w, pw, &nul)
	_, err = io.Copy(dst, src)
	pw.CloseWithError(err)
	p := <-done
	if rerr := s.r.Err(); rerr != nil {
		return rerr // the client went away mid-literal
	}
	if err != nil {
		return s.storeErr("append: write blob", err)
	}
	if err := s.r.EndLiteral(); err != nil {
		return err
	}
	if err := s.r.End(); err != nil {
		return err // (MULTIAPPEND is not offered)
	}
	if bool(nul) && !lit.Binary {
		// RFC 9051 §4.3: a literal carries no NUL; binary content comes as
		// literal8 (RFC 3516 §4.4).
		return bad("NUL in a literal: send binary content as a literal8 (~{n})")
	}
	if bool(nul) && lit.Size > s.srv.cfg.BinaryConvertLimit {
		return no("LIMIT", "Binary content with NUL over the conversion limit: send it base64-encoded")
	}
	if p.err != nil {
		return s.storeErr("append: parse", p.err)
	}
	ref, err := w.Commit(s.ctx)
	if err != nil {
		return s.storeErr("append: commit blob", err)
	}
	s.changed = s.sel != nil && s.sel.mb.ID == mb.ID
	a, err := s.srv.backend.Append(s.ctx, mb.ID, store.NewMessage{Blob: ref, Meta: p.meta, Flags: flags, InternalDate: date})
	if err != nil {
		return s.storeErr("append", err)
	}
	s.log.Info("append", "mailbox", mb.Name, "uid", a.UID, "size", lit.Size)
	return &okReply{code: "APPENDUID " + itoa32(mb.UIDValidity) + " " + itoa32(a.UID), text: "APPEND completed"}
}

// nulDetector notes whether a NUL octet went through it.
type nulDetector bool

func (n *nulDetector) Write(p []byte) (int, error) {
	if !*n && bytes.IndexByte(p, 0) >= 0 {
		*n = true
	}
	return len(p), nil
}
