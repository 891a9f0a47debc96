package smtpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kantorpos/kantorpos/internal/blob"
	"github.com/kantorpos/kantorpos/internal/store"
)

// fullBlobs is a blob store whose disk fills up on demand.
type fullBlobs struct {
	*blob.FS
	full      atomic.Bool // CheckSpace fails
	failWrite atomic.Bool // writes fail with ENOSPC
}

func (f *fullBlobs) CheckSpace(need int64) error {
	if f.full.Load() {
		return fmt.Errorf("%w: test", blob.ErrNoSpace)
	}
	return nil
}

func (f *fullBlobs) Create(ctx context.Context) (blob.Writer, error) {
	w, err := f.FS.Create(ctx)
	if err != nil {
		return nil, err
	}
	return &failingWriter{Writer: w, fail: &f.failWrite}, nil
}

type failingWriter struct {
	blob.Writer
	fail *atomic.Bool
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.fail.Load() {
		return 0, fmt.Errorf("blob: write: %w", syscall.ENOSPC)
	}
	return w.Writer.Write(p)
}

func TestStorageFailures(t *testing.T) {
	t.Parallel()
	var fb *fullBlobs
	e := newEnv(t, MX, func(c *Config, d *Deps) {
		fb = &fullBlobs{FS: d.Blobs.(*blob.FS)}
		d.Blobs = fb
	})
	c := e.dial(false)
	fb.full.Store(true)
	if err := c.Mail("a@ext.test", nil); code(err) != 452 || enhanced(err) != "4.3.1" {
		t.Errorf("MAIL on a full disk: %v", err)
	}
	fb.full.Store(false)
	fb.failWrite.Store(true)
	if err := send(c, "a@ext.test", []string{"alice@local.test"}, simpleMsg); code(err) != 452 || enhanced(err) != "4.3.1" {
		t.Errorf("write on a full disk: %v", err)
	}
	fb.failWrite.Store(false)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("db: %w", store.ErrUnavailable), "451 4.3.0"},
		{fmt.Errorf("db: %w", store.ErrQuotaExceeded), "552 5.2.2"},
		{fmt.Errorf("db: %w", blob.ErrNoSpace), "452 4.3.1"},
		{errors.New("something else"), "451 4.3.0"},
	} {
		e.st.mu.Lock()
		e.st.deliverErr = tc.err
		e.st.mu.Unlock()
		err := send(c, "a@ext.test", []string{"alice@local.test"}, simpleMsg)
		if got := fmt.Sprintf("%d %s", code(err), enhanced(err)); got != tc.want {
			t.Errorf("Deliver error %v: reply %s, want %s", tc.err, got, tc.want)
		}
	}
	if n := len(e.st.delivered()); n != 0 {
		t.Fatalf("%d stored", n)
	}
	if strings.Count(e.logs.String(), "event=rejected") < 5 {
		t.Errorf("rejections not logged:\n%s", e.logs.String())
	}
}

func TestQuotaAtRcpt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, MX)
	alice, _ := e.st.Account(context.Background(), "alice@local.test")
	alice.QuotaBytes, alice.UsedBytes = 10000, 9000
	e.st.setAccount(alice)
	r := e.raw()
	r.cmd("EHLO client.test", "250")
	r.cmd("MAIL FROM:<a@ext.test> SIZE=2000", "250")
	r.cmd("RCPT TO:<alice@local.test>", "552 5.2.2")
	r.cmd("RCPT TO:<team@local.test>", "250") // bob and a remote friend still get it
	r.cmd("DATA", "354")
	r.cmd("Subject: x\r\n\r\ny\r\n.", "250")
	d := e.st.delivered()[0]
	if len(d.Local) != 1 || d.Local[0].AccountID != 2 || d.Remote == nil {
		t.Errorf("delivery %+v", d)
	}
	r.cmd("MAIL FROM:<a@ext.test>", "250")
	r.cmd("RCPT TO:<alice@local.test>", "250") // fits without a declared size
	alice.UsedBytes = 10000
	e.st.setAccount(alice)
	r.cmd("RCPT TO:<alice+x@local.test>", "552 5.2.2")
}

