package adminweb

import (
	"reflect"
	"testing"

	"github.com/kantorpos/kantorpos/internal/admin"
	"github.com/kantorpos/kantorpos/internal/config"
)

func TestClientSettings(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.Hostname = "mail.example.org"
	c.POP3.Listen = "" // POP3 with STLS off
	got := clientSettings(admin.PublishedFromConfig(c), "amy@example.org")
	want := []clientService{
		{"IMAP (incoming)", "mail.example.org", 993, "SSL/TLS", "amy@example.org"},
		{"IMAP (incoming)", "mail.example.org", 143, "STARTTLS", "amy@example.org"},
		{"POP3 (incoming)", "mail.example.org", 995, "SSL/TLS", "amy@example.org"},
		{"SMTP (outgoing)", "mail.example.org", 465, "SSL/TLS", "amy@example.org"},
		{"SMTP (outgoing)", "mail.example.org", 587, "STARTTLS", "amy@example.org"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("client settings:\n%+v\nwant\n%+v", got, want)
	}
}
