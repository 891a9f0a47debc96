package imapserver

import (
	"bytes"
	"io"
	"runtime/debug"
	"strings"

	"github.com/kantorpos/kantorpos/internal/logfield"
)

// Bounds of an ID parameter list (RFC 2971 §3.3): at most 30 field-value
// pairs, fields of at most 30 octets, values of at most 1024.
const (
	maxIDPairs    = 30
	maxIDField    = 30
	maxIDValue    = 1024
	idLogFieldMax = 64 // what the log keeps of the client's name and version
)

// cmdID: ID ("field" "value" ...) or ID NIL (RFC 2971 §3.1), in any state.
// The client's name and version are logged (once per session at INFO,
// cleaned: logfield); the answer gives our name and version, nothing
// about the host or its configuration (§3.3: only what is safe to show).
func cmdID(s *session, _ string) error {
	if err := s.r.SP(); err != nil {
		return err
	}
	var params map[string]string
	if s.r.Peek() == '(' {
		params = map[string]string{}
		n := 0
		if err := s.r.List(0, func() error {
			if n++; n > maxIDPairs {
				return bad("ID: more than 30 field-value pairs")
			}
			field, _, err := s.idString(maxIDField, false)
			if err != nil {
				return err
			}
			if err := s.r.SP(); err != nil {
				return err
			}
			value, ok, err := s.idString(maxIDValue, true)
			if err != nil {
				return err
			}
			// §3.3: a field is not sent twice; keep the first if it is.
			if k := strings.ToLower(field); ok {
				if _, dup := params[k]; !dup {
					params[k] = value
				}
			}
			return nil
		}); err != nil {
			return err
		}
	} else if _, ok, err := s.r.NString(); err != nil || ok {
		return bad("ID takes a list or NIL")
	}
	if err := s.r.End(); err != nil {
		return err
	}
	s.logClientID(params)
	s.w.Raw("* ID (").String("name").SP().String("kantorpos")
	if v := s.srv.cfg.Version; v != "" {
		s.w.SP().String("version").SP().String(v)
	}
	s.w.Raw(")\r\n")
	return nil
}

// idString reads a field (string) or a value (nstring) of at most max
// octets; a longer literal is refused before its "+", so the client does
// not send it.
func (s *session) idString(max int, nilOK bool) (string, bool, error) {
	var v string
	switch c := s.r.Peek(); {
	case nilOK && (c == 'N' || c == 'n'):
		return s.r.NString()
	case c == '{':
		lit, err := s.r.LiteralAhead(false)
		if err != nil {
			return "", false, err
		}
		if lit.Size > int64(max) {
			return "", false, bad("ID: field over 30 or value over 1024 octets")
		}
		lr, err := s.r.OpenLiteral()
		if err != nil {
			return "", false, err
		}
		b, err := io.ReadAll(lr)
		if err != nil {
			return "", false, s.r.Err()
		}
		if err := s.r.EndLiteral(); err != nil {
			return "", false, err
		}
		if bytes.IndexByte(b, 0) >= 0 {
			return "", false, bad("NUL in a literal")
		}
		v = string(b)
	default:
		var err error
		if v, err = s.r.String(); err != nil {
			return "", false, err
		}
	}
	if len(v) > max {
		return "", false, bad("ID: field over 30 or value over 1024 octets")
	}
	return v, true, nil
}

// logClientID logs what the client said it is: the first ID of a session
// at INFO, later ones at DEBUG (a client cannot fill the log by repeating
// ID).
func (s *session) logClientID(params map[string]string) {
	if params == nil {
		return
	}
	level := s.log.Info
	if s.idLogged {
		level = s.log.Debug
	}
	s.idLogged = true
	args := []any{"name", logfield.Clean(params["name"], idLogFieldMax),
		"version", logfield.Clean(params["version"], idLogFieldMax)}
	for _, k := range []string{"vendor", "os", "os-version"} {
		if v, ok := params[k]; ok {
			args = append(args, strings.ReplaceAll(k, "-", "_"), logfield.Clean(v, idLogFieldMax))
		}
	}
	level("client id", args...)
}

// buildVersion is the module version of this build ("v1.2.3", or a
// pseudo-version of the commit when built in a checkout), "" if unknown.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Version == "(devel)" {
		return ""
	}
	return bi.Main.Version
}
