package smtpserver

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/kantorpos/kantorpos/internal/blob"
)

// errReaderDone closes a reader's pipe when it returns: the tee stops
// feeding it and goes on with the others.
var errReaderDone = errors.New("smtpserver: reader done")

// tee streams a message once, as it arrives, into an uncommitted blob and
// into readers that run at the same time (the metadata parser, the
// authentication checks or the DKIM signer; DESIGN.md "Intake: stage,
// check, then commit"). A reader may stop early (it has what it needs,
// or it failed): the tee then stops feeding it. Only a failing blob write
// fails the tee.
type tee struct {
	w      blob.Writer
	ctx    context.Context
	cancel context.CancelFunc
	pipes  []*io.PipeWriter
	wg     sync.WaitGroup
}

func newTee(ctx context.Context, w blob.Writer) *tee {
	t := &tee{w: w}
	t.ctx, t.cancel = context.WithCancel(ctx)
	return t
}

// read starts fn in its own goroutine on a copy of the stream. fn gets a
// context that is cancelled when the stream fails; it must return once
// its reader fails or ends.
func (t *tee) read(fn func(ctx context.Context, r io.Reader)) {
	pr, pw := io.Pipe()
	t.pipes = append(t.pipes, pw)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn(t.ctx, pr)
		pr.CloseWithError(errReaderDone)
	}()
}

// Write implements io.Writer.
func (t *tee) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil {
		return n, err
	}
	for i, pw := range t.pipes {
		if pw == nil {
			continue
		}
		if _, err := pw.Write(p); err != nil {
			t.pipes[i] = nil // the reader returned
		}
	}
	return n, nil
}

// finish ends the stream: with err nil the readers see EOF, otherwise err
// (and their context is cancelled). It waits until every reader returned.
func (t *tee) finish(err error) {
	if err != nil {
		t.cancel()
	}
	for _, pw := range t.pipes {
		if pw != nil {
			pw.CloseWithError(err)
		}
	}
	t.wg.Wait()
	t.cancel()
}
