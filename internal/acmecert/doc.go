// Package acmecert gets and renews certificates from an ACME CA (RFC 8555:
// Let's Encrypt or any other) and serves them to every listener through
// tlsconf.Provider.
//
// Decisions:
//   - One certificate per name (the host name, autoconfig.D,
//     autodiscover.D, ...), like autocert: a name whose DNS is not set up
//     yet fails alone and never blocks the host name's renewal.
//   - Certificates are requested ahead of time by a worker (Run), never
//     during a client's handshake: a handshake gets what is there, and
//     the files or the self-signed certificate until the first arrives.
//   - Renewal starts when a third of the lifetime is left (30 days of a
//     90-day certificate), as Let's Encrypt advises. ARI (RFC 9773) is not
//     used: golang.org/x/crypto/acme has no support for it.
//   - Challenges: tls-alpn-01 (RFC 8737) on the HTTPS listener and
//     http-01 on the HTTP listener, in the configured order; after a
//     failure the next attempt uses the next type. Failures back off from
//     10 minutes, doubling to 12 hours (Let's Encrypt allows 5 failed
//     validations per name and hour); Retry (SIGHUP) tries again at once.
//   - Keys are ECDSA P-256. Certificates live in Dir/<CA host>/<name>.pem
//     (so certificates of the staging CA are never served after switching
//     to production), the account key in Dir/account.key, all 0600.
//   - Status (names, validity, last error, next attempt) is kept in memory
//     for the admin web and metrics, and written to Dir/status.json for
//     `kantorpos status`.
package acmecert
