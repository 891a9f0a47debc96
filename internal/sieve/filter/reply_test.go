package filter

import (
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/store"
)

func TestReplyFrom(t *testing.T) {
	acc := store.Account{Address: "bob@example.test", Domain: "example.test"}
	for in, want := range map[string]string{
		"":                                "bob@example.test",
		"sales@example.test":              "sales@example.test",
		"Bob Sales <sales@Example.Test>":  "sales@Example.Test",
		"ceo@bank.test":                   "bob@example.test",
		"\"x\" <ceo@bank.test>":           "bob@example.test",
		"not an address":                  "bob@example.test",
		"a@example.test\r\nBcc: x@y.test": "bob@example.test",
	} {
		if got := replyFrom(in, acc); got != want {
			t.Errorf("replyFrom(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReplyText(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "Refused by the recipient's filter",
		"Go away.\r\n550 injected": "Go away. 550 injected",
		"Grüße":                    "Gr????e",
	} {
		if got := replyText(in); got != want {
			t.Errorf("replyText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHeaderAddresses(t *testing.T) {
	for in, want := range map[string]string{
		"Bob <bob@example.test>, xbob@example.test": "bob@example.test xbob@example.test",
		"undisclosed-recipients:;":                  "",
		"bob@example.test; (broken <x@y.test>":      "bob@example.test x@y.test",
	} {
		if got := strings.Join(headerAddresses(in), " "); got != want {
			t.Errorf("headerAddresses(%q) = %q, want %q", in, got, want)
		}
	}
}
