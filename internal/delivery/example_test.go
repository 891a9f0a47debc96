package delivery_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/delivery"
	"github.com/kantorpos/kantorpos/internal/dns"
	"github.com/kantorpos/kantorpos/internal/dsn"
)

// Example_queueRunner shows how a queue runner uses the two packages:
// one Transport for the process; per due message and destination domain,
// one Deliver call; per recipient, act on Status and, when NOTIFY asks
// for it and the sender is not <>, send a DSN built by dsn.Build (itself
// queued with From "" to the original sender). Compiled, not run.
func Example_queueRunner() {
	tr, err := delivery.New(delivery.Config{
		Resolver: dns.New(""),
		Hostname: "mta.example.org",
		Log:      slog.Default(),
	})
	if err != nil {
		panic(err)
	}
	defer tr.Close()

	// One leased entry: a message for two recipients at example.net.
	path, arrived := "/var/spool/kantorpos/msg-1", time.Now().Add(-time.Hour)
	m := &delivery.Message{
		From:  "alice@example.org",
		Rcpts: []delivery.Rcpt{{Addr: "bob@example.net", Notify: "FAILURE,DELAY"}, {Addr: "carol@example.net"}},
		Size:  1234,
		Open:  func() (io.ReadCloser, error) { return os.Open(path) },
	}
	giveUp := arrived.Add(5 * 24 * time.Hour)
	var report []dsn.Recipient
	for i, r := range tr.Deliver(context.Background(), m) {
		action := dsn.Action("")
		switch {
		case r.Status == delivery.Delivered && !r.PeerDSN:
			action = dsn.Relayed // the next hop will not report (RFC 3461 6.2.3)
		case r.Status == delivery.Delivered:
			action = dsn.Delivered
		case r.Status == delivery.PermFail, time.Now().After(giveUp):
			action = dsn.Failed
		default:
			action = dsn.Delayed // retry later; warn once if the schedule says so
		}
		if dsn.IsNullSender(m.From) || !dsn.ShouldNotify(m.Rcpts[i].Notify, action) {
			continue
		}
		report = append(report, dsn.Recipient{
			Final: r.Rcpt, Original: m.Rcpts[i].ORcpt, Action: action, Status: r.Enhanced,
			RemoteMTA: r.Host, Diagnostic: r.Diagnostic(), Reason: reasonIfLocal(r),
			LastAttempt: r.At, WillRetryUntil: giveUp,
		})
	}
	if len(report) > 0 {
		orig, _ := os.Open(path)
		defer orig.Close()
		msg, err := dsn.Build(dsn.Params{
			Hostname: "mta.example.org", To: m.From, EnvID: m.EnvID, RET: m.RET,
			Arrival: arrived, Date: time.Now(), Recipients: report, Original: orig,
		})
		if err == nil {
			_ = msg // enqueue with From "" and Rcpts {m.From}
		}
	}
}

func reasonIfLocal(r delivery.RcptResult) string {
	if r.Remote {
		return ""
	}
	return strings.TrimSpace(r.Message)
}
