package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/kantorpos/kantorpos/internal/auth"
	"github.com/kantorpos/kantorpos/internal/sieve"
	"github.com/kantorpos/kantorpos/internal/store"
)

type session struct {
	srv       *Server
	c         net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	ip        netip.Addr
	log       *slog.Logger
	tls       bool
	id        *auth.Identity
	bad       int
	authFails int
}

// errClose ends the session after the reply was written.
var errClose = errors.New("close")

func (s *session) serve() {
	s.br, s.bw = bufio.NewReaderSize(s.c, 4096), bufio.NewWriterSize(s.c, 4096)
	s.log.Info("connect")
	s.capabilities()
	s.ok("", "kantorpos ManageSieve ready")
	for s.bw.Flush() == nil {
		if s.srv.shuttingDown() {
			s.write(`BYE (TRYLATER) "Server shutting down"`)
			s.bw.Flush()
			return
		}
		s.c.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
		args, err := readCommand(s.br, sieve.MaxScriptSize)
		if err != nil {
			switch {
			case errors.Is(err, errSyntax):
				if s.badCommand("Syntax error") {
					return
				}
				continue
			case errors.Is(err, errTooLarge):
				s.write(`BYE "Command too large"`)
				s.bw.Flush()
			}
			return
		}
		if len(args) == 0 || !args[0].atom {
			if s.badCommand("Expected a command") {
				return
			}
			continue
		}
		if err := s.command(strings.ToUpper(args[0].s), args[1:]); errors.Is(err, errClose) {
			s.bw.Flush()
			return
		}
	}
}

func (srv *Server) shuttingDown() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.closed
}

func (s *session) write(line string) { s.bw.WriteString(line + "\r\n") }

// ok and no write the final responses (RFC 5804 1.3); code is a response
// code without its parentheses.
func (s *session) ok(code, text string) { s.respond("OK", code, text) }
func (s *session) no(code, text string) { s.respond("NO", code, text) }

func (s *session) respond(kind, code, text string) {
	line := kind
	if code != "" {
		line += " (" + code + ")"
	}
	if text != "" {
		line += " " + quote(text)
	}
	s.write(line)
}

// badCommand answers a bad command and reports whether the session ends.
func (s *session) badCommand(text string) bool {
	s.bad++
	if s.bad >= s.srv.cfg.MaxBadCommands {
		s.write(`BYE "Too many bad commands"`)
		s.bw.Flush()
		return true
	}
	s.no("", text)
	return false
}

// capabilities writes the capability lines (RFC 5804 1.7).
func (s *session) capabilities() {
	s.write(`"IMPLEMENTATION" "kantorpos"`)
	if s.tls || s.srv.cfg.AllowInsecureAuth {
		s.write(`"SASL" "PLAIN"`)
	} else {
		s.write(`"SASL" ""`)
	}
	s.write(`"SIEVE" ` + quote(sieve.Capabilities()))
	if !s.tls && s.srv.TLSConfig != nil {
		s.write(`"STARTTLS"`)
	}
	if s.srv.cfg.MaxRedirects > 0 {
		s.write(`"MAXREDIRECTS" "` + strconv.Itoa(s.srv.cfg.MaxRedirects) + `"`)
	}
	s.write(`"VERSION" "1.0"`)
}

