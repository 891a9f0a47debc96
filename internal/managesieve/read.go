package managesieve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits of the command reader.
const (
	maxLine    = 8 << 10 // one line of a command, without literals
	maxLiteral = 1 << 20 // larger literals close the connection
	maxArgs    = 8
)

var (
	errSyntax   = errors.New("syntax error")
	errTooLarge = errors.New("command too large")
)

// arg is one argument of a command: an atom, or a string (quoted or
// literal). tooBig marks a literal longer than the caller's limit whose
// content was skipped.
type arg struct {
	s      string
	atom   bool
	tooBig bool
}

// readCommand reads one command (RFC 5804 4): atoms, quoted strings and
// literals ("{n+}" as the RFC says, "{n}" as some clients send; we never
// answer with a continuation), up to CRLF. limit bounds what a literal may
// carry; longer ones up to maxLiteral are skipped (tooBig).
func readCommand(br *bufio.Reader, limit int) ([]arg, error) {
	var args []arg
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, err
		}
		lit, n, err := tokenize(line, &args)
		if err != nil {
			return nil, err
		}
		if !lit {
			return args, nil
		}
		if n > maxLiteral {
			return nil, errTooLarge
		}
		if n > limit {
			if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				return nil, err
			}
			args = append(args, arg{tooBig: true})
		} else {
			b := make([]byte, n)
			if _, err := io.ReadFull(br, b); err != nil {
				return nil, err
			}
			args = append(args, arg{s: string(b)})
		}
		if len(args) > maxArgs {
			return nil, errSyntax
		}
	}
}

// readLine reads a line ending in CRLF (or LF), without it.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", errTooLarge
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// tokenize appends the arguments of one line; when the line ends with a
// literal marker it reports its length.
func tokenize(line string, args *[]arg) (bool, int, error) {
	for {
		line = strings.TrimLeft(line, " ")
		if line == "" {
			return false, 0, nil
		}
		if len(*args) >= maxArgs {
			return false, 0, errSyntax
		}
		switch c := line[0]; {
		case c == '"':
			s, rest, err := quoted(line)
			if err != nil {
				return false, 0, err
			}
			*args = append(*args, arg{s: s})
			line = rest
		case c == '{':
			end := strings.IndexByte(line, '}')
			if end < 0 || end != len(line)-1 {
				return false, 0, errSyntax
			}
			num := strings.TrimSuffix(line[1:end], "+")
			n, err := strconv.Atoi(num)
			if err != nil || n < 0 || num == "" || num[0] == '+' {
				return false, 0, errSyntax
			}
			return true, n, nil
		default:
			end := strings.IndexAny(line, " \"{")
			if end < 0 {
				end = len(line)
			}
			atom := line[:end]
			for i := 0; i < len(atom); i++ {
				if atom[i] < 0x21 || atom[i] > 0x7e || atom[i] == '(' || atom[i] == ')' || atom[i] == '%' || atom[i] == '*' || atom[i] == '\\' {
					return false, 0, errSyntax
				}
			}
			*args = append(*args, arg{s: atom, atom: true})
			line = line[end:]
		}
	}
}

// quoted reads a quoted string with \" and \\ escapes (RFC 5804 4).
func quoted(line string) (string, string, error) {
	var b strings.Builder
	for i := 1; i < len(line); i++ {
		switch c := line[i]; c {
		case '"':
			return b.String(), line[i+1:], nil
		case '\\':
			if i+1 >= len(line) || line[i+1] != '"' && line[i+1] != '\\' {
				return "", "", errSyntax
			}
			i++
			b.WriteByte(line[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errSyntax
}

// quote renders s as a string for the client: quoted (with \" and \\
// escaped) when it can be, a literal otherwise (RFC 5804 4).
func quote(s string) string {
	if len(s) < 1024 && !strings.ContainsAny(s, "\r\n\x00") {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return fmt.Sprintf("{%d}\r\n%s", len(s), s)
}
