package sieve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const testMsg = "Received: from a by b; Tue, 1 Dec 2026 10:00:00 +0000\r\n" +
	"Received: from c by d; Wed, 2 Dec 2026 11:30:00 +0100\r\n" +
	"From: \"Ann Example\" <ann+lists@example.org>\r\n" +
	"To: bob@example.com, carol@example.net\r\n" +
	"Cc: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.de>\r\n" +
	"Subject: Weekly report\r\n for December\r\n" +
	"Date: Thu, 03 Dec 2026 09:15:30 -0500\r\n" +
	"List-Id: <team.example.org>\r\n" +
	"X-Priority: 2\r\n" +
	"X-Spam-Score: 12\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=b1\r\n" +
	"\r\n" +
	"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"The numbers are gr=C3=BCn this week.\r\n" +
	"--b1\r\nContent-Type: text/html\r\n\r\n<p>The numbers are <b>green</b></p>\r\n--b1--\r\n"

var testEnv = Env{
	Envelope: Envelope{From: "bounce+123@lists.example.org", To: "bob+work@example.com"},
	Now:      time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC),
	MailboxExists: func(n string) bool {
		return n == "INBOX" || n == "Lists"
	},
	Include: func(name string) (string, error) {
		switch name {
		case "lists":
			return `require ["fileinto"]; if header :contains "list-id" "team" { fileinto "Lists"; }`, nil
		case "ret":
			return `require ["include", "fileinto"]; return; fileinto "Never";`, nil
		case "self":
			return `require ["include"]; include :personal "self";`, nil
		case "stop":
			return `stop;`, nil
		case "glob":
			return `require ["include", "variables", "fileinto"]; global "box"; fileinto "${box}";`, nil
		}
		return "", fmt.Errorf("%q: %w", name, ErrNoScript)
	},
}