// command runs one command; the table of who may run what is the switch.
func (s *session) command(verb string, args []arg) error {
	ctx := s.srv.ctx
	nargs := func(n int) bool {
		if len(args) != n {
			s.badCommand("Wrong number of arguments")
			return false
		}
		for _, a := range args {
			if a.atom {
				s.badCommand("Expected a string")
				return false
			}
		}
		return true
	}
	switch verb {
	case "CAPABILITY":
		s.capabilities()
		s.ok("", "")
		return nil
	case "LOGOUT":
		s.ok("", "Bye")
		return errClose
	case "NOOP":
		if len(args) == 1 && !args[0].atom {
			s.ok("TAG "+quote(args[0].s), "Done") // RFC 5804 2.14
		} else {
			s.ok("", "Done")
		}
		return nil
	case "STARTTLS":
		if s.tls || s.srv.TLSConfig == nil || s.id != nil {
			s.badCommand("STARTTLS is not available")
			return nil
		}
		s.ok("", "Begin TLS negotiation")
		if err := s.bw.Flush(); err != nil {
			return errClose
		}
		if s.br.Buffered() > 0 {
			return errClose // RFC 5804 2.2: no pipelining into the handshake
		}
		tc := tls.Server(s.c, s.srv.TLSConfig)
		s.c.SetDeadline(time.Now().Add(30 * time.Second))
		if err := tc.Handshake(); err != nil {
			s.log.Info("tls handshake", "err", err)
			return errClose
		}
		s.c.SetDeadline(time.Time{})
		s.c, s.tls = tc, true
		s.br, s.bw = bufio.NewReaderSize(tc, 4096), bufio.NewWriterSize(tc, 4096)
		s.capabilities() // RFC 5804 2.2: capabilities again after TLS
		s.ok("", "")
		return nil
	case "AUTHENTICATE":
		return s.authenticate(ctx, args)
	}
	if s.id == nil {
		switch verb {
		case "HAVESPACE", "PUTSCRIPT", "LISTSCRIPTS", "SETACTIVE", "GETSCRIPT", "DELETESCRIPT", "RENAMESCRIPT", "CHECKSCRIPT":
			s.badCommand("Authenticate first")
		default:
			s.badCommand("Unknown command")
		}
		return nil
	}
	acc := s.id.AccountID
	switch verb {
	case "HAVESPACE":
		if len(args) != 2 || args[0].atom || !args[1].atom {
			s.badCommand("HAVESPACE name size")
			return nil
		}
		n, err := strconv.ParseInt(args[1].s, 10, 64)
		if err != nil {
			s.badCommand("Bad size")
			return nil
		}
		s.haveSpace(ctx, acc, args[0].s, n)
	case "PUTSCRIPT":
		if nargs(2) {
			s.putScript(ctx, acc, args[0].s, args[1])
		}
	case "CHECKSCRIPT":
		if nargs(1) {
			if args[0].tooBig {
				s.no("QUOTA/MAXSIZE", "Script too large")
			} else if _, err := sieve.Parse(args[0].s); err != nil {
				s.no("", err.Error())
			} else {
				s.ok("", "Script is valid")
			}
		}
	case "LISTSCRIPTS":
		if nargs(0) {
			list, err := s.srv.Backend.SieveScripts(ctx, acc)
			if err != nil {
				s.storeErr(err)
				return nil
			}
			for _, sc := range list {
				if sc.Active {
					s.write(quote(sc.Name) + " ACTIVE")
				} else {
					s.write(quote(sc.Name))
				}
			}
			s.ok("", "")
		}
	case "SETACTIVE":
		if nargs(1) {
			s.result(s.srv.Backend.ActivateSieveScript(ctx, acc, args[0].s), "Active script set")
		}
	case "GETSCRIPT":
		if nargs(1) {
			sc, err := s.srv.Backend.SieveScript(ctx, acc, args[0].s)
			if err != nil {
				s.storeErr(err)
				return nil
			}
			s.bw.WriteString(fmt.Sprintf("{%d}\r\n%s\r\n", len(sc.Content), sc.Content))
			s.ok("", "")
		}
	case "DELETESCRIPT":
		if nargs(1) {
			s.result(s.srv.Backend.DeleteSieveScript(ctx, acc, args[0].s), "Script deleted")
		}
	case "RENAMESCRIPT":
		if nargs(2) {
			s.result(s.srv.Backend.RenameSieveScript(ctx, acc, args[0].s, args[1].s), "Script renamed")
		}
	default:
		s.badCommand("Unknown command")
	}
	return nil
}

func (s *session) haveSpace(ctx context.Context, acc int64, name string, size int64) {
	if err := store.CheckSieveName(name); err != nil {
		s.no("", "Bad script name")
		return
	}
	if size > sieve.MaxScriptSize {
		s.no("QUOTA/MAXSIZE", fmt.Sprintf("Scripts are limited to %d bytes", sieve.MaxScriptSize))
		return
	}
	list, err := s.srv.Backend.SieveScripts(ctx, acc)
	if err != nil {
		s.storeErr(err)
		return
	}
	exists := false
	for _, sc := range list {
		exists = exists || sc.Name == name
	}
	if !exists && len(list) >= store.MaxSieveScripts {
		s.no("QUOTA/MAXSCRIPTS", fmt.Sprintf("At most %d scripts", store.MaxSieveScripts))
		return
	}
	s.ok("", "")
}