type fakeChecker struct {
	v   Verdict
	err error
	got atomic.Pointer[Inbound]
	msg atomic.Pointer[string]
}

func (f *fakeChecker) CheckInbound(ctx context.Context, m *Inbound) (Verdict, error) {
	f.got.Store(m)
	b, _ := io.ReadAll(m.Message)
	s := string(b)
	f.msg.Store(&s)
	return f.v, f.err
}

func TestInboundChecker(t *testing.T) {
	t.Parallel()
	ar := []byte("Authentication-Results: mx.local.test; spf=pass smtp.mailfrom=ext.test\r\n")
	tests := []struct {
		name string
		v    Verdict
		err  error
		want string
	}{
		{"accept", Verdict{Action: Accept, Header: ar}, nil, "250"},
		{"junk", Verdict{Action: Junk, Header: ar}, nil, "250"},
		{"reject", Verdict{Action: Reject, Reply: "DMARC policy\r\nwith CRLF"}, nil, "550 5.7.1 DMARC policy??with CRLF"},
		{"tempfail", Verdict{Action: TempFail}, nil, "451 4.7.0"},
		{"error", Verdict{}, errors.New("dns down"), "451 4.7.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ch := &fakeChecker{v: tc.v, err: tc.err}
			e := newEnv(t, MX, func(c *Config, d *Deps) { d.Inbound = ch })
			r := e.raw()
			r.cmd("EHLO client.test", "250")
			r.cmd("MAIL FROM:<a@ext.test>", "250")
			r.cmd("RCPT TO:<alice@local.test>", "250")
			r.cmd("DATA", "354")
			r.cmd("Subject: x\r\n\r\ny\r\n.", tc.want)
			m := ch.got.Load()
			if m == nil || m.MailFrom != "a@ext.test" || m.HELO != "client.test" || m.RemoteIP.String() != "127.0.0.1" || len(m.Rcpts) != 1 {
				t.Fatalf("checker saw %+v", m)
			}
			if msg := *ch.msg.Load(); !strings.HasPrefix(msg, "Received: ") || !strings.HasSuffix(msg, "\r\n\r\ny\r\n") {
				t.Errorf("checker read %q", msg)
			}
			ds := e.st.delivered()
			if tc.want != "250" {
				if len(ds) != 0 {
					t.Errorf("stored after %s", tc.name)
				}
				// Issue 19 item 3: a refused message leaves no blob.
				n := 0
				e.blobs.Walk(context.Background(), func(string, int64, time.Time) error { n++; return nil })
				if n != 0 {
					t.Errorf("%d blobs left after %s", n, tc.name)
				}
				return
			}
			l := ds[0].Local[0]
			if !strings.HasSuffix(string(l.Prefix), string(ar)) {
				t.Errorf("prefix %q", l.Prefix)
			}
			if (l.SpecialUse == store.SpecialJunk) != (tc.v.Action == Junk) {
				t.Errorf("special use %q", l.SpecialUse)
			}
		})
	}
}

// TestMetaParser: the parser sees the stored message and its result goes
// into the Delivery; a failing parser does not stop delivery.
func TestMetaParser(t *testing.T) {
	t.Parallel()
	fail := atomic.Bool{}
	e := newEnv(t, MX, func(c *Config, d *Deps) {
		d.Meta = func(r io.Reader) (*store.MessageMeta, error) {
			if fail.Load() {
				return nil, errors.New("unparsable")
			}
			b, _ := io.ReadAll(r)
			return &store.MessageMeta{Header: string(b[:10])}, nil
		}
	})
	c := e.dial(false)
	if err := send(c, "a@ext.test", []string{"alice@local.test"}, simpleMsg); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if err := send(c, "a@ext.test", []string{"alice@local.test"}, simpleMsg); err != nil {
		t.Fatal(err)
	}
	ds := e.st.delivered()
	if ds[0].Meta == nil || ds[0].Meta.Header != "Received: " || ds[1].Meta != nil {
		t.Errorf("meta %+v %+v", ds[0].Meta, ds[1].Meta)
	}
}
