package smtpserver

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/kantorpos/kantorpos/internal/mailaddr"
)

// Replies of the author checks on submission.
var (
	// RFC 5322 3.6: exactly one From field, at most one Sender field.
	errFromCount   = reply(550, 5, 6, 0, "Message needs exactly one From header field (RFC 5322 3.6)")
	errSenderCount = reply(550, 5, 6, 0, "Message has more than one Sender header field (RFC 5322 3.6)")
	errBadAddress  = reply(550, 5, 6, 0, "Unparsable address in a From, Sender or Resent header field")
	errSenderField = reply(553, 5, 7, 1, "Sender or Resent header address not owned by the authenticated user")
	errDisplayName = reply(553, 5, 7, 1, "Display name names an address not owned by the authenticated user")
)

// checkAuthors checks the author fields of a submitted message (RFC 6409
// 8.1 lets the MSA check that the authenticated user may use them):
// exactly one From field, every address of it, of the Sender field and of
// every Resent-From and Resent-Sender field owned by the user, and no
// display name that is an address the user does not own. It returns the
// domain of the first From address (the DKIM signing domain).
func (s *session) checkAuthors(info headerInfo) (fromDomain string, err error) {
	switch {
	case len(info.from) == 0:
		return "", errNoFrom
	case len(info.from) > 1:
		return "", errFromCount
	case len(info.sender) > 1:
		return "", errSenderCount
	}
	doms, err := s.checkOwned(info.from[0], "From", errFromNotOwn)
	if err != nil {
		return "", err
	}
	for _, v := range append(append([]string(nil), info.sender...), info.resent...) {
		if _, err := s.checkOwned(v, "Sender/Resent", errSenderField); err != nil {
			return "", err
		}
	}
	return doms[0], nil
}

// checkOwned checks one address field value; notOwn is the reply for an
// address the user does not own. It returns the domains of the addresses.
func (s *session) checkOwned(value, what string, notOwn error) ([]string, error) {
	list, ok := parseMailboxes(value)
	if !ok {
		return nil, fmt.Errorf("%s: %w", what, errBadAddress)
	}
	var doms []string
	for _, a := range list {
		pa, err := mailaddr.Parse(a.Address)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, a.Address, errBadAddress)
		}
		if err := s.mustOwn(pa, notOwn); err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, a.Address, err)
		}
		names := nameAddresses(a.Name)
		if len(names) > maxNameAddresses {
			return nil, fmt.Errorf("%s display name %q: %w", what, a.Name, errDisplayName)
		}
		for _, na := range names {
			if err := s.mustOwn(na, errDisplayName); err != nil {
				return nil, fmt.Errorf("%s display name %q: %w", what, a.Name, err)
			}
		}
		doms = append(doms, pa.Domain)
	}
	return doms, nil
}

func (s *session) mustOwn(a mailaddr.Address, notOwn error) error {
	own, err := s.owns(a)
	if err != nil {
		return fmt.Errorf("owner check: %w", err)
	}
	if !own {
		return notOwn
	}
	return nil
}

// maxNameAddresses bounds the router lookups one display name costs.
const maxNameAddresses = 8

// nameAddresses returns the addresses written in a (decoded) display
// name, such as "alice@example.test" in `"alice@example.test"
// <bob@example.test>`: a reader sees the display name first, so it must
// not name someone else (issue 19 item 11). Words that do not parse as an
// address are ignored. It stops after maxNameAddresses+1 addresses.
func nameAddresses(name string) []mailaddr.Address {
	if !strings.ContainsAny(name, "@＠") {
		return nil
	}
	words := strings.FieldsFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune("\"'<>()[],;:`", r)
	})
	var out []mailaddr.Address
	for _, w := range words {
		w = strings.ReplaceAll(w, "＠", "@") // a fullwidth at sign reads as one
		if !strings.Contains(w, "@") {
			continue
		}
		a, err := mailaddr.Parse(strings.TrimRight(w, "."))
		if err != nil {
			continue
		}
		if out = append(out, a); len(out) > maxNameAddresses {
			break
		}
	}
	return out
}
