package smtpserver

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/store"
)

// openCounter counts the committed blobs read back from the store.
type openCounter struct {
	*blob.FS
	n atomic.Int32
}

func (o *openCounter) Open(ctx context.Context, hash string) (blob.Reader, error) {
	o.n.Add(1)
	return o.FS.Open(ctx, hash)
}

// streamReader is a checker and a signer that read the whole stream.
type streamReader struct {
	msg atomic.Pointer[string]
	err atomic.Pointer[error]
}

func (s *streamReader) read(r io.Reader) {
	b, err := io.ReadAll(r)
	m := string(b)
	s.msg.Store(&m)
	s.err.Store(&err)
}

func (s *streamReader) CheckInbound(ctx context.Context, m *Inbound) (Verdict, error) {
	s.read(m.Message)
	return Verdict{Header: []byte("Authentication-Results: mx.local.test; none\r\n")}, nil
}

func (s *streamReader) Sign(ctx context.Context, m *Outgoing) ([]byte, error) {
	s.read(m.Message)
	return []byte("DKIM-Signature: v=1\r\n"), nil
}

// TestIntakeReadsOnce (issue 22 item 1): the metadata parser, the inbound
// check and the signer read the message as it arrives, exactly the bytes
// that are stored, and nothing is read back from the blob store.
func TestIntakeReadsOnce(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("line of the body\r\n", 20000) // several pipe writes
	for _, kind := range []Kind{MX, Submission} {
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			sr := &streamReader{}
			var oc *openCounter
			var meta atomic.Pointer[string]
			e := newEnv(t, kind, func(c *Config, d *Deps) {
				oc = &openCounter{FS: d.Blobs.(*blob.FS)}
				d.Blobs = oc
				d.Inbound, d.Signer = sr, sr
				d.Meta = func(r io.Reader) (*store.MessageMeta, error) {
					b, err := io.ReadAll(r)
					m := string(b)
					meta.Store(&m)
					return nil, err
				}
			})
			c, rcpts := e.dial(false), []string{"bob@local.test"}
			if kind == Submission {
				c, rcpts = e.login("alice@local.test", alicePass), []string{"bob@local.test", "far@ext.test"}
			}
			if err := send(c, "alice@local.test", rcpts, "From: alice@local.test\r\nSubject: once\r\n\r\n"+body); err != nil {
				t.Fatal(err)
			}
			stored := e.st.blobContent(e.st.delivered()[0])
			if got := sr.msg.Load(); got == nil || *got != stored || *sr.err.Load() != nil {
				t.Errorf("checker/signer read %d bytes (err %v), stored %d", len(*got), *sr.err.Load(), len(stored))
			}
			if got := meta.Load(); got == nil || *got != stored {
				t.Errorf("metadata parser read %d bytes, stored %d", len(*got), len(stored))
			}
			if n := oc.n.Load(); n != 0 {
				t.Errorf("blob read back %d times", n)
			}
		})
	}
}

// TestIntakeStreamFails: when DATA fails half way (a bare LF), the checker
// reading the stream gets the error, not a clean end of a truncated
// message, and nothing is stored.
func TestIntakeStreamFails(t *testing.T) {
	t.Parallel()
	sr := &streamReader{}
	e := newEnv(t, MX, func(c *Config, d *Deps) { d.Inbound = sr })
	r := e.raw()
	r.cmd("EHLO client.test", "250")
	r.cmd("MAIL FROM:<a@ext.test>", "250")
	r.cmd("RCPT TO:<alice@local.test>", "250")
	r.cmd("DATA", "354")
	r.cmd("Subject: x\r\n\r\n"+strings.Repeat("line of the body\r\n", 10000)+"\nbare\r\n.", "554 5.6.0")
	if err := sr.err.Load(); err == nil || !errors.Is(*err, ErrBareLineEnding) {
		t.Errorf("checker read error %v, want ErrBareLineEnding", err)
	}
	n := 0
	e.blobs.Walk(context.Background(), func(string, int64, time.Time) error { n++; return nil })
	if n != 0 || len(e.st.delivered()) != 0 {
		t.Errorf("%d blobs, %d deliveries after a failed DATA", n, len(e.st.delivered()))
	}
}