// summary renders a result as "keep;fileinto:X[flags]; ...".
func summary(res *Result) string {
	var parts []string
	for _, a := range res.Actions {
		s := a.Kind.String()
		switch a.Kind {
		case ActFileInto:
			s += ":" + a.Mailbox
			if a.Create {
				s += "+create"
			}
		case ActRedirect:
			s += ":" + a.Addr
		case ActReject:
			s += ":" + a.Reason
		case ActVacation:
			s += fmt.Sprintf(":%s/%s/%s", a.Vacation.Period, a.Vacation.Subject, a.Reason)
		}
		if a.Copy {
			s += "+copy"
		}
		if len(a.Flags) > 0 {
			s += "[" + strings.Join(a.Flags, " ") + "]"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ";")
}

func runScript(t *testing.T, src string) (string, error) {
	t.Helper()
	s, err := Parse(src)
	if err != nil {
		return "", fmt.Errorf("parse: %w", err)
	}
	msg, err := NewMessage(strings.NewReader(testMsg), int64(len(testMsg)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), msg, testEnv)
	if err != nil {
		return "", err
	}
	return summary(res), nil
}

func TestRun(t *testing.T) {
	tests := []struct {
		name, script, want string
	}{
		{"empty script keeps", ``, "keep"},
		{"keep", `keep;`, "keep"},
		{"discard", `discard;`, "discard"},
		{"stop before action", `stop; discard;`, "keep"},
		{"fileinto", `require "fileinto"; fileinto "Work";`, "fileinto:Work"},
		{"fileinto twice once", `require "fileinto"; fileinto "A"; fileinto "A";`, "fileinto:A"},
		{"fileinto copy keeps", `require ["fileinto","copy"]; fileinto :copy "A";`, "fileinto:A+copy;keep"},
		{"fileinto create", `require ["fileinto","mailbox"]; fileinto :create "New";`, "fileinto:New+create"},
		{"redirect", `redirect "x@example.net";`, "redirect:x@example.net"},
		{"redirect copy", `require "copy"; redirect :copy "x@example.net";`, "redirect:x@example.net+copy;keep"},
		{"reject", `require "reject"; reject "go away";`, "reject:go away"},
		{"ereject", `require "ereject"; ereject "no";`, "reject:no"},
		{"header is", `if header :is "subject" "Weekly report for December" { discard; }`, "discard"},
		{"header is casemap", `if header :is "Subject" "weekly REPORT for december" { discard; }`, "discard"},
		{"header octet", `if header :is :comparator "i;octet" "Subject" "weekly report for december" { discard; }`, "keep"},
		{"header contains", `if header :contains ["x", "subject"] "report" { discard; }`, "discard"},
		{"header matches", `if header :matches "subject" "Weekly*Dec?mber" { discard; }`, "discard"},
		{"header no match", `if header :matches "subject" "Daily*" { discard; }`, "keep"},
		{"rfc2047 decoded", `if header :contains "cc" "Jürgen" { discard; }`, "discard"},
		{"address all", `if address :is "from" "ann+lists@example.org" { discard; }`, "discard"},
		{"address domain", `if address :domain :is ["to","cc"] "example.net" { discard; }`, "discard"},
		{"address localpart", `if address :localpart :is "from" "ann+lists" { discard; }`, "discard"},
		{"subaddress user", `require "subaddress"; if address :user "from" "ann" { discard; }`, "discard"},
		{"subaddress detail", `require "subaddress"; if address :detail "from" "lists" { discard; }`, "discard"},
		{"subaddress detail absent", `require "subaddress"; if address :detail "to" "" { discard; }`, "keep"},
		{"envelope from", `require "envelope"; if envelope :domain "from" "lists.example.org" { discard; }`, "discard"},
		{"envelope to detail", `require ["envelope","subaddress"]; if envelope :detail "to" "work" { discard; }`, "discard"},
		{"exists", `if exists ["list-id", "from"] { discard; }`, "discard"},
		{"exists missing", `if exists ["list-id", "x-nope"] { discard; }`, "keep"},
		{"size over", `if size :over 100 { discard; }`, "discard"},
		{"size under K", `if size :under 1K { discard; }`, "discard"},
		{"size over M", `if size :over 1M { discard; }`, "keep"},
		{"not", `if not false { discard; }`, "discard"},
		{"allof", `if allof (true, header :contains "subject" "report") { discard; }`, "discard"},
		{"allof false", `if allof (true, false) { discard; }`, "keep"},
		{"anyof", `if anyof (false, exists "from") { discard; }`, "discard"},
		{"elsif", `require "fileinto"; if false { discard; } elsif true { fileinto "B"; } else { fileinto "C"; }`, "fileinto:B"},
		{"else", `require "fileinto"; if false { discard; } elsif false { fileinto "B"; } else { fileinto "C"; }`, "fileinto:C"},
		{"relational count", `require ["relational","comparator-i;ascii-numeric"]; if address :count "ge" :comparator "i;ascii-numeric" ["to","cc"] "3" { discard; }`, "discard"},
		{"relational value", `require ["relational","comparator-i;ascii-numeric"]; if header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "9" { discard; }`, "discard"},
		{"relational value lt", `require ["relational","comparator-i;ascii-numeric"]; if header :value "lt" :comparator "i;ascii-numeric" "x-spam-score" "9" { discard; }`, "keep"},
		{"numeric is", `require "comparator-i;ascii-numeric"; if header :is :comparator "i;ascii-numeric" "x-priority" "02" { discard; }`, "discard"},
		{"regex", `require "regex"; if header :regex "subject" "^weekly [a-z]+" { discard; }`, "discard"},
		{"body text", `require "body"; if body :contains "grün" { discard; }`, "discard"},
		{"body text not html", `require "body"; if body :contains "<b>" { discard; }`, "keep"},
		{"body content html", `require "body"; if body :content "text/html" :contains "<b>green" { discard; }`, "discard"},
		{"body raw", `require "body"; if body :raw :contains "gr=C3=BCn" { discard; }`, "discard"},
		{"variables set", `require ["variables","fileinto"]; set "f" "Box"; set :upper "g" "x"; fileinto "${f}-${g}";`, "fileinto:Box-X"},
		{"variables matches", `require ["variables","fileinto"]; if header :matches "from" "*<*@*>" { fileinto "${2}/${3}"; }`, "fileinto:ann+lists/example.org"},
		{"variables length", `require ["variables","fileinto"]; set :length "n" "héllo"; fileinto "${n}";`, "fileinto:5"},
		{"variables string test", `require ["variables"]; set "a" "yes"; if string :is "${a}" "yes" { discard; }`, "discard"},
		{"variables regex groups", `require ["variables","fileinto","regex"]; if header :regex "subject" "for ([A-Z][a-z]+)" { fileinto "${1}"; }`, "fileinto:December"},
		{"no variables no expansion", `require "fileinto"; fileinto "${x}";`, "fileinto:${x}"},
		{"imap4flags keep", `require "imap4flags"; setflag "\\Seen"; addflag ["$Work", "\\seen"]; keep;`, `keep[\Seen $Work]`},
		{"imap4flags remove implicit", `require "imap4flags"; addflag "a b c"; removeflag "B";`, "keep[a c]"},
		{"imap4flags fileinto flags", `require ["imap4flags","fileinto"]; addflag "x"; fileinto :flags "\\Flagged" "F";`, `fileinto:F[\Flagged]`},
		{"hasflag", `require "imap4flags"; addflag "\\Seen"; if hasflag "\\seen" { discard; }`, "discard"},
		{"hasflag variable", `require ["imap4flags","variables"]; addflag "v" "a"; if hasflag "v" "a" { discard; }`, "discard"},
		{"mailboxexists", `require "mailbox"; if mailboxexists "Lists" { discard; }`, "discard"},
		{"mailboxexists missing", `require "mailbox"; if mailboxexists ["Lists", "Nope"] { discard; }`, "keep"},
		{"date year", `require "date"; if date :is "date" "year" "2026" { discard; }`, "discard"},
		{"date zone", `require "date"; if date :zone "-0500" :is "date" "hour" "09" { discard; }`, "discard"},
		{"date originalzone", `require "date"; if date :originalzone :is "date" "zone" "-0500" { discard; }`, "discard"},
		{"date utc default", `require "date"; if date :is "date" "hour" "14" { discard; }`, "discard"},
		{"date index", `require ["date","index"]; if date :index 1 :last :is "received" "day" "02" { discard; }`, "discard"},
		{"header index", `require "index"; if header :index 2 :contains "received" "from c" { discard; }`, "discard"},
		{"currentdate", `require ["date","relational"]; if currentdate :value "ge" "date" "2026-12-01" { discard; }`, "discard"},
		{"currentdate weekday", `require "date"; if currentdate :is "weekday" "1" { discard; }`, "discard"},
		{"vacation", `require "vacation"; vacation :days 3 :subject "Away" "I am away";`, "vacation:72h0m0s/Away/I am away;keep"},
		{"vacation seconds", `require ["vacation","vacation-seconds"]; vacation :seconds 3600 "Gone";`, "vacation:1h0m0s//Gone;keep"},
		{"vacation min period", `require ["vacation","vacation-seconds"]; vacation :seconds 0 "Gone";`, "vacation:1m0s//Gone;keep"},
		{"encoded-character", `require ["encoded-character","fileinto"]; fileinto "${hex:41 42}${unicode:263a}";`, "fileinto:AB☺"},
		{"multiline text", "require \"reject\";\nreject text:\nline one\n..dot\n.\n;", "reject:line one\r\n.dot\r\n"},
		{"comments", "# hash\n/* block\ncomment */ discard; # end", "discard"},
		{"include", `require ["include"]; include :personal "lists";`, "fileinto:Lists"},
		{"include return", `require ["include"]; include "ret";`, "keep"},
		{"include stop stops all", `require ["include"]; include "stop"; discard;`, "keep"},
		{"include once", `require ["include"]; include :once "lists"; include :once "lists";`, "fileinto:Lists"},
		{"include optional", `require ["include"]; include :optional "missing"; discard;`, "discard"},
		{"include global", `require ["include","variables"]; global "box"; set "box" "G"; include "glob";`, "fileinto:G"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runScript(t, tt.script)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRunErrors covers run-time errors and limits: the caller then keeps
// the message in INBOX.
func TestRunErrors(t *testing.T) {
	many := strings.Repeat(`redirect "a@example.net"; redirect "b@example.net"; redirect "c@example.net"; `, 1) +
		`redirect "d@example.net"; redirect "e@example.net";`
	tests := []struct{ name, script, want string }{
		{"too many redirects", many, "redirects"},
		{"bad redirect", `redirect "not an address";`, "bad address"},
		{"include missing", `require "include"; include "missing";`, "no such script"},
		{"include loop", `require "include"; include "self";`, "too many or too deep"},
		{"include global unsupported", `require "include"; include :global "x";`, "personal"},
		{"two vacations", `require "vacation"; vacation "a"; vacation "b";`, "more than one vacation"},
		{"reject and vacation", `require ["vacation","reject"]; vacation "a"; reject "b";`, "reject and vacation"},
		{"reject and fileinto", `require ["fileinto","reject"]; fileinto "X"; reject "b";`, "reject cannot"},
		{"days and seconds", `require ["vacation","vacation-seconds"]; vacation :days 1 :seconds 9 "x";`, ":days and :seconds"},
		{"bad runtime regex", `require ["regex","variables"]; set "p" "("; if header :regex "subject" "${p}" { stop; }`, "bad pattern"},
		{"too many actions", `require ["fileinto","variables"]; ` + manyFileinto(40), "actions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runScript(t, tt.script)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %q, %v; want an error with %q", got, err, tt.want)
			}
		})
	}
}

func manyFileinto(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "fileinto \"F%d\";\n", i)
	}
	return b.String()
}

