// Package progress is how long-running jobs (backup, restore, import,
// export, verify) report progress. The jobs take a Reporter; the command
// line gives them a progress bar on a terminal and Nop otherwise.
package progress

// Reporter receives the progress of one job.
type Reporter interface {
	// Start begins a phase: what it does and how much work it has (-1 when
	// unknown); bytes says whether the unit is bytes or items.
	Start(what string, total int64, bytes bool)
	// Add reports n more units done.
	Add(n int64)
	// Done ends the phase.
	Done()
}

// Nop reports nothing.
type Nop struct{}

// Start implements Reporter.
func (Nop) Start(string, int64, bool) {}

// Add implements Reporter.
func (Nop) Add(int64) {}

// Done implements Reporter.
func (Nop) Done() {}

// Or returns r, or Nop when r is nil.
func Or(r Reporter) Reporter {
	if r == nil {
		return Nop{}
	}
	return r
}
