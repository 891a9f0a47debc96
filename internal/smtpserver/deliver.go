package smtpserver

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/mailaddr"
	"github.com/kantorpos/kantorpos/internal/store"
)

// spooled is a message durable in the blob store, not yet delivered.
type spooled struct {
	ref        store.BlobRef
	fromDomain string // of the From header (submission)
}

// data receives the content of one transaction and delivers it.
func (s *session) data(r io.Reader) error {
	tx := s.tx
	if tx == nil || len(tx.local) == 0 && len(tx.remote) == 0 {
		return errNoValidRcpts
	}
	now := s.srv.clk.Now()
	sr := &strictReader{r: r, touch: s.touchData}
	msg, err := s.spool(tx, sr, now)
	if err != nil {
		return s.rejected(tx, sr.n, err)
	}
	d, err := s.buildDelivery(tx, msg, now)
	if err != nil {
		return s.rejected(tx, msg.ref.Size, err)
	}
	res, err := s.srv.deps.Deliverer.Deliver(s.ctx, d)
	if err != nil {
		return s.rejected(tx, msg.ref.Size, fmt.Errorf("deliver: %w", err))
	}
	s.log.Info("event", "event", "received", "tx", tx.id, "from", sanitize(tx.from),
		"rcpts", sanitize(strings.Join(tx.rcpts, ",")), "size", msg.ref.Size, "blob", msg.ref.Hash[:16],
		"local", len(res.Local), "queued", len(res.QueueIDs))
	// go-smtp sends a *SMTPError's code as is: this is our 250 with the id.
	return reply(250, 2, 0, 0, "OK id="+tx.id)
}

// rejected logs the refusal of a message and returns the reply for err.
func (s *session) rejected(tx *transaction, size int64, err error) error {
	r := replyFor(err)
	if r == errBareLineEnd || r.Code == 421 {
		s.c.closeAfterReply()
	}
	lvl := "info"
	if r.Code/100 == 4 {
		lvl = "warn"
	}
	attrs := []any{"event", "rejected", "tx", tx.id, "from", sanitize(tx.from),
		"rcpts", sanitize(strings.Join(tx.rcpts, ",")), "size", size, "code", r.Code, "reason", err.Error()}
	if lvl == "warn" {
		s.log.Warn("event", attrs...)
	} else {
		s.log.Info("event", attrs...)
	}
	return r
}

// replyFor maps an error of the DATA path to the client's reply.
func replyFor(err error) *smtp.SMTPError {
	var r *smtp.SMTPError
	switch {
	case errors.As(err, &r):
		return r
	case errors.Is(err, ErrBareLineEnding):
		return errBareLineEnd
	case errors.Is(err, ErrHeaderTooLarge):
		return errHeaderTooBig
	case blob.IsNoSpace(err):
		return errNoStorage
	case errors.Is(err, store.ErrQuotaExceeded):
		return errQuota
	case errors.Is(err, smtp.ErrDataReset), errors.Is(err, io.ErrUnexpectedEOF):
		return errUnavailable // the client is gone; nobody reads this
	}
	return errUnavailable
}

// spool reads the message, checks its header section and writes it, with
// our header fields in front, into a new blob.
func (s *session) spool(tx *transaction, sr *strictReader, now time.Time) (*spooled, error) {
	cfg := s.srv.cfg
	br := bufio.NewReaderSize(sr, 32<<10)
	hdr, err := readHeader(br, cfg.MaxHeaderSize)
	if err != nil {
		return nil, err
	}
	if deps := s.srv.deps; deps.HeaderFilter != nil && !s.submission() {
		hdr = deps.HeaderFilter(hdr)
	}
	info := inspectHeader(parseFields(hdr))
	// RFC 5321 6.3: stop mail loops.
	if info.received > cfg.MaxReceived {
		return nil, fmt.Errorf("%d Received fields: %w", info.received, errMailLoop)
	}
	msg := &spooled{}
	var extra []byte
	if s.submission() {
		addrs, ok := fromAddresses(info.from)
		if !ok {
			return nil, errNoFrom
		}
		for _, a := range addrs {
			pa, err := mailaddr.Parse(a)
			if err != nil {
				return nil, errNoFrom
			}
			own, err := s.owns(pa)
			if err != nil {
				return nil, fmt.Errorf("from check: %w", err)
			}
			if !own {
				return nil, fmt.Errorf("From %s: %w", a, errFromNotOwn)
			}
			if msg.fromDomain == "" {
				msg.fromDomain = pa.Domain
			}
		}
		// RFC 6409 8.2, 8.3: the MSA may add Date and Message-ID.
		if !info.date {
			extra = append(extra, "Date: "+now.Format(time.RFC1123Z)+"\r\n"...)
		}
		if !info.messageID {
			extra = append(extra, "Message-ID: <"+newMessageID()+"@"+cfg.Hostname+">\r\n"...)
		}
	}
	if err := s.srv.deps.Blobs.CheckSpace(cfg.MaxMessageSize); err != nil && blob.IsNoSpace(err) {
		return nil, err
	}
	w, err := s.srv.deps.Blobs.Create(s.ctx)
	if err != nil {
		return nil, fmt.Errorf("blob create: %w", err)
	}
	defer w.Abort() // no-op after Commit
	ri := receivedInfo{helo: s.helo, ip: s.c.ip, hostname: cfg.Hostname, tls: s.tls, id: tx.id, at: now}
	if s.identity != nil {
		ri.user = s.identity.Address
	}
	if len(tx.rcpts) == 1 {
		ri.rcpt = tx.rcpts[0]
	}
	for _, part := range [][]byte{receivedHeader(ri), extra, hdr} {
		if _, err := w.Write(part); err != nil {
			return nil, fmt.Errorf("blob write: %w", err)
		}
	}
	// The body is streamed, never held in memory. go-smtp enforces the
	// SIZE limit (552 5.3.4) on what it reads.
	if _, err := io.Copy(w, br); err != nil {
		return nil, err
	}
	ref, err := w.Commit(s.ctx)
	if err != nil {
		return nil, fmt.Errorf("blob commit: %w", err)
	}
	msg.ref = ref
	return msg, nil
}