func (s *session) putScript(ctx context.Context, acc int64, name string, content arg) {
	if content.tooBig {
		s.no("QUOTA/MAXSIZE", fmt.Sprintf("Scripts are limited to %d bytes", sieve.MaxScriptSize))
		return
	}
	if _, err := sieve.Parse(content.s); err != nil {
		s.no("", err.Error()) // RFC 5804 2.6: the reason, for the user
		return
	}
	err := s.srv.Backend.PutSieveScript(ctx, acc, name, content.s)
	if err == nil {
		s.log.Info("script stored", "account", s.id.Address, "script", name, "size", len(content.s))
	}
	s.result(err, "Script stored")
}

// result answers a store call: OK, or NO with the response code that fits.
func (s *session) result(err error, okText string) {
	if err != nil {
		s.storeErr(err)
		return
	}
	s.ok("", okText)
}

func (s *session) storeErr(err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.no("NONEXISTENT", "No such script")
	case errors.Is(err, store.ErrLocked):
		s.no("ACTIVE", "The script is active")
	case errors.Is(err, store.ErrExists):
		s.no("ALREADYEXISTS", "A script of that name exists")
	case errors.Is(err, store.ErrQuotaExceeded):
		s.no("QUOTA/MAXSCRIPTS", fmt.Sprintf("At most %d scripts", store.MaxSieveScripts))
	case errors.Is(err, store.ErrInvalidName):
		s.no("", "Bad script name")
	default:
		s.log.Warn("managesieve: store", "err", err)
		s.no("TRYLATER", "Temporary failure")
	}
}

// authenticate runs AUTHENTICATE (RFC 5804 2.1) through the shared SASL
// servers and login limiter.
func (s *session) authenticate(ctx context.Context, args []arg) error {
	if s.id != nil {
		s.badCommand("Already authenticated")
		return nil
	}
	if len(args) < 1 || len(args) > 2 || args[0].atom || len(args) == 2 && args[1].atom {
		s.badCommand("AUTHENTICATE \"mechanism\" [initial response]")
		return nil
	}
	if !s.tls && !s.srv.cfg.AllowInsecureAuth {
		s.no("ENCRYPT-NEEDED", "Use STARTTLS first")
		return nil
	}
	var id auth.Identity
	srv, ok := s.srv.Auth.SASL(ctx, args[0].s, s.ip, "managesieve", func(i auth.Identity) { id = i })
	if !ok || !strings.EqualFold(args[0].s, auth.Plain) {
		s.no("", "Unsupported mechanism")
		return nil
	}
	var resp []byte
	if len(args) == 2 {
		b, err := base64.StdEncoding.DecodeString(args[1].s)
		if err != nil {
			s.no("", "Bad base64")
			return nil
		}
		resp = b
	}
	for {
		chal, done, err := srv.Next(resp)
		if err != nil {
			return s.authFailed(err)
		}
		if done {
			break
		}
		s.write(quote(base64.StdEncoding.EncodeToString(chal)))
		if err := s.bw.Flush(); err != nil {
			return errClose
		}
		s.c.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
		a, err := readCommand(s.br, maxLine)
		if err != nil || len(a) != 1 || a[0].atom {
			s.no("", "Bad SASL response")
			return nil
		}
		if a[0].s == "*" {
			s.no("", "Authentication aborted")
			return nil
		}
		if resp, err = base64.StdEncoding.DecodeString(a[0].s); err != nil {
			s.no("", "Bad base64")
			return nil
		}
	}
	s.id = &id
	s.log.Info("login", "account", id.Address)
	s.ok("", "Logged in")
	return nil
}

func (s *session) authFailed(err error) error {
	s.authFails++
	s.log.Info("login failed", "err", err)
	if s.authFails >= s.srv.cfg.MaxAuthFailures {
		s.write(`BYE "Too many failed logins"`)
		return errClose
	}
	switch {
	case errors.Is(err, auth.ErrTooManyFailures), errors.Is(err, auth.ErrTemporary):
		s.no("TRYLATER", "Try again later")
	default:
		s.no("", "Authentication failed")
	}
	return nil
}
