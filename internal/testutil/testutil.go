// Package testutil holds test helpers with no dependency on the rest of
// kantorpos, so that any package's own tests can use them (testenv, which
// wires the whole server, cannot be imported by the packages it wires).
package testutil

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// NeedCommand returns the path of an external program a test uses. When it
// is missing the test is skipped with the Debian package to install, or
// fails when CI=true (CI must run every test).
func NeedCommand(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found: CI must install the Debian package %s (.ci/run)", name, debianPackage)
	}
	t.Skipf("%s not found: install the Debian package %s to run this test", name, debianPackage)
	return ""
}

// Python returns a python3 that can import module: Debian's /usr/bin/python3
// first (where Debian's python3-* packages install), then python3 on PATH.
// Like NeedCommand, it skips locally and fails under CI=true when none can.
func Python(t testing.TB, module, debianPackage string) string {
	t.Helper()
	var tried []string
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		p, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		tried = append(tried, p)
		if module == "" || exec.Command(p, "-c", "import "+module).Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no python3 with module %q (tried %v): CI must install %s (.ci/run)", module, tried, debianPackage)
	}
	t.Skipf("no python3 with module %q (tried %v): install the Debian package %s", module, tried, debianPackage)
	return ""
}

// WaitFor polls cond every few milliseconds until it is true or the
// deadline passes (then the test fails with what).
func WaitFor(t testing.TB, deadline time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", deadline, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