func TestStepLimit(t *testing.T) {
	s, err := Parse(`require "variables"; ` + strings.Repeat(`if header :matches "subject" "*a*b*c*" { set "x" "y"; } `, 500))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := NewMessage(strings.NewReader(testMsg), 10)
	env := testEnv
	env.Limits.MaxSteps = 300
	if _, err := s.Run(context.Background(), msg, env); err == nil || !strings.Contains(err.Error(), "steps") {
		t.Fatalf("err = %v, want the step limit", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Run(ctx, msg, testEnv); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: err = %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, script, want string }{
		{"unknown command", `frobnicate;`, "unknown command"},
		{"unknown test", `if frob { stop; }`, "unknown test"},
		{"missing require", `fileinto "x";`, `needs require "fileinto"`},
		{"unsupported extension", `require "notify";`, "not supported"},
		{"late require", `keep; require "fileinto";`, "require must come before"},
		{"missing semicolon", `keep`, "expected ';'"},
		{"unterminated string", `reject "abc`, "unterminated string"},
		{"unterminated comment", `/* abc`, "unterminated comment"},
		{"unterminated text", "require \"reject\"; reject text:\nabc\n", "unterminated text"},
		{"else without if", `else { stop; }`, "else without if"},
		{"elsif after command", `if true { stop; } keep; elsif true { stop; }`, "elsif without if"},
		{"if without block", `if true;`, "needs a block"},
		{"if without test", `if { stop; }`, "takes one test"},
		{"stop with block", `stop { }`, "takes no block"},
		{"unknown tag", `if header :frob "a" "b" { stop; }`, "unknown tag"},
		{"two match types", `if header :is :contains "a" "b" { stop; }`, "more than one match type"},
		{"wrong args", `if header "a" { stop; }`, "wrong number of arguments"},
		{"string list for string", `require "fileinto"; fileinto ["a","b"];`, "wrong type"},
		{"regex needs require", `if header :regex "a" "b" { stop; }`, `needs require "regex"`},
		{"bad regex", `require "regex"; if header :regex "a" "(" { stop; }`, "bad regular expression"},
		{"bad relational", `require "relational"; if header :value "xx" "a" "b" { stop; }`, "relational operator"},
		{"numeric needs require", `if header :comparator "i;ascii-numeric" "a" "1" { stop; }`, "needs require"},
		{"unknown comparator", `if header :comparator "i;frob" "a" "1" { stop; }`, "unknown comparator"},
		{"bad variable name", `require "variables"; set "1a" "b";`, "bad variable name"},
		{"bad date part", `require "date"; if currentdate :is "fortnight" "1" { stop; }`, "unknown date part"},
		{"last without index", `require "index"; if header :last :is "a" "b" { stop; }`, ":last needs :index"},
		{"deep nesting", strings.Repeat("if true {", 40) + strings.Repeat("}", 40), "nested too deeply"},
		{"deep tests", "if " + strings.Repeat("not ", 40) + "true { stop; }", "nested too deeply"},
		{"bad unicode", `require ["encoded-character","reject"]; reject "${unicode:110000}";`, "invalid unicode"},
		{"too large", strings.Repeat("#", MaxScriptSize+1), "larger than"},
		{"size without comparison", `if size 10 { stop; }`, "one of :over and :under"},
		{"size with both", `if size :over :under 10 { stop; }`, "one of :over and :under"},
		{"tag after positional", `require "fileinto"; fileinto "a" :copy;`, "after positional"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.script)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestErrorLine(t *testing.T) {
	_, err := Parse("keep;\n\nfrob;\n")
	var e *Error
	if !errors.As(err, &e) || e.Line != 3 {
		t.Fatalf("err = %#v, want line 3", err)
	}
}