// buildDelivery runs the hooks and assembles the one store.Delivery.
func (s *session) buildDelivery(tx *transaction, msg *spooled, now time.Time) (*store.Delivery, error) {
	deps := s.srv.deps
	d := &store.Delivery{Blob: msg.ref, ReceivedAt: now, From: tx.from}
	meta, err := s.parseMeta(msg.ref)
	if err != nil {
		s.log.Warn("metadata", "err", err) // delivered without metadata
	}
	d.Meta = meta
	var verdict Verdict
	if deps.Inbound != nil && !s.submission() {
		v, err := s.checkInbound(tx, msg)
		if err != nil {
			return nil, fmt.Errorf("inbound check: %w: %w", err, errCheckTemp)
		}
		switch v.Action {
		case Reject:
			return nil, withText(errCheckReject, v.Reply)
		case TempFail:
			return nil, withText(errCheckTemp, v.Reply)
		}
		verdict = v
	}
	returnPath := "Return-Path: <" + tx.from + ">\r\n" // RFC 5321 4.4
	for _, l := range tx.local {
		prefix := returnPath + "Delivered-To: " + l.target.Address + "\r\n" // RFC 9228
		ld := store.LocalDelivery{AccountID: l.target.Account.ID, Prefix: append([]byte(prefix), verdict.Header...),
			Rcpt: l.target.Address}
		if verdict.Action == Junk {
			ld.SpecialUse = store.SpecialJunk
		}
		d.Local = append(d.Local, ld)
	}
	if len(tx.remote) > 0 {
		out := &store.Outbound{
			From:     tx.from,
			Rcpts:    tx.remote,
			RET:      string(tx.opts.Return),
			EnvID:    tx.opts.EnvelopeID,
			SMTPUTF8: tx.opts.UTF8,
			Body8Bit: tx.opts.Body == smtp.Body8BitMIME,
		}
		if s.identity != nil {
			out.AccountID = s.identity.AccountID
			if deps.Signer != nil {
				p, err := s.sign(tx, msg)
				if err != nil {
					return nil, fmt.Errorf("sign: %w", err)
				}
				out.Prefix = p
			}
		}
		d.Remote = out
	}
	return d, nil
}

func (s *session) parseMeta(ref store.BlobRef) (*store.MessageMeta, error) {
	r, err := s.srv.deps.Blobs.Open(s.ctx, ref.Hash)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return s.srv.deps.Meta(r)
}

func (s *session) checkInbound(tx *transaction, msg *spooled) (Verdict, error) {
	r, err := s.srv.deps.Blobs.Open(s.ctx, msg.ref.Hash)
	if err != nil {
		return Verdict{}, err
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.cfg.DataTimeout)
	defer cancel()
	return s.srv.deps.Inbound.CheckInbound(ctx, &Inbound{
		ConnID: s.c.id, RemoteIP: s.c.ip, HELO: s.helo, TLS: s.tls,
		MailFrom: tx.from, Rcpts: tx.rcpts, Blob: msg.ref, Message: r,
	})
}

func (s *session) sign(tx *transaction, msg *spooled) ([]byte, error) {
	r, err := s.srv.deps.Blobs.Open(s.ctx, msg.ref.Hash)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return s.srv.deps.Signer.Sign(s.ctx, &Outgoing{
		AccountID: s.identity.AccountID, Account: s.identity.Address, MailFrom: tx.from,
		FromDomain: msg.fromDomain, Blob: msg.ref, Message: r,
	})
}

// withText returns r with another text, when text is not empty.
func withText(r *smtp.SMTPError, text string) *smtp.SMTPError {
	if text == "" {
		return r
	}
	c := *r
	c.Message = sanitize(text)
	return &c
}

func newMessageID() string {
	var b [15]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}
