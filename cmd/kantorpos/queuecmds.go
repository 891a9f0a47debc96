package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/store"
)

func cmdQueue(ctx context.Context, e *env, args []string) error {
	return adminCommand(ctx, e, "queue", args, nil, func(ctx context.Context, ops *admin.Ops, verb string, pos []string) error {
		id := func() (int64, error) {
			if len(pos) != 1 {
				return 0, usageError{"want one queue id"}
			}
			n, err := strconv.ParseInt(pos[0], 10, 64)
			if err != nil || n <= 0 {
				return 0, usageError{fmt.Sprintf("bad queue id %q", pos[0])}
			}
			return n, nil
		}
		switch verb {
		case "list", "ls":
			domain := ""
			if len(pos) > 0 {
				domain = pos[0]
			}
			entries, err := ops.QueueList(ctx, domain, 0)
			if err != nil {
				return err
			}
			printQueue(e, entries)
		case "show":
			n, err := id()
			if err != nil {
				return err
			}
			en, err := ops.QueueShow(ctx, n)
			if err != nil {
				return err
			}
			printEntry(e, en)
		case "retry":
			var n int64
			if !(len(pos) == 1 && pos[0] == "all") {
				var err error
				if n, err = id(); err != nil {
					return err
				}
			}
			count, err := ops.QueueRetry(ctx, n)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%d entries will be tried again now\n", count)
		case "delete", "del", "rm":
			n, err := id()
			if err != nil {
				return err
			}
			if err := ops.QueueDelete(ctx, n); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "queue entry %d deleted (the sender was not told)\n", n)
		case "bounce":
			n, err := id()
			if err != nil {
				return err
			}
			if err := ops.QueueBounce(ctx, n); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "queue entry %d returned to its sender\n", n)
		default:
			return usageError{fmt.Sprintf("unknown verb %q", verb)}
		}
		return nil
	})
}

func pendingRcpts(en store.QueueEntry) []string {
	var out []string
	for _, r := range en.Rcpts {
		if r.Status == store.RcptPending {
			out = append(out, r.Addr)
		}
	}
	return out
}

func printQueue(e *env, entries []store.QueueEntry) {
	if len(entries) == 0 {
		fmt.Fprintln(e.stdout, "the queue is empty")
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSENDER\tRECIPIENTS\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
	for _, en := range entries {
		from := en.From
		if from == "" {
			from = "<>"
		}
		last := en.LastError
		if len(last) > 80 {
			last = last[:77] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", en.ID, from, strings.Join(pendingRcpts(en), ","), en.Attempts,
			en.NextAttempt.Local().Format(time.DateTime), last)
	}
	tw.Flush()
}

func printEntry(e *env, en store.QueueEntry) {
	from := en.From
	if from == "" {
		from = "<>"
	}
	fmt.Fprintf(e.stdout, "id:            %d\nsender:        %s\ndomain:        %s\nsize:          %d bytes\n", en.ID, from, en.Domain, en.Blob.Size+int64(len(en.Prefix)))
	fmt.Fprintf(e.stdout, "queued:        %s\nattempts:      %d\n", en.Created.Local().Format(time.DateTime), en.Attempts)
	if !en.LastAttempt.IsZero() {
		fmt.Fprintf(e.stdout, "last attempt:  %s\n", en.LastAttempt.Local().Format(time.DateTime))
	}
	fmt.Fprintf(e.stdout, "next attempt:  %s\n", en.NextAttempt.Local().Format(time.DateTime))
	if en.LastError != "" {
		fmt.Fprintf(e.stdout, "last error:    %s\n", en.LastError)
	}
	if en.LeaseOwner != "" && en.LeaseUntil.After(time.Now()) {
		fmt.Fprintf(e.stdout, "being sent by: %s\n", en.LeaseOwner)
	}
	fmt.Fprintln(e.stdout, "recipients:")
	for _, r := range en.Rcpts {
		line := fmt.Sprintf("  %-40s %s", r.Addr, r.Status)
		if r.LastError != "" {
			line += "  " + r.LastError
		}
		fmt.Fprintln(e.stdout, line)
	}
}
