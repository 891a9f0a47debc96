package mailio

import (
	"testing"

	"github.com/kantorpos/kantorpos/internal/mailio/dovecottest"
	"github.com/kantorpos/kantorpos/internal/mailio/mailiotest"
)

// TestImportDovecotMaildir imports the Maildir++ tree that a real Dovecot
// wrote (dovecot-lda deliveries in new/, APPENDs with flags and keywords,
// a hierarchy and a non-ASCII folder name) and compares the result with
// what Dovecot reports over IMAP.
func TestImportDovecotMaildir(t *testing.T) {
	t.Parallel()
	dv := dovecottest.Start(t)
	dv.Fill(t)
	want := dv.Contents(t)
	if len(want) != 5 { // INBOX, Work, Work/Sub, Entwürfe, Sent Items
		t.Fatalf("Dovecot folders: %+v", want)
	}
	e := newEnv(t)
	a := e.account(t, "alice@example.test")
	im := e.importer(a)
	if err := im.ImportMaildir(ctx, dv.Maildir()); err != nil {
		t.Fatal(err)
	}
	if im.Summary.Messages != 14 || im.Summary.Errors != 0 || im.Summary.Created != 4 {
		t.Fatalf("import: %s %q", im.Summary.String(), im.Summary.ErrorSamples)
	}
	if n := mailiotest.Compare(t, e.st, a.ID, want, func(f dovecottest.Folder) string { return f.Name }); n != 14 {
		t.Fatalf("compared %d messages", n)
	}
	// Importing again adds nothing.
	im2 := e.importer(a)
	if err := im2.ImportMaildir(ctx, dv.Maildir()); err != nil || im2.Summary.Messages != 0 || im2.Summary.Duplicates != 14 {
		t.Fatalf("second import: %v %s", err, im2.Summary.String())
	}
}
