package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/kantorpos/kantorpos/internal/config"
)

func cmdConfig(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"missing verb (check or default)"}
	}
	fs := newFlags(e, "config")
	path := fs.String("config", "", "configuration `file` to check (default: $KANTORPOS_CONFIG, else "+SystemConfig+")")
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
		p := e.configPath(*path)
		if p == "" {
			return usageError{"which file? (-config FILE, or KANTORPOS_CONFIG)"}
		}
		return checkConfig(ctx, e, p)
	}
	return usageError{fmt.Sprintf("unknown verb %q", args[0])}
}

// checkConfig reads a configuration, validates it and checks it against
// this machine (config.CheckEnvironment), and names every problem with its
// key and line.
func checkConfig(ctx context.Context, e *env, path string) error {
	c, err := config.Load(path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	probs, warnings := c.CheckEnvironment(ctx)
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "%s: warning: %s\n", path, w)
	}
	if len(probs) > 0 {
		for _, p := range probs.WithLines(data) {
			fmt.Fprintf(e.stderr, "%s: %s\n", path, config.Problems{p}.Error())
		}
		return errors.New("the configuration has mistakes (above)")
	}
	fmt.Fprintf(e.stdout, "%s: ok\n", path)
	return nil
}
