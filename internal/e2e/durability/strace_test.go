package durability

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// A syscall from `strace -f -y -yy`: fd arguments carry their path
// (fsync(7</data/x>)), sockets their addresses.
type syscallEvent struct {
	start, end int    // line numbers where the call began and returned
	name       string // fsync, renameat, write...
	args       string
	ret        string
}

var (
	straceFull       = regexp.MustCompile(`^(\d+)\s+(\w+)\((.*)\)\s+=\s+(.*)$`)
	straceUnfinished = regexp.MustCompile(`^(\d+)\s+(\w+)\((.*) <unfinished \.\.\.>$`)
	straceResumed    = regexp.MustCompile(`^(\d+)\s+<\.\.\. (\w+) resumed>(.*)\)\s+=\s+(.*)$`)
	fdPath           = regexp.MustCompile(`^-?\d+<([^>]*)>`)
	quoted           = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
)

// parseStrace reads a trace into events in the order they returned (an
// interrupted call gets the line of its start and of its return).
func parseStrace(path string) ([]syscallEvent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []syscallEvent
	pending := map[string]syscallEvent{} // tid → started call
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 0; sc.Scan(); n++ {
		l := sc.Text()
		if m := straceFull.FindStringSubmatch(l); m != nil {
			out = append(out, syscallEvent{start: n, end: n, name: m[2], args: m[3], ret: m[4]})
		} else if m := straceUnfinished.FindStringSubmatch(l); m != nil {
			pending[m[1]] = syscallEvent{start: n, name: m[2], args: m[3]}
		} else if m := straceResumed.FindStringSubmatch(l); m != nil {
			e, ok := pending[m[1]]
			if !ok || e.name != m[2] {
				continue
			}
			delete(pending, m[1])
			e.end, e.args, e.ret = n, e.args+m[3], m[4]
			out = append(out, e)
		}
	}
	return out, sc.Err()
}

// fd returns the path strace printed for the first (fd) argument.
func (e syscallEvent) fd() string {
	m := fdPath.FindStringSubmatch(e.args)
	if m == nil {
		return ""
	}
	return m[1]
}

func (e syscallEvent) ok() bool { return !strings.HasPrefix(e.ret, "-1") }

// strings returns the quoted string arguments (paths of a rename, data).
func (e syscallEvent) strings() []string {
	var out []string
	for _, m := range quoted.FindAllStringSubmatch(e.args, -1) {
		out = append(out, m[1])
	}
	return out
}

func (e syscallEvent) isSync() bool { return e.name == "fsync" || e.name == "fdatasync" }

func (e syscallEvent) isRename() bool {
	return e.name == "rename" || e.name == "renameat" || e.name == "renameat2"
}

// isWALWrite: a write of the SQLite write-ahead log.
func (e syscallEvent) isWALWrite() bool {
	return (e.name == "pwrite64" || e.name == "write" || e.name == "pwritev") && strings.HasSuffix(e.fd(), ".db-wal")
}

// replyWrite finds the first write on a TCP socket whose data starts with
// prefix.
func replyWrite(evs []syscallEvent, prefix string) (syscallEvent, bool) {
	for _, e := range evs {
		if (e.name == "write" || e.name == "sendto" || e.name == "writev") && strings.HasPrefix(e.fd(), "TCP:") {
			if s := e.strings(); len(s) > 0 && strings.HasPrefix(s[0], prefix) {
				return e, true
			}
		}
	}
	return syscallEvent{}, false
}

var procFD = regexp.MustCompile(`^/proc/self/fd/(\d+)$`)

// blobPlaced finds the last placement of a blob into its final name that
// returned before line: a rename of a named temporary file in blobs/tmp,
// or a linkat of an unnamed (O_TMPFILE) one through /proc/self/fd/N. It
// returns the event, how to find the fsync of the file (its path, or "fd
// N" for the unnamed file) and the final path.
func blobPlaced(evs []syscallEvent, before int) (ev syscallEvent, from, to string, ok bool) {
	for _, e := range evs {
		if !(e.isRename() || e.name == "linkat") || !e.ok() || e.end >= before {
			continue
		}
		s := e.strings()
		if len(s) != 2 || !strings.Contains(s[1], "/blobs/") {
			continue
		}
		if m := procFD.FindStringSubmatch(s[0]); e.name == "linkat" && m != nil {
			ev, from, to, ok = e, "fd "+m[1], s[1], true
		} else if e.isRename() && strings.Contains(s[0], "/blobs/tmp/") {
			ev, from, to, ok = e, s[0], s[1], true
		}
	}
	return
}

// fileSyncOf finds the fsync of the blob file that blobPlaced named
// (a path, or "fd N": the last sync of descriptor N before the link, whose
// path must be an unnamed file of blobs/tmp).
func fileSyncOf(evs []syscallEvent, from string, before int) (syscallEvent, bool) {
	fd, isFD := strings.CutPrefix(from, "fd ")
	if !isFD {
		return syncOf(evs, from, -1, before)
	}
	var last syscallEvent
	found := false
	for _, e := range evs {
		if e.isSync() && e.ok() && e.end < before && strings.HasPrefix(e.args, fd+"<") {
			last, found = e, true
		}
	}
	return last, found && strings.Contains(last.fd(), "/blobs/tmp")
}

// syncOf finds a successful fsync/fdatasync of path that returned in (after, before).
func syncOf(evs []syscallEvent, path string, after, before int) (syscallEvent, bool) {
	for _, e := range evs {
		if e.isSync() && e.ok() && e.end > after && e.end < before && filepath.Clean(e.fd()) == filepath.Clean(path) {
			return e, true
		}
	}
	return syscallEvent{}, false
}

// walCommit finds the last WAL write before line and a WAL sync that
// returned after it and before line.
func walCommit(evs []syscallEvent, before int) (write, sync syscallEvent, ok bool) {
	var w syscallEvent
	found := false
	for _, e := range evs {
		if e.isWALWrite() && e.ok() && e.end < before {
			w, found = e, true
		}
	}
	if !found {
		return w, sync, false
	}
	for _, e := range evs {
		if e.isSync() && e.ok() && strings.HasSuffix(e.fd(), ".db-wal") && e.start > w.end && e.end < before {
			return w, e, true
		}
	}
	return w, sync, false
}
