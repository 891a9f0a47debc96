package main

import (
	"runtime/debug"
	"strings"
)

// buildVersion says which kantorpos this is: the version set with
// -ldflags, else the module version of a `go install ...@vX`, else the
// VCS revision and commit time that `go build` in a checkout records
// (with "+dirty" for uncommitted changes), else "built from source".
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown build)"
	}
	return versionFrom(bi)
}

func versionFrom(bi *debug.BuildInfo) string {
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	rev := settings["vcs.revision"]
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && settings["vcs.modified"] == "true" {
		rev += "+dirty"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = ""
	}
	var parts []string
	if v != "" {
		parts = append(parts, v)
	}
	if rev != "" {
		r := "revision " + rev
		if t := settings["vcs.time"]; t != "" {
			r += " of " + t
		}
		parts = append(parts, r)
	}
	if len(parts) == 0 { // go run, or a build outside a checkout
		return "built from source (" + bi.GoVersion + ")"
	}
	return strings.Join(parts, ", ") + " (" + bi.GoVersion + ")"
}
