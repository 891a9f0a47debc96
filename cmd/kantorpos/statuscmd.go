package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/kantorpos/kantorpos/internal/acmecert"
	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/server"
	"github.com/kantorpos/kantorpos/internal/tlsprobe"
)

// cmdStatus connects to every configured listener as a client would and
// prints what TLS it offers, then the ACME certificates as the running
// server last recorded them. It reports what is, not what the
// configuration intends: a listener that is down shows as such.
func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "status")
	var d dataFlags
	d.register(fs)
	caFile := fs.String("cafile", "", "PEM `file` of extra roots to verify the certificates with (a private or test CA)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	c, err := d.load(e)
	if err != nil {
		return err
	}
	opts := tlsprobe.Options{ServerName: c.Hostname}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		if opts.Roots, err = x509.SystemCertPool(); err != nil {
			opts.Roots = x509.NewCertPool()
		}
		if !opts.Roots.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no certificate", *caFile)
		}
	}
	ls := server.Listeners(c)
	reports := make([]tlsprobe.Report, len(ls))
	var wg sync.WaitGroup
	for i, l := range ls {
		wg.Go(func() { reports[i] = tlsprobe.Probe(ctx, l, opts) })
	}
	wg.Wait()
	down := printReports(e.stdout, c, reports)
	printACME(e.stdout, c)
	if down > 0 {
		return fmt.Errorf("%d of %d listeners are not reachable", down, len(reports))
	}
	return nil
}

func printReports(w io.Writer, c config.Config, reports []tlsprobe.Report) (down int) {
	fmt.Fprintf(w, "Listeners of %s, probed now from this machine (server name %s):\n", c.Hostname, c.Hostname)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LISTENER\tADDRESS\tTLS\tVERSIONS\tALPN\tTICKETS\tCBC SUITES\tCERTIFICATE")
	for _, r := range reports {
		if !r.Reachable {
			down++
			fmt.Fprintf(tw, "%s\t%s\t%s\tnot reachable\t-\t-\t-\t%v\n", r.Name, r.Addr, r.Mode, r.Err)
			continue
		}
		if r.Mode == tlsprobe.None {
			fmt.Fprintf(tw, "%s\t%s\tnone\t-\t-\t-\t-\t-\n", r.Name, r.Addr)
			continue
		}
		var vs []string
		for _, v := range r.Accepted {
			vs = append(vs, strings.TrimPrefix(tlsprobe.VersionName(v), "TLS"))
		}
		alpn := r.ALPN
		if alpn == "" {
			alpn = "(none)"
		}
		if r.ForeignALPNRefused {
			alpn += ", others refused"
		} else {
			alpn += ", others ACCEPTED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\tTLS %s\t%s\t%s\t%s\t%s\n", r.Name, r.Addr, r.Mode, strings.Join(vs, ","), alpn,
			onOff(r.SessionTickets), onOff(r.LegacyCBC), certSummary(r))
	}
	tw.Flush()
	return down
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func certSummary(r tlsprobe.Report) string {
	if len(r.Chain) == 0 {
		return "none"
	}
	leaf := r.Chain[0]
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	s := fmt.Sprintf("%s; expires %s; issuer %s", strings.Join(names, " "), leaf.NotAfter.UTC().Format(time.DateOnly),
		leaf.Issuer.CommonName)
	if r.VerifyError != "" {
		return s + "; NOT TRUSTED: " + r.VerifyError
	}
	return s + "; trusted"
}

func printACME(w io.Writer, c config.Config) {
	if !c.TLS.ACME {
		src := "a self-signed certificate (" + filepath.Join(c.DataDir, "tls") + ")"
		if c.TLS.CertFile != "" {
			src = c.TLS.CertFile + " (reloaded when it changes)"
		}
		fmt.Fprintf(w, "\nACME is off; the listeners serve %s.\n", src)
		return
	}
	dir := filepath.Join(c.DataDir, "acme")
	st, err := acmecert.ReadStatus(dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(w, "\nACME (%s): no status yet; is the server running?\n", c.TLS.ACMEDirectory)
		return
	}
	if err != nil {
		fmt.Fprintf(w, "\nACME: %v\n", err)
		return
	}
	fmt.Fprintf(w, "\nACME certificates from %s (recorded by the server at %s):\n", st.Directory, st.Updated.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNOT AFTER\tRENEW AT\tISSUER\tLAST ERROR")
	day := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04")
	}
	for _, n := range st.Names {
		last := "-"
		if n.LastError != "" {
			last = fmt.Sprintf("%s (%d failures; next try %s)", n.LastError, n.Failures, day(n.NextAttempt))
		}
		issuer := n.Issuer
		if issuer == "" {
			issuer = "(none yet)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, day(n.NotAfter), day(n.RenewAt), issuer, last)
	}
	tw.Flush()
}
