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
	"github.com/kantorpos/kantorpos/internal/mailhdr"
	"github.com/kantorpos/kantorpos/internal/store"
)

// staged is a message written to an uncommitted blob and checked, not
// yet accepted: Commit makes it durable, Abort leaves nothing behind.
type staged struct {
	w          blob.Writer
	fromDomain string // of the From header (submission)
	meta       *store.MessageMeta
	metaErr    error
	checked    bool // the inbound check ran
	verdict    Verdict
	checkErr   error
	signature  []byte // DKIM-Signature fields for the remote copy
	signErr    error
}

// data receives the content of one transaction and delivers it: stage
// (stream once into an uncommitted blob while it is parsed and checked),
// decide, then commit the blob and the store transaction, or discard.
func (s *session) data(r io.Reader) error {
	tx := s.tx
	if tx == nil || len(tx.local) == 0 && len(tx.remote) == 0 {
		return errNoValidRcpts
	}
	now := s.srv.clk.Now()
	sr := &strictReader{r: r, touch: s.touchData, lostCR: s.c.dotCR.Load}
	msg, err := s.spool(tx, sr, now)
	if err != nil {
		return s.rejected(tx, sr.n, err)
	}
	defer msg.w.Abort() // nothing stays on disk unless committed; no-op after
	size := msg.w.Written()
	d, err := s.buildDelivery(tx, msg, now)
	if err != nil {
		return s.rejected(tx, size, err)
	}
	// A message is ours once we answer 250: the blob is fsynced and
	// linked before the store transaction commits (DESIGN.md "Durability").
	ref, err := msg.w.Commit(s.ctx)
	if err != nil {
		return s.rejected(tx, size, fmt.Errorf("blob commit: %w", err))
	}
	d.Blob = ref
	res, err := s.srv.deps.Deliverer.Deliver(s.ctx, d)
	if err != nil {
		return s.rejected(tx, ref.Size, fmt.Errorf("deliver: %w", err))
	}
	// The received line names the queue entries, and each queue line
	// names tx and the Message-ID: `grep tx=ID` follows the message.
	messageID := ""
	if d.Meta != nil {
		messageID = sanitize(d.Meta.MessageID)
	}
	s.srv.deps.Events.MessageReceived(s.log, "tx", tx.id, "message_id", messageID, "from", sanitize(tx.from),
		"rcpts", sanitize(strings.Join(tx.rcpts, ",")), "size", ref.Size, "blob", ref.Hash[:16],
		"local", len(res.Local), "queued", len(res.QueueIDs), "queue_ids", res.QueueIDs)
	for _, id := range res.QueueIDs {
		s.srv.deps.Events.MessageQueued(s.log, "queue_id", id, "tx", tx.id, "message_id", messageID)
	}
	// go-smtp sends a *SMTPError's code as is: this is our 250 with the id.
	return reply(250, 2, 0, 0, "OK id="+tx.id)
}

