package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Memory is the memory of one or more processes, in KiB.
type Memory struct {
	Procs   int
	RSS     int64 // VmRSS: shared pages counted once per process
	Pss     int64 // Pss: shared pages split between their users
	Anon    int64 // RssAnon
	Private int64 // Private_Clean + Private_Dirty
}

func (m *Memory) add(o Memory) {
	m.Procs += o.Procs
	m.RSS += o.RSS
	m.Pss += o.Pss
	m.Anon += o.Anon
	m.Private += o.Private
}

// MemTarget says which processes to measure: PIDs, and every process
// whose executable path starts with one of ExePrefixes (for servers made
// of many processes, such as Dovecot: /usr/sbin/dovecot, /usr/lib/dovecot/).
type MemTarget struct {
	PIDs        []int
	ExePrefixes []string
}

func (t MemTarget) empty() bool { return len(t.PIDs) == 0 && len(t.ExePrefixes) == 0 }

// Measure sums the memory of the target's processes, read from
// /proc/PID/status (VmRSS, RssAnon) and /proc/PID/smaps_rollup (Pss,
// Private_*).
func (t MemTarget) Measure() (Memory, error) {
	var total Memory
	pids := map[int]bool{}
	for _, p := range t.PIDs {
		pids[p] = true
	}
	if len(t.ExePrefixes) > 0 {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return total, err
		}
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
			if err != nil {
				continue
			}
			for _, p := range t.ExePrefixes {
				if strings.HasPrefix(exe, p) {
					pids[pid] = true
				}
			}
		}
	}
	for pid := range pids {
		m, err := processMemory(pid)
		if err != nil {
			if len(t.PIDs) > 0 && contains(t.PIDs, pid) {
				return total, err
			}
			continue // a process of the group that just exited
		}
		total.add(m)
	}
	return total, nil
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func processMemory(pid int) (Memory, error) {
	m := Memory{Procs: 1}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, fmt.Errorf("bench: process %d: %w", pid, err)
	}
	fields := kibFields(status)
	m.RSS, m.Anon = fields["VmRSS"], fields["RssAnon"]
	if rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		f := kibFields(rollup)
		m.Pss = f["Pss"]
		m.Private = f["Private_Clean"] + f["Private_Dirty"]
	}
	return m, nil
}

// kibFields parses "Name:   123 kB" lines.
func kibFields(b []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 2 && f[1] == "kB" {
			if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				out[name] = v
			}
		}
	}
	return out
}
