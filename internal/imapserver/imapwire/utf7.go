package imapwire

import (
	"errors"

	"github.com/kantorpos/kantorpos/internal/mailio/mutf7"
)

// Modified UTF-7 for mailbox names (RFC 3501 §5.1.3), from package mutf7.
// On the wire it is read strictly: only the canonical spelling (printable
// ASCII never encoded, one encoded run per stretch of other characters) is
// accepted, so that one name has one spelling.

var errUTF7 = errors.New("invalid modified UTF-7")

// DecodeUTF7 decodes a modified UTF-7 mailbox name.
func DecodeUTF7(s string) (string, error) {
	d, err := mutf7.Decode(s)
	if err != nil || mutf7.Encode(d) != s {
		return "", errUTF7
	}
	return d, nil
}

// EncodeUTF7 encodes a mailbox name in modified UTF-7.
func EncodeUTF7(s string) string { return mutf7.Encode(s) }
