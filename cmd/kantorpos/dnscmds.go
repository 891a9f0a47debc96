package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/mailauth"
)

func cmdDNS(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageError{"which domain?"}
	}
	verb := "show"
	if args[0] == "check" {
		verb, args = "check", args[1:]
	}
	if len(args) == 0 {
		return usageError{"which domain?"}
	}
	return adminCommand(ctx, e, "dns", args, nil, func(ctx context.Context, ops *admin.Ops, domain string, pos []string) error {
		if len(pos) != 0 {
			return usageError{"one domain at a time"}
		}
		if verb == "show" {
			records, err := ops.DNSRecords(ctx, domain)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "; DNS records for %s (zone-file syntax). Publish them at your DNS provider.\n", domain)
			fmt.Fprint(e.stdout, mailauth.Format(records))
			return nil
		}
		findings, err := ops.CheckDNS(ctx, domain)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STATUS\tTYPE\tNAME\tDETAIL")
		bad := 0
		for _, f := range findings {
			detail := f.Hint
			if f.Status != mailauth.StatusOK {
				bad++
				if detail == "" {
					detail = "want: " + f.Record.Value
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Status, f.Record.Type, f.Record.Name, detail)
		}
		tw.Flush()
		if bad > 0 {
			return fmt.Errorf("%d of %d records are missing or wrong", bad, len(findings))
		}
		fmt.Fprintln(e.stdout, "all records are published")
		return nil
	})
}

func cmdDKIM(ctx context.Context, e *env, args []string) error {
	var delay time.Duration
	setup := func(fs *flag.FlagSet) {
		fs.DurationVar(&delay, "delay", 48*time.Hour, "how long new keys are published before they sign (rotate)")
	}
	return adminCommand(ctx, e, "dkim", args, setup, func(ctx context.Context, ops *admin.Ops, verb string, pos []string) error {
		if len(pos) != 1 {
			return usageError{"which domain?"}
		}
		switch verb {
		case "list", "ls":
			keys, err := ops.DKIMKeys(ctx, pos[0])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SELECTOR\tALGORITHM\tCREATED\tRETIRED")
			for _, k := range keys {
				retired := "-"
				if k.Retired != nil {
					retired = k.Retired.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Selector, k.Algorithm, k.Created.UTC().Format(time.RFC3339), retired)
			}
			return tw.Flush()
		case "rotate":
			rot, err := ops.RotateDKIM(ctx, pos[0], delay)
			if err != nil {
				return err
			}
			for _, k := range rot.New {
				name, value, _ := mailauth.DNSRecord(k)
				fmt.Fprintf(e.stdout, "new key %s (signs from %s); publish now:\n%s TXT %q\n", k.Selector,
					k.Created.UTC().Format(time.RFC3339), name, value)
			}
			fmt.Fprintf(e.stdout, "%d keys retired, %d dropped from DNS\n", len(rot.Retire), len(rot.Drop))
			return nil
		}
		return usageError{fmt.Sprintf("unknown verb %q", verb)}
	})
}
