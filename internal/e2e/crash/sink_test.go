package crash

import (
	"bufio"
	"io"
	"log"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is the remote server the queue delivers to: it lives in the test
// process (it never crashes), checks every message it gets whole, and has
// two kill points inside DATA.
type sink struct {
	l    *load
	addr string
}

func startSink(t *testing.T, l *load) *sink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{l: l, addr: ln.Addr().String()}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.test"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.MaxMessageBytes = 16 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0) // connections cut by the kills
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct{ s *sink }

func (*sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (*sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (*sinkSession) Reset()                               {}
func (*sinkSession) Logout() error                        { return nil }

func (ss *sinkSession) Data(r io.Reader) error {
	br := bufio.NewReader(r)
	head, _ := br.Peek(1000)
	if len(head) == 1000 {
		ss.s.l.ctl.hit("queue-mid")
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		return err // cut off: the sender did not finish (a kill); not received
	}
	ss.s.l.ctl.hit("queue-end")
	seq, cerr := checkStored(rest)
	led := ss.s.l.led
	if cerr != nil {
		led.badMessage("sink: " + cerr.Error())
		return nil
	}
	led.mu.Lock()
	led.sink[seq]++
	led.mu.Unlock()
	return nil
}
