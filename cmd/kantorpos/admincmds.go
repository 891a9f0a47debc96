package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/kantorpos/kantorpos/internal/admin"
)

// adminCommand parses "VERB args... [flags]" for domain/user/alias.
// setup, when not nil, registers the command's own flags.
func adminCommand(ctx context.Context, e *env, name string, args []string, setup func(*flag.FlagSet),
	do func(ctx context.Context, ops *admin.Ops, verb string, pos []string) error) error {
	fs := newFlags(e, name)
	var d dataFlags
	d.register(fs)
	if setup != nil {
		setup(fs)
	}
	if len(args) == 0 {
		return usageError{"missing verb"}
	}
	verb := args[0]
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	c, err := d.load(e)
	if err != nil {
		return err
	}
	ops, closeFn, err := openOps(ctx, e, c)
	if err != nil {
		return err
	}
	defer closeFn()
	return do(ctx, ops, verb, pos)
}

func want(pos []string, n int, what string) error {
	if len(pos) != n {
		return usageError{fmt.Sprintf("want %s", what)}
	}
	return nil
}

func cmdDomain(ctx context.Context, e *env, args []string) error {
	return adminCommand(ctx, e, "domain", args, nil, func(ctx context.Context, ops *admin.Ops, verb string, pos []string) error {
		switch verb {
		case "add":
			if err := want(pos, 1, "one domain name"); err != nil {
				return err
			}
			if err := ops.AddDomain(ctx, pos[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "domain %s added\n", pos[0])
		case "del", "delete", "rm":
			if err := want(pos, 1, "one domain name"); err != nil {
				return err
			}
			if err := ops.DeleteDomain(ctx, pos[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "domain %s deleted\n", pos[0])
		case "list", "ls":
			ds, err := ops.Domains(ctx)
			if err != nil {
				return err
			}
			for _, d := range ds {
				fmt.Fprintln(e.stdout, d.Name)
			}
		default:
			return usageError{fmt.Sprintf("unknown verb %q", verb)}
		}
		return nil
	})
}

func cmdUser(ctx context.Context, e *env, args []string) error {
	var fromStdin, asAdmin bool
	setup := func(fs *flag.FlagSet) {
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
		fs.BoolVar(&asAdmin, "admin", false, "user add: the account may use the admin web page and API")
	}
	return adminCommand(ctx, e, "user", args, setup, func(ctx context.Context, ops *admin.Ops, verb string, pos []string) error {
		switch verb {
		case "add", "passwd":
			if err := want(pos, 1, "one account address"); err != nil {
				return err
			}
			pw, err := readPassword(e, fromStdin)
			if err != nil {
				return err
			}
			if verb == "add" {
				if _, err := ops.AddUser(ctx, pos[0], pw); err != nil {
					return err
				}
				if asAdmin {
					if err := ops.SetAdmin(ctx, pos[0], true); err != nil {
						return err
					}
				}
				fmt.Fprintf(e.stdout, "account %s added%s\n", pos[0], map[bool]string{true: " (administrator)"}[asAdmin])
				return nil
			}
			if err := ops.SetPassword(ctx, pos[0], pw); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "password of %s changed\n", pos[0])
		case "del", "delete", "rm":
			if err := want(pos, 1, "one account address"); err != nil {
				return err
			}
			if err := ops.DeleteUser(ctx, pos[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "account %s deleted with all its mail\n", pos[0])
		case "admin", "quota", "disable", "enable":
			return userSetting(ctx, e, ops, verb, pos)
		case "list", "ls":
			domain := ""
			if len(pos) > 0 {
				domain = pos[0]
			}
			users, err := ops.Users(ctx, domain)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ADDRESS\tUSED\tQUOTA\tSTATE")
			for _, u := range users {
				state, quota := "active", "-"
				if u.Disabled {
					state = "disabled"
				}
				if u.Admin {
					state += ",admin"
				}
				if u.QuotaBytes > 0 {
					quota = fmt.Sprint(u.QuotaBytes)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", u.Address, u.UsedBytes, quota, state)
			}
			tw.Flush()
		default:
			return usageError{fmt.Sprintf("unknown verb %q", verb)}
		}
		return nil
	})
}

func cmdAlias(ctx context.Context, e *env, args []string) error {
	return adminCommand(ctx, e, "alias", args, nil, func(ctx context.Context, ops *admin.Ops, verb string, pos []string) error {
		switch verb {
		case "add":
			if err := want(pos, 2, "an alias address (or @domain) and a target"); err != nil {
				return err
			}
			if err := ops.AddAlias(ctx, pos[0], pos[1]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "alias %s → %s added\n", pos[0], pos[1])
		case "del", "delete", "rm":
			if len(pos) < 1 || len(pos) > 2 {
				return usageError{"want an alias address and optionally one target"}
			}
			target := ""
			if len(pos) == 2 {
				target = pos[1]
			}
			if err := ops.DeleteAlias(ctx, pos[0], target); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "alias %s deleted\n", pos[0])
		case "list", "ls":
			domain := ""
			if len(pos) > 0 {
				domain = pos[0]
			}
			as, err := ops.Aliases(ctx, domain)
			if err != nil {
				return err
			}
			for _, a := range as {
				fmt.Fprintf(e.stdout, "%s → %s\n", a.Address, a.Target)
			}
		default:
			return usageError{fmt.Sprintf("unknown verb %q", verb)}
		}
		return nil
	})
}
