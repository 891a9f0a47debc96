package main

import (
	"context"
	"fmt"

	"github.com/kantorpos/kantorpos/internal/config"
)

func cmdConfig(_ context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing verb (check or default)"}
	}
	fs := newFlags(e, "config")
	path := fs.String("config", "", "configuration `file` to check")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "default":
		fmt.Fprint(e.stdout, config.DefaultText)
		return nil
	case "check":
		if *path == "" && len(pos) == 1 {
			*path = pos[0]
		}
		if *path == "" {
			return usageError{"which file? (-config FILE)"}
		}
		if _, err := config.Load(*path); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: ok\n", *path)
		return nil
	}
	return usageError{fmt.Sprintf("unknown verb %q", args[0])}
}
