package mailauth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// ErrNoSigningKey is returned by Sign when no key signs at the given time.
var ErrNoSigningKey = errors.New("mailauth: no active DKIM key")

// ErrNotOneFrom is returned by Sign for a message without exactly one From
// field (RFC 5322 3.6): signing it would vouch for an author that readers
// may not see (issue 19 item 1).
var ErrNotOneFrom = errors.New("mailauth: message needs exactly one From field to be signed")

// signedHeaders lists the header fields we sign (RFC 6376 5.4.1). From is
// listed twice ("oversigned", RFC 6376 8.15): the second, absent instance
// makes the signature fail if anyone adds another From field.
func signedHeaders() []string {
	return []string{
		"From", "From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
		"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
		"In-Reply-To", "References",
	}
}

// signingKeys picks, per algorithm, the newest key that signs at now.
func signingKeys(keys []DKIMKey, now time.Time) []DKIMKey {
	var out []DKIMKey
	for _, alg := range []string{AlgEd25519, AlgRSA} {
		var best *DKIMKey
		for i := range keys {
			k := &keys[i]
			if k.Algorithm == alg && k.Signs(now) && (best == nil || k.Created.After(best.Created)) {
				best = k
			}
		}
		if best != nil {
			out = append(out, *best)
		}
	}
	return out
}

// Sign computes DKIM signatures for the message read from r: one with the
// newest signing key (DKIMKey.Signs) of each algorithm, so normally an
// ed25519 signature (RFC 8463) and an RSA one for verifiers without
// ed25519, with relaxed/relaxed canonicalization and sha256. It returns
// the DKIM-Signature header fields, CRLF-terminated, to prepend to the
// message unchanged: the caller streams its spool file after them.
//
// Only the header section is held in memory (at most DefaultMaxHeaderBytes);
// the body is hashed as it streams. The t= tag comes from the wall clock
// (go-msgauth has no clock hook); now selects the keys.
func Sign(ctx context.Context, r io.Reader, keys []DKIMKey, now time.Time) ([]byte, error) {
	active := signingKeys(keys, now)
	if len(active) == 0 {
		return nil, ErrNoSigningKey
	}
	signers := make([]*dkim.Signer, 0, len(active))
	writers := make([]io.Writer, 0, len(active))
	defer func() {
		for _, s := range signers {
			s.Close() //nolint:errcheck // only reached on error paths, or a second Close
		}
	}()
	for _, k := range active {
		priv, err := k.signer()
		if err != nil {
			return nil, err
		}
		s, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:                 k.Domain,
			Selector:               k.Selector,
			Signer:                 priv,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             signedHeaders(),
		})
		if err != nil {
			return nil, fmt.Errorf("mailauth: sign with %s: %w", k.Selector, err)
		}
		signers = append(signers, s)
		writers = append(writers, s)
	}

	br := bufio.NewReader(ctxReader{ctx, r})
	header, err := readHeader(br, DefaultMaxHeaderBytes)
	if err != nil {
		return nil, fmt.Errorf("mailauth: sign: %w", err)
	}
	// splitFields takes "From :" for a From field too: such a message is
	// refused rather than signed with h=From:From.
	if len(fieldsNamed(splitFields(header), "From")) != 1 {
		return nil, ErrNotOneFrom
	}
	w := io.MultiWriter(writers...)
	if _, err := w.Write(header); err != nil {
		return nil, fmt.Errorf("mailauth: sign: %w", err)
	}
	if _, err := io.Copy(w, br); err != nil {
		return nil, fmt.Errorf("mailauth: sign: %w", err)
	}
	var out []byte
	for i, s := range signers {
		if err := s.Close(); err != nil {
			return nil, fmt.Errorf("mailauth: sign with %s: %w", active[i].Selector, err)
		}
		out = append(out, s.Signature()...)
	}
	return out, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
