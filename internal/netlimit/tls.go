package netlimit

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// TLSListener is tls.NewListener with a deadline on the handshake: Accept
// returns connections whose handshake is complete, and a client that has
// not completed it within the timeout (one that connects and sends
// nothing, or half a ClientHello) is closed. Handshakes run concurrently,
// each in its own goroutine, so a slow client holds up no one else; the
// inner listener's limits count them while they run. RFC 8314 3.3: on an
// implicit-TLS port the handshake starts at once.
type TLSListener struct {
	inner   net.Listener
	cfg     *tls.Config
	timeout time.Duration
	log     *slog.Logger

	startOnce sync.Once
	ready     chan net.Conn
	errs      chan error
	ctx       context.Context // cancelled by Close: handshakes in flight end
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
	// stopped is closed when the inner listener has failed for good; its
	// error, stopErr, is then what Accept returns.
	stopped chan struct{}
	stopErr error
}

// NewTLSListener wraps inner; timeout <= 0 means 10 seconds.
func NewTLSListener(inner net.Listener, cfg *tls.Config, timeout time.Duration, log *slog.Logger) *TLSListener {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &TLSListener{inner: inner, cfg: cfg, timeout: timeout, log: log,
		ready: make(chan net.Conn), errs: make(chan error), ctx: ctx, cancel: cancel, stopped: make(chan struct{})}
}

// Accept returns the next connection (a *tls.Conn) whose handshake is
// complete, or the inner listener's error.
func (l *TLSListener) Accept() (net.Conn, error) {
	l.startOnce.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.stopped:
		return nil, l.stopErr
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

// acceptLoop accepts raw connections and starts their handshakes until
// the inner listener fails for good or Close is called.
func (l *TLSListener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if !isTemporary(err) || errors.Is(err, net.ErrClosed) {
				l.stopErr = err
				close(l.stopped)
				return
			}
			select {
			case l.errs <- err:
			case <-l.ctx.Done():
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-l.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		go l.handshake(c)
	}
}

func (l *TLSListener) handshake(c net.Conn) {
	tc := tls.Server(c, l.cfg)
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	defer cancel()
	// HandshakeContext closes the connection when ctx ends first.
	if err := tc.HandshakeContext(ctx); err != nil {
		l.log.Info("TLS handshake failed", "ip", c.RemoteAddr().String(), "local", c.LocalAddr().String(), "err", err)
		c.Close()
		return
	}
	select {
	case l.ready <- tc:
	case <-l.ctx.Done():
		c.Close()
	}
}

// Close stops accepting and closes the connections still in their
// handshake.
func (l *TLSListener) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.closeErr = l.inner.Close()
	})
	return l.closeErr
}

// Addr is the inner listener's address.
func (l *TLSListener) Addr() net.Addr { return l.inner.Addr() }

// isTemporary reports a transient accept failure (out of file descriptors,
// connection aborted) worth retrying.
func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	var ne net.Error
	return errors.As(err, &te) && te.Temporary() || errors.As(err, &ne) && ne.Timeout()
}