// rejected logs the refusal of a message and returns the reply for err.
func (s *session) rejected(tx *transaction, size int64, err error) error {
	r := replyFor(err)
	if r == errBareLineEnd || r.Code == 421 {
		s.c.closeAfterReply()
	}
	s.srv.deps.Events.MessageRejected(s.log, int(r.Code), "tx", tx.id, "from", sanitize(tx.from),
		"rcpts", sanitize(strings.Join(tx.rcpts, ",")), "size", size, "code", r.Code, "reason", err.Error())
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
	case errors.Is(err, ErrNUL):
		return errNULByte
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

// spool reads the message and checks its header section, then streams
// it, with our header fields in front, into an uncommitted blob while the
// metadata parser, the inbound check (MX) or the DKIM signer (submission
// with remote recipients) read the same bytes (stage.go). The message is
// read once and never read back. On error nothing is left of it.
func (s *session) spool(tx *transaction, sr *strictReader, now time.Time) (*staged, error) {
	cfg, deps := s.srv.cfg, s.srv.deps
	br := bufio.NewReaderSize(sr, 32<<10)
	hdr, err := mailhdr.Read(br, cfg.MaxHeaderSize)
	if errors.Is(err, mailhdr.ErrTooLarge) {
		return nil, ErrHeaderTooLarge
	}
	if err != nil {
		return nil, err
	}
	fields, err := parseFields(hdr)
	if err != nil {
		return nil, err
	}
	info := inspectHeader(fields)
	// RFC 5321 6.3: stop mail loops.
	if info.received > cfg.MaxReceived {
		return nil, fmt.Errorf("%d Received fields: %w", info.received, errMailLoop)
	}
	msg := &staged{}
	var extra []byte
	if s.submission() {
		if msg.fromDomain, err = s.checkAuthors(info); err != nil {
			return nil, err
		}
		// RFC 6409 8.2, 8.3: the MSA may add Date and Message-ID.
		if !info.date {
			extra = append(extra, "Date: "+now.Format(time.RFC1123Z)+"\r\n"...)
		}
		if !info.messageID {
			extra = append(extra, "Message-ID: <"+newMessageID()+"@"+cfg.Hostname+">\r\n"...)
		}
	} else if deps.HeaderFilter != nil {
		hdr = deps.HeaderFilter(hdr)
	}
	if err := deps.Blobs.CheckSpace(cfg.MaxMessageSize); err != nil && blob.IsNoSpace(err) {
		return nil, err
	}
	msg.w, err = deps.Blobs.Create(s.ctx)
	if err != nil {
		return nil, fmt.Errorf("blob create: %w", err)
	}
	t := newTee(s.ctx, msg.w)
	t.read(func(ctx context.Context, r io.Reader) { msg.meta, msg.metaErr = deps.Meta(r) })
	if deps.Inbound != nil && !s.submission() {
		msg.checked = true
		t.read(func(ctx context.Context, r io.Reader) { msg.verdict, msg.checkErr = s.checkInbound(ctx, tx, r) })
	}
	if deps.Signer != nil && s.identity != nil && len(tx.remote) > 0 {
		t.read(func(ctx context.Context, r io.Reader) {
			msg.signature, msg.signErr = s.sign(ctx, tx, msg.fromDomain, r)
		})
	}
	ri := receivedInfo{helo: s.helo, ip: s.c.ip, hostname: cfg.Hostname, tls: s.tls, id: tx.id, at: now}
	if s.identity != nil {
		ri.user = s.identity.Address
	}
	if len(tx.rcpts) == 1 {
		ri.rcpt = tx.rcpts[0]
	}
	err = nil
	for _, part := range [][]byte{receivedHeader(ri), extra, hdr} {
		if _, err = t.Write(part); err != nil {
			err = fmt.Errorf("blob write: %w", err)
			break
		}
	}
	if err == nil {
		// The body is streamed, never held in memory. go-smtp enforces
		// the SIZE limit (552 5.3.4) on what it reads.
		_, err = io.Copy(t, br)
	}
	t.finish(err)
	if err != nil {
		msg.w.Abort()
		return nil, err
	}
	return msg, nil
}

// buildDelivery decides on a staged message and assembles the one
// store.Delivery (its Blob is set once the blob is committed).
func (s *session) buildDelivery(tx *transaction, msg *staged, now time.Time) (*store.Delivery, error) {
	d := &store.Delivery{ReceivedAt: now, From: tx.from}
	if msg.metaErr != nil {
		s.log.Warn("metadata", "err", msg.metaErr) // delivered without metadata
	}
	d.Meta = msg.meta
	var verdict Verdict
	if msg.checked {
		if msg.checkErr != nil {
			return nil, fmt.Errorf("inbound check: %w: %w", msg.checkErr, errCheckTemp)
		}
		v := msg.verdict
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
			MsgID:    tx.id,
		}
		if s.identity != nil {
			out.AccountID = s.identity.AccountID
			if msg.signErr != nil {
				return nil, fmt.Errorf("sign: %w", msg.signErr)
			}
			out.Prefix = msg.signature
		}
		d.Remote = out
	}
	return d, nil
}

// checkInbound runs the inbound check on the message streamed by r. The
// checker bounds its own DNS work; ctx ends if the stream fails.
func (s *session) checkInbound(ctx context.Context, tx *transaction, r io.Reader) (Verdict, error) {
	return s.srv.deps.Inbound.CheckInbound(ctx, &Inbound{
		ConnID: s.c.id, RemoteIP: s.c.ip, HELO: s.helo, TLS: s.tls,
		MailFrom: tx.from, Rcpts: tx.rcpts, Message: r,
	})
}

func (s *session) sign(ctx context.Context, tx *transaction, fromDomain string, r io.Reader) ([]byte, error) {
	return s.srv.deps.Signer.Sign(ctx, &Outgoing{
		AccountID: s.identity.AccountID, Account: s.identity.Address, MailFrom: tx.from,
		FromDomain: fromDomain, Message: r,
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
