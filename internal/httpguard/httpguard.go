// Package httpguard refuses, before any handler runs, the HTTP requests
// our web listeners never serve: request bodies framed by
// Transfer-Encoding (the request-smuggling vector) and paths that are not
// UTF-8. Both the admin listener and the public web listener wrap their
// handlers with Requests.
package httpguard

import (
	"log/slog"
	"net/http"
	"unicode/utf8"

	"github.com/kantorpos/kantorpos/internal/logfield"
)

// Requests wraps next with the checks below; log receives one line per
// refused request.
func Requests(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// RFC 9112 6.3: a request with both Content-Length and
		// Transfer-Encoding "might indicate an attempt to perform request
		// smuggling"; the server "MUST close the connection after
		// responding". Go's server reads such a request by its chunked
		// body and drops Content-Length before a handler sees it, so both
		// cannot be told apart from chunked alone: every HTTP/1 request
		// body without a Content-Length is refused with 411 (Length
		// Required, which RFC 9112 6.3 allows a server to answer to a body
		// without Content-Length), and the connection is closed. Browsers,
		// curl and mail clients send Content-Length with the small bodies
		// we accept; HTTP/2 has no Transfer-Encoding.
		if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
			log.Warn("http: request with Transfer-Encoding refused", "method", sanitize(r.Method),
				"path", sanitize(r.URL.Path), "transfer_encoding", sanitize(r.TransferEncoding[0]), "ip", r.RemoteAddr)
			refuse(w, http.StatusLengthRequired, "request bodies need a Content-Length (Transfer-Encoding is not accepted)")
			return
		}
		// RFC 3986 2.5 and RFC 3987: our paths are UTF-8; percent-escapes
		// that decode to anything else (overlong forms such as %C0%AF,
		// stray bytes such as %FF) name nothing here.
		if !utf8.ValidString(r.URL.Path) {
			log.Info("http: path is not UTF-8", "path", sanitize(r.URL.EscapedPath()), "ip", r.RemoteAddr)
			http.Error(w, "bad request: the path is not UTF-8", http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers and closes the connection after the answer (Go's server
// does when the handler sets "Connection: close").
func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Connection", "close")
	http.Error(w, msg, status)
}

func sanitize(s string) string { return logfield.Clean(s, 200) }
