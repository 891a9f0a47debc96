package adminweb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/kantorpos/kantorpos/internal/testenv"
)

// browser starts headless Chromium (Debian's package chromium; the test
// skips without it, and fails under CI=true) with a phone-sized window.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := testenv.NeedCommand(t, "chromium", "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// The machine has no network beyond loopback: no background calls.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844), // a phone
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first call starts the browser, which lives as long as bctx: no
	// timeout on it; the steps run under one derived from it.
	// A phone's viewport: 390 CSS pixels wide, as a mobile device.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		t.Fatalf("%s: %v\npage: %.3000s", what, err, html)
	}
}

// text returns the text of the first element sel matches (it waits for it).
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		t.Fatalf("text of %s: %v\npage: %.3000s", sel, err, html)
	}
	return s
}

func signInBrowser(t *testing.T, ctx context.Context, base, path, addr, pass string) {
	t.Helper()
	run(t, ctx, "sign in",
		chromedp.Navigate(base+path),
		chromedp.WaitVisible(chromedp.CSS(`#login`)),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=address]`), addr),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=password]`), pass),
		chromedp.Submit(chromedp.CSS(`#login`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#login`)),
	)
}

// waitText waits until the element sel matches contains want, and returns
// its text. It asks with plain JavaScript, retrying, because a click that
// submits a form replaces the document under any node a query holds.
func waitText(t *testing.T, ctx context.Context, sel, want string) string {
	t.Helper()
	js := fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)
	var got string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err == nil {
			got = s
			if strings.Contains(s, want) {
				return s
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %q in %s: %v", want, sel, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	t.Fatalf("%s: %q, want %q\npage: %.3000s", sel, got, want, html)
	return ""
}

// flash waits for the outcome message of an action.
func flash(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	waitText(t, ctx, `main p.flash, main p.error`, want)
}

// fitsPhone checks the page needs no sideways scrolling at phone width.
func fitsPhone(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil {
		t.Fatal(err)
	}
	iw, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if w > iw+1 || iw > 400 {
		t.Errorf("%s is %d px wide in a window %d px wide (a phone's is about 390)", page, w, iw)
	}
}

func imapLogin(t *testing.T, e *testenv.Env, user, pass string) error {
	t.Helper()
	c, err := imapclient.DialTLS(e.Addr["imaps"], &imapclient.Options{TLSConfig: e.ClientTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		return err
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("select INBOX: %v", err)
	}
	return c.Logout().Wait()
}

// An administrator signs in, creates an account that then works over IMAP,
// checks the DNS records, and retries a deferred message, which is then
// delivered.
func TestBrowserAdmin(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	f, peer := startPair(t, false)
	e := f.e

	signInBrowser(t, ctx, f.base, "/admin/", adminAddr, adminPass)
	run(t, ctx, "dashboard", chromedp.WaitVisible(chromedp.CSS(`#received-today`)))
	txt := text(t, ctx, `main`)
	if !strings.Contains(txt, "Services") || !strings.Contains(txt, "Certificate") {
		t.Fatalf("dashboard: %s", txt)
	}
	fitsPhone(t, ctx, "the dashboard")

	// Create an account.
	run(t, ctx, "new account form",
		chromedp.Navigate(f.base+"/admin/accounts"),
		chromedp.Click(chromedp.CSS(`details.card > summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-account`)),
		chromedp.SendKeys(chromedp.CSS(`#new-account input[name=address]`), "newbie@example.test"),
		chromedp.SendKeys(chromedp.CSS(`#new-account input[name=password]`), "newbie password 1"),
		chromedp.SendKeys(chromedp.CSS(`#new-account input[name=quota]`), "100MiB"),
		chromedp.Submit(chromedp.CSS(`#new-account`)),
	)
	flash(t, ctx, "Account newbie@example.test created")
	run(t, ctx, "account listed", chromedp.WaitVisible(chromedp.CSS(`tr[data-address="newbie@example.test"]`)))
	fitsPhone(t, ctx, "the accounts page")
	if err := imapLogin(t, e, "newbie@example.test", "newbie password 1"); err != nil {
		t.Fatalf("the new account cannot log in over IMAP: %v", err)
	}
	if acc, _ := e.Server.Ops.Account(ctx, "newbie@example.test"); acc.QuotaBytes != 100<<20 {
		t.Fatalf("quota = %d", acc.QuotaBytes)
	}

	// DNS: "check now" says what is missing.
	run(t, ctx, "dns check",
		chromedp.Navigate(f.base+"/admin/dns?domain=example.test"),
		chromedp.WaitVisible(chromedp.CSS(`#dns-records`)),
		chromedp.Click(chromedp.CSS(`#check-now`)),
	)
	waitText(t, ctx, `#dns-summary`, "missing or wrong")

	// A message for b.test waits (its DNS fails); the queue page shows the
	// last error; once b.test resolves, Retry delivers it.
	id := queueMessage(t, e, userAddr, "bob@b.test")
	waitAttempts(t, e, id, 1)
	row := fmt.Sprintf(`#queue tr[data-id="%d"]`, id)
	run(t, ctx, "queue page",
		chromedp.Navigate(f.base+"/admin/queue"),
		chromedp.WaitVisible(chromedp.CSS(row)),
	)
	if txt := text(t, ctx, row+` td.lasterror`); strings.TrimSpace(txt) == "" || txt == "-" {
		t.Fatalf("no last error shown: %q", txt)
	}
	fitsPhone(t, ctx, "the queue page")
	e.DNS.ServFail("b.test.", false)
	run(t, ctx, "retry", chromedp.Click(chromedp.CSS(row+` button.retry`)))
	flash(t, ctx, "1 message(s) will be retried now")
	testenv.WaitFor(t, 20*time.Second, "delivery after retry", func() bool {
		_, err := e.Server.Ops.QueueShow(context.Background(), id)
		return err != nil
	})
	bob, _ := peer.Store.Account(context.Background(), "bob@b.test")
	if st, _ := peer.Store.MailboxStatus(context.Background(), peer.Inbox(t, bob.ID).ID); st.Messages != 1 {
		t.Fatalf("bob's inbox has %d messages", st.Messages)
	}
	run(t, ctx, "queue empty", chromedp.Navigate(f.base+"/admin/queue"))
	if txt := text(t, ctx, `#queue`); !strings.Contains(txt, "The queue is empty") {
		t.Fatalf("queue after delivery: %q", txt)
	}
}

// A user signs in with their mail password and changes it; the new one
// works over IMAP, the old one no longer does.
func TestBrowserUserPage(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	f := start(t, nil)
	signInBrowser(t, ctx, f.base, "/", userAddr, userPass)
	run(t, ctx, "own page", chromedp.WaitVisible(chromedp.CSS(`#change-password`)))
	if txt := text(t, ctx, `main`); !strings.Contains(txt, userAddr) || !strings.Contains(txt, "Settings for your mail program") {
		t.Fatalf("user page: %s", txt)
	}
	fitsPhone(t, ctx, "the user page")
	run(t, ctx, "change password",
		chromedp.SendKeys(chromedp.CSS(`#change-password input[name=current]`), userPass),
		chromedp.SendKeys(chromedp.CSS(`#change-password input[name=new]`), "amy brand new pw"),
		chromedp.SendKeys(chromedp.CSS(`#change-password input[name=repeat]`), "amy brand new pw"),
		chromedp.Submit(chromedp.CSS(`#change-password`)),
	)
	flash(t, ctx, "Password changed")
	if err := imapLogin(t, f.e, userAddr, "amy brand new pw"); err != nil {
		t.Fatalf("the new password does not work over IMAP: %v", err)
	}
	if err := imapLogin(t, f.e, userAddr, userPass); err == nil {
		t.Fatal("the old password still works over IMAP")
	}
	// Forwarding and an away message are stored.
	run(t, ctx, "settings",
		chromedp.SendKeys(chromedp.CSS(`#settings input[name=forward_to]`), "amy@elsewhere.test"),
		chromedp.Click(chromedp.CSS(`#settings input[name=away_enabled]`)),
		chromedp.SendKeys(chromedp.CSS(`#settings input[name=away_subject]`), "Away"),
		chromedp.SendKeys(chromedp.CSS(`#settings textarea[name=away_body]`), "Back on Monday."),
		chromedp.Submit(chromedp.CSS(`#settings`)),
	)
	flash(t, ctx, "Settings saved")
	st, err := f.e.Server.Ops.Settings(context.Background(), userAddr)
	if err != nil || st.ForwardTo != "amy@elsewhere.test" || !st.AwayEnabled || st.AwayBody != "Back on Monday." {
		t.Fatalf("settings = %+v, %v", st, err)
	}
	// The admin pages are not for users.
	run(t, ctx, "admin page", chromedp.Navigate(f.base+"/admin/"))
	if txt := text(t, ctx, `main`); !strings.Contains(txt, "This page is for administrators") {
		t.Fatalf("user on /admin/: %s", txt)
	}
}
