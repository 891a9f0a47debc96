package acmecert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/acme"
)

// issue runs one order for name (RFC 8555 7.4): authorize with a
// challenge of type preferred (or another configured type the CA offers),
// finalize with a new key, fetch the chain.
func (m *Manager) issue(ctx context.Context, name, preferred string) (*tls.Certificate, error) {
	if err := m.register(ctx); err != nil {
		return nil, err
	}
	c := m.client
	order, err := c.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		return nil, fmt.Errorf("new order: %w", err)
	}
	for _, u := range order.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("authorization: %w", err)
		}
		switch z.Status {
		case acme.StatusValid:
			continue // authorized recently (the CA reuses it)
		case acme.StatusPending:
		default:
			return nil, fmt.Errorf("authorization for %s is %s", z.Identifier.Value, z.Status)
		}
		if err := m.authorize(ctx, z, preferred); err != nil {
			return nil, err
		}
	}
	order, err = c.WaitOrder(ctx, order.URI)
	if err != nil {
		return nil, fmt.Errorf("order: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
	if err != nil {
		return nil, err
	}
	der, _, err := c.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return nil, fmt.Errorf("finalize: %w", err)
	}
	return makeCert(der, key, name)
}

// authorize fulfils one pending authorization.
func (m *Manager) authorize(ctx context.Context, z *acme.Authorization, preferred string) error {
	order := append([]string{preferred}, m.o.Challenges...)
	var chal *acme.Challenge
	for _, typ := range order {
		i := slices.IndexFunc(z.Challenges, func(ch *acme.Challenge) bool { return ch.Type == typ })
		if i >= 0 {
			chal = z.Challenges[i]
			break
		}
	}
	if chal == nil {
		return fmt.Errorf("the CA offers none of the challenges %v for %s", m.o.Challenges, z.Identifier.Value)
	}
	remove, err := m.chal.prepare(m.client, chal, z.Identifier.Value)
	if err != nil {
		return err
	}
	defer remove()
	if _, err := m.client.Accept(ctx, chal); err != nil {
		return fmt.Errorf("accept %s challenge: %w", chal.Type, err)
	}
	if _, err := m.client.WaitAuthorization(ctx, z.URI); err != nil {
		var ae *acme.AuthorizationError
		if errors.As(err, &ae) {
			return fmt.Errorf("%s challenge failed: %w", chal.Type, ae)
		}
		return fmt.Errorf("%s challenge: %w", chal.Type, err)
	}
	return nil
}

// makeCert checks what the CA sent: a leaf for name, with our key.
func makeCert(der [][]byte, key *ecdsa.PrivateKey, name string) (*tls.Certificate, error) {
	if len(der) == 0 {
		return nil, errors.New("the CA sent no certificate")
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return nil, fmt.Errorf("certificate from the CA: %w", err)
	}
	if err := leaf.VerifyHostname(name); err != nil {
		return nil, fmt.Errorf("certificate from the CA: %w", err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("certificate from the CA: not for our key")
	}
	if !leaf.NotAfter.After(leaf.NotBefore) {
		return nil, errors.New("certificate from the CA: empty validity")
	}
	return &tls.Certificate{Certificate: der, PrivateKey: key, Leaf: leaf}, nil
}
