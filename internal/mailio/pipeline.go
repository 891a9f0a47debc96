package mailio

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/kantorpos/kantorpos/internal/msgmeta"
	"github.com/kantorpos/kantorpos/internal/progress"
	"github.com/kantorpos/kantorpos/internal/store"
)

// Item is one message to add with AddAll.
type Item struct {
	Data  []byte
	Flags []string
	Date  time.Time
	// Label names the message in error reports (a file, an offset).
	Label string
	// Progress is reported to the importer's progress once it is done.
	Progress int64
}

// pipelineWindow bounds the messages read ahead of the appends.
const pipelineWindow = 64

// AddAll adds the messages next yields (nil at the end), in order. Line
// ends, parsing and the blob writes of messages that cannot be duplicates
// (no message of that size was in the mailbox) run on several workers
// ahead of the appends, which stay one at a time so UIDs follow the
// source's order. A message that fails is counted in the summary and
// skipped; an error of next, or of the context, ends the run.
func (f *Folder) AddAll(ctx context.Context, workers int, next func() (*Item, error)) error {
	if workers <= 0 {
		workers = 4
	}
	type result struct {
		data    []byte
		ref     store.BlobRef
		meta    *store.MessageMeta
		written bool
		err     error
	}
	type job struct {
		item *Item
		done chan result
	}
	pr := progress.Or(f.im.Progress)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *job)
	order := make(chan *job, pipelineWindow)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				var r result
				r.data = ToCRLF(j.item.Data)
				r.meta, r.err = msgmeta.Parse(bytes.NewReader(r.data), msgmeta.Limits{})
				// Without an earlier message of that size it cannot be a
				// duplicate: its blob can be written here, in parallel.
				if r.err == nil && len(f.bySize[int64(len(r.data))]) == 0 {
					r.ref, r.err = writeBlob(ctx, f.im.Blobs, r.data)
					r.written = r.err == nil
				}
				j.done <- r
			}
		}()
	}
	var nextErr error
	go func() {
		defer close(order)
		defer close(work)
		for {
			it, err := next()
			if err != nil || it == nil {
				nextErr = err
				return
			}
			j := &job{item: it, done: make(chan result, 1)}
			select {
			case order <- j:
			case <-ctx.Done():
				return
			}
			select {
			case work <- j:
			case <-ctx.Done():
				j.done <- result{err: ctx.Err()}
				return
			}
		}
	}()
	var err error
	for j := range order {
		r := <-j.done
		if err != nil {
			continue // draining after a failure
		}
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
			cancel()
			continue
		}
		switch {
		case r.err != nil:
			f.im.Summary.fail(j.item.Label, r.err)
		default:
			var aerr error
			if r.written {
				_, aerr = f.appendBlob(ctx, r.ref, r.meta, j.item.Flags, j.item.Date)
			} else {
				_, aerr = f.Add(ctx, r.data, j.item.Flags, j.item.Date)
			}
			if aerr != nil && ctx.Err() != nil {
				err = ctx.Err()
				cancel()
				continue
			}
			if aerr != nil {
				f.im.Summary.fail(j.item.Label, aerr)
			}
		}
		pr.Add(j.item.Progress)
	}
	wg.Wait()
	if err != nil {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return nextErr
}
