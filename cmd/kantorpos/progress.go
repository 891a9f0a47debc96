package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/kantorpos/kantorpos/internal/progress"
)

// newProgress returns a progress bar reporter when stdout is a terminal,
// and a silent one otherwise (pipes, cron, tests).
func newProgress(e *env) progress.Reporter {
	if !e.stdoutIsTerminal {
		return progress.Nop{}
	}
	return &bar{w: e.stdout}
}

// bar shows one progressbar per phase.
type bar struct {
	w io.Writer
	b *progressbar.ProgressBar
}

func (p *bar) Start(what string, total int64, bytes bool) {
	p.Done()
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionShowTotalBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("msgs"))
	}
	p.b = progressbar.NewOptions64(total, opts...)
}

func (p *bar) Add(n int64) {
	if p.b != nil {
		p.b.Add64(n) //nolint:errcheck // display only
	}
}

func (p *bar) Done() {
	if p.b != nil {
		p.b.Finish() //nolint:errcheck // display only
		p.b = nil
	}
}
