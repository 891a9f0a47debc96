package main

import (
	"context"
	"fmt"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/config"
)

// userSetting runs `user admin ADDR on|off`, `user quota ADDR SIZE`,
// `user disable ADDR` and `user enable ADDR`.
func userSetting(ctx context.Context, e *env, ops *admin.Ops, verb string, pos []string) error {
	switch verb {
	case "admin":
		if len(pos) != 2 || (pos[1] != "on" && pos[1] != "off") {
			return usageError{"want: user admin ADDRESS on|off"}
		}
		if err := ops.SetAdmin(ctx, pos[0], pos[1] == "on"); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "administrator rights of %s: %s\n", pos[0], pos[1])
	case "quota":
		if len(pos) != 2 {
			return usageError{"want: user quota ADDRESS SIZE (like 2GiB; 0 = no limit)"}
		}
		var size config.ByteSize
		if err := size.UnmarshalText([]byte(pos[1])); err != nil {
			return usageError{fmt.Sprintf("quota %q: %v", pos[1], err)}
		}
		if err := ops.SetQuota(ctx, pos[0], int64(size)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "quota of %s: %s\n", pos[0], pos[1])
	case "disable", "enable":
		if err := want(pos, 1, "one account address"); err != nil {
			return err
		}
		if err := ops.SetDisabled(ctx, pos[0], verb == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "account %s %sd\n", pos[0], verb)
	}
	return nil
}

func cmdToken(ctx context.Context, e *env, args []string) error {
	return adminCommand(ctx, e, "token", args, nil, func(ctx context.Context, ops *admin.Ops, verb string, pos []string) error {
		switch verb {
		case "add":
			if err := want(pos, 1, "one token name"); err != nil {
				return err
			}
			secret, err := ops.AddToken(ctx, pos[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "token %s added; it is shown once, keep it now (send it as \"Authorization: Bearer TOKEN\"):\n", pos[0])
			fmt.Fprintln(e.stdout, secret)
		case "del", "delete", "rm":
			if err := want(pos, 1, "one token name"); err != nil {
				return err
			}
			if err := ops.DeleteToken(ctx, pos[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "token %s deleted\n", pos[0])
		case "list", "ls":
			toks, err := ops.Tokens(ctx)
			if err != nil {
				return err
			}
			for _, t := range toks {
				fmt.Fprintf(e.stdout, "%s\tcreated %s\n", t.Name, t.Created.Format("2006-01-02 15:04"))
			}
		default:
			return usageError{fmt.Sprintf("unknown verb %q", verb)}
		}
		return nil
	})
}
