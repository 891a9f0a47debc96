package delivery

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// outcome is the result of one RCPT within a transaction: the reply that
// decides it, or the error that ended the transaction first.
type outcome struct {
	reply *Reply
	err   error
	local bool // err is ours (the body could not be read), not the network's
}

// bodyError marks a failure to read the message body (a local problem).
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "read message body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &bodyError{err: err}
	}
	return n, err
}

// transact runs one mail transaction: MAIL, the RCPTs, DATA and the body,
// pipelined when the server offers PIPELINING (RFC 2920). A reply to MAIL
// or DATA applies to every recipient it concerns; RCPT replies are per
// recipient. It reports whether the connection is still usable.
func (c *client) transact(open func() (io.ReadCloser, error), mail string, rcpts []string) ([]outcome, bool) {
	outs := make([]outcome, len(rcpts))
	body, err := open()
	if err != nil {
		// Nothing was sent yet: the connection is fine.
		for i := range outs {
			outs[i] = outcome{err: fmt.Errorf("open message body: %w", err), local: true}
		}
		return outs, true
	}
	defer body.Close()

	// broken ends the transaction: every recipient not yet decided gets err.
	broken := func(err error) ([]outcome, bool) {
		var be *bodyError
		local := errors.As(err, &be)
		for i := range outs {
			if outs[i].reply == nil || outs[i].reply.Positive() {
				outs[i] = outcome{err: err, local: local}
			}
		}
		return outs, false
	}
	all := func(rep Reply) {
		for i := range outs {
			outs[i] = outcome{reply: &rep}
		}
	}
	// accepted sets rep on every recipient that RCPT accepted.
	accepted := func(rep Reply) (n int) {
		for i := range outs {
			if outs[i].reply != nil && outs[i].reply.Positive() {
				outs[i] = outcome{reply: &rep}
				n++
			}
		}
		return n
	}
	countAccepted := func() (n int) {
		for _, o := range outs {
			if o.reply != nil && o.reply.Positive() {
				n++
			}
		}
		return n
	}
	// usable: a 421 means the server is closing the connection (RFC 5321 3.8).
	usable := func() bool {
		for _, o := range outs {
			if o.reply != nil && o.reply.Code == 421 {
				return false
			}
		}
		return true
	}

	pipe := c.has("PIPELINING")
	var mailRep, dataRep Reply
	if err := c.writeLine(mail); err != nil {
		return broken(err)
	}
	if !pipe {
		if mailRep, err = c.flushRead(c.to.Command); err != nil {
			return broken(fmt.Errorf("MAIL: %w", err))
		}
		if !mailRep.Positive() {
			all(mailRep)
			return outs, mailRep.Code != 421
		}
	}
	for i, rc := range rcpts {
		if err := c.writeLine(rc); err != nil {
			return broken(err)
		}
		if !pipe {
			rep, err := c.flushRead(c.to.Command)
			if err != nil {
				return broken(fmt.Errorf("RCPT: %w", err))
			}
			outs[i].reply = &rep
			if rep.Code == 421 {
				// The server is closing: nobody else gets through.
				for j := range outs {
					if outs[j].reply == nil || outs[j].reply.Positive() {
						outs[j] = outcome{reply: &rep}
					}
				}
				return outs, false
			}
		}
	}
	if pipe {
		// RFC 2920 3.1: DATA may end the group; the replies come in order.
		if err := c.writeLine("DATA"); err != nil {
			return broken(err)
		}
		if err := c.flush(c.to.Command); err != nil {
			return broken(fmt.Errorf("MAIL: %w", err))
		}
		if mailRep, err = c.read(c.to.Command); err != nil {
			return broken(fmt.Errorf("MAIL: %w", err))
		}
		for i := range rcpts {
			rep, err := c.read(c.to.Command)
			if err != nil {
				return broken(fmt.Errorf("RCPT: %w", err))
			}
			outs[i].reply = &rep
		}
		if dataRep, err = c.read(c.to.DataInit); err != nil {
			return broken(fmt.Errorf("DATA: %w", err))
		}
		if !mailRep.Positive() || countAccepted() == 0 {
			if !mailRep.Positive() {
				all(mailRep)
			}
			if dataRep.Code == 354 {
				// A server that says 354 with no valid recipient gets an
				// empty message, which it must reject (RFC 2920 3.1).
				if err := c.endData(); err != nil {
					return outs, false
				}
			}
			return outs, usable() && dataRep.Code != 421
		}
	} else {
		if countAccepted() == 0 {
			return outs, true
		}
		if dataRep, err = c.cmd(c.to.DataInit, "DATA"); err != nil {
			return broken(fmt.Errorf("DATA: %w", err))
		}
	}
	if dataRep.Code != 354 {
		accepted(dataRep)
		return outs, usable() && dataRep.Code != 421
	}

	// RFC 5321 4.5.2: CRLF-only, dot-stuffed, ended by CRLF.CRLF.
	c.cw.timeout = c.to.DataBlock
	dw := newDataWriter(c.w)
	if _, err := io.Copy(dw, bodyReader{body}); err != nil {
		// Never send the final dot after a partial body: drop the connection.
		return broken(fmt.Errorf("send message body: %w", err))
	}
	if err := dw.Close(); err != nil {
		return broken(fmt.Errorf("send message body: %w", err))
	}
	if err := c.flush(c.to.DataBlock); err != nil {
		return broken(fmt.Errorf("send message body: %w", err))
	}
	final, err := c.read(c.to.DataEnd)
	if err != nil {
		return broken(fmt.Errorf("reply to end of data: %w", err))
	}
	accepted(final)
	c.msgs++
	return outs, final.Code != 421
}

func (c *client) flushRead(timeout time.Duration) (Reply, error) {
	if err := c.flush(timeout); err != nil {
		return Reply{}, err
	}
	return c.read(timeout)
}

// endData sends an empty message body after a needless 354.
func (c *client) endData() error {
	if _, err := c.cmd(c.to.DataEnd, "."); err != nil {
		return err
	}
	return nil
}
