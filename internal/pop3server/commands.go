package pop3server

import (
	"errors"
	"strings"
)

// handler runs one command. It writes its own positive reply and returns
// nil, or returns a *respError for the negative reply, or errCloseConn.
// args are the space-separated arguments; raw is everything after the verb
// and one space (PASS passwords may contain spaces, RFC 1939 7).
type handler func(s *session, args []string, raw string) error

// command describes one verb.
type command struct {
	run              handler
	minArgs, maxArgs int
	rawArg           bool // take the whole rest of the line as one argument
	secret           bool // never log the arguments
}

// The verbs we know.
var (
	cmdCAPA       = command{run: (*session).cmdCAPA}
	cmdSTLS       = command{run: (*session).cmdSTLS}
	cmdUSER       = command{run: (*session).cmdUSER, minArgs: 1, maxArgs: 1, rawArg: true}
	cmdPASS       = command{run: (*session).cmdPASS, minArgs: 1, maxArgs: 1, rawArg: true, secret: true}
	cmdAUTH       = command{run: (*session).cmdAUTH, maxArgs: 2, secret: true}
	cmdQUIT       = command{run: (*session).cmdQUIT}
	cmdQUITUpdate = command{run: (*session).cmdQUITUpdate}
	cmdSTAT       = command{run: (*session).cmdSTAT}
	cmdLIST       = command{run: (*session).cmdLIST, maxArgs: 1}
	cmdUIDL       = command{run: (*session).cmdUIDL, maxArgs: 1}
	cmdRETR       = command{run: (*session).cmdRETR, minArgs: 1, maxArgs: 1}
	cmdTOP        = command{run: (*session).cmdTOP, minArgs: 2, maxArgs: 2}
	cmdDELE       = command{run: (*session).cmdDELE, minArgs: 1, maxArgs: 1}
	cmdNOOP       = command{run: (*session).cmdNOOP}
	cmdRSET       = command{run: (*session).cmdRSET}
)

// commands is the legality table: state → verb → command (RFC 1939 4-6,
// RFC 2449 5, RFC 2595 4, RFC 5034 4). A verb absent from a state's row is
// refused without running anything. APOP is deliberately absent.
var commands = map[state]map[string]command{
	stateAuthorization: {
		"CAPA": cmdCAPA, "STLS": cmdSTLS, "USER": cmdUSER, "AUTH": cmdAUTH, "QUIT": cmdQUIT,
	},
	stateUser: { // RFC 1939 7: after USER, PASS or QUIT
		"CAPA": cmdCAPA, "USER": cmdUSER, "PASS": cmdPASS, "QUIT": cmdQUIT,
	},
	stateTransaction: {
		"CAPA": cmdCAPA, "STAT": cmdSTAT, "LIST": cmdLIST, "UIDL": cmdUIDL, "RETR": cmdRETR,
		"TOP": cmdTOP, "DELE": cmdDELE, "NOOP": cmdNOOP, "RSET": cmdRSET, "QUIT": cmdQUITUpdate,
	},
	stateUpdate: {},
}

// knownVerb reports whether any state accepts verb.
func knownVerb(verb string) bool {
	for _, row := range commands {
		if _, ok := row[verb]; ok {
			return true
		}
	}
	return false
}

// dispatch parses one command line, checks it against the table, runs it
// and writes any negative reply. A non-nil result closes the connection.
func (s *session) dispatch(line string) error {
	verb, raw, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	cmd, legal := commands[s.state][verb]

	logArgs := sanitize(raw)
	if !legal || cmd.secret {
		logArgs = "<redacted>"
		if raw == "" {
			logArgs = ""
		}
	}
	s.srv.Events.Command("pop3")
	s.log.Debug("pop3: command", "state", s.state.String(), "cmd", sanitize(verb), "args", logArgs)

	var err error
	switch {
	case hasControl(line):
		err = &respError{Text: "Invalid characters in command", Bad: true}
	case !legal && httpRequest(verb, raw):
		// A browser or proxy on the wrong port (cross-protocol attacks
		// such as ALPACA): close at once instead of answering each
		// header line.
		s.log.Warn("pop3: HTTP request on POP3 port, closing")
		err = &respError{Text: "HTTP request on POP3 port, closing connection", Close: true}
	case !legal && knownVerb(verb):
		err = &respError{Text: "Command not valid in this state", Bad: true}
	case !legal:
		err = &respError{Text: "Unknown command", Bad: true}
	default:
		var args []string
		if cmd.rawArg {
			if raw != "" {
				args = []string{raw}
			}
		} else {
			args = strings.Fields(raw)
		}
		if len(args) < cmd.minArgs || len(args) > cmd.maxArgs {
			err = &respError{Text: "Syntax error", Bad: true}
		} else {
			err = cmd.run(s, args, raw)
		}
	}
	return s.replyError(err)
}

// replyError writes the reply for a handler's error and says whether the
// session must end.
func (s *session) replyError(err error) error {
	if err == nil {
		return nil
	}
	var re *respError
	if !errors.As(err, &re) {
		if errors.Is(err, errCloseConn) {
			return err
		}
		s.log.Error("pop3: command failed", "err", err)
		re = &respError{Code: "SYS/TEMP", Text: "Internal error", Close: true}
	}
	if re.Err != nil {
		s.log.Info("pop3: command refused", "reply", re.Text, "err", re.Err)
	}
	if re.Code != "" {
		s.reply("-ERR [%s] %s", re.Code, re.Text)
	} else {
		s.reply("-ERR %s", re.Text)
	}
	if re.Bad {
		s.badCommands++
		if s.badCommands >= s.cfg.MaxBadCommands {
			s.log.Info("pop3: too many bad commands")
			return errCloseConn
		}
	}
	if re.Close {
		return errCloseConn
	}
	return nil
}

// httpVerbs are request methods, none of them a POP3 command.
var httpVerbs = map[string]bool{"GET": true, "POST": true, "HEAD": true, "PUT": true, "CONNECT": true,
	"OPTIONS": true, "DELETE": true, "TRACE": true, "PATCH": true}

// httpRequest reports an HTTP request line ("GET / HTTP/1.1").
func httpRequest(verb, raw string) bool {
	return httpVerbs[verb] && strings.Contains(raw, " HTTP/")
}

// hasControl reports bytes a command line never contains (NUL, other
// controls except TAB, DEL).
func hasControl(line string) bool {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}
