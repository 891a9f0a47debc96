package dsn

import (
	"bytes"
	"mime"
	"strings"
	"time"
)

// humanText is part 1: plain words for the person who sent the message,
// readable in any mail client. Lines end in CRLF and stay under 80
// characters where words allow.
func humanText(p Params, orig original) string {
	var out []string
	para := func(s string) {
		out = append(out, wrap(s, 72)...)
		out = append(out, "")
	}
	para("This is the mail system at host " + p.Hostname + ".")

	var about []string
	if s := origSubject(orig.data); s != "" {
		about = append(about, "Subject: "+s)
	}
	if !p.Arrival.IsZero() {
		about = append(about, "Received: "+date(p.Arrival))
	}
	if len(about) > 0 {
		out = append(out, "Your message")
		for _, a := range about {
			for _, l := range wrap(a, 68) {
				out = append(out, "    "+l)
			}
		}
		out = append(out, "")
	}

	by := map[Action][]Recipient{}
	for _, r := range p.Recipients {
		by[r.Action] = append(by[r.Action], r)
	}
	if rs := by[Failed]; len(rs) > 0 {
		para("I'm sorry to have to tell you that your message could not be delivered to the recipients below. We have given up; to try again, send it again after fixing the problem.")
		out = append(out, recipientLines(rs)...)
	}
	if rs := by[Delayed]; len(rs) > 0 {
		para("This is a warning only: you do not need to send your message again. It has not been delivered yet to the recipients below.")
		var until time.Time
		for _, r := range rs {
			if r.WillRetryUntil.After(until) {
				until = r.WillRetryUntil
			}
		}
		if !until.IsZero() {
			para("We keep trying until " + date(until) + ". If it still cannot be delivered by then, you will get another message.")
		}
		out = append(out, recipientLines(rs)...)
	}
	if rs := append(append(by[Delivered], by[Expanded]...), by[Relayed]...); len(rs) > 0 {
		para("Your message was delivered to the recipients below.")
		out = append(out, recipientLines(rs)...)
	}

	switch {
	case orig.full:
		para("Your message is attached.")
	case orig.tooLarge:
		para("Your message was too large to return in full; its header is attached.")
	case orig.data != nil:
		para("The header of your message is attached.")
	}
	if orig.headerCut {
		para("The header was too large and has been shortened.")
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\r\n") + "\r\n"
}

// recipientLines explains each recipient's outcome.
func recipientLines(rs []Recipient) []string {
	var out []string
	for _, r := range rs {
		out = append(out, "<"+clean(r.Final, true)+">")
		var s string
		switch {
		case r.Action == Relayed && r.RemoteMTA != "":
			s = "Handed to " + clean(r.RemoteMTA, true) + ", which does not send delivery reports, so you may not hear more about this recipient."
			if r.Diagnostic != "" {
				s += " It answered: " + truncate(clean(r.Diagnostic, true), maxDiagnostic)
			}
		case r.Diagnostic != "" && r.RemoteMTA != "":
			s = "The mail server " + clean(r.RemoteMTA, true) + " answered: " + truncate(clean(r.Diagnostic, true), maxDiagnostic)
		case r.Diagnostic != "":
			s = "The mail server answered: " + truncate(clean(r.Diagnostic, true), maxDiagnostic)
		case r.Reason != "":
			s = truncate(clean(r.Reason, true), maxDiagnostic)
		default:
			s = "Status " + r.Status + "."
		}
		if r.Reason != "" && r.Diagnostic != "" {
			s += " (" + truncate(clean(r.Reason, true), maxDiagnostic) + ")"
		}
		for _, l := range wrap(s, 68) {
			out = append(out, "    "+l)
		}
		out = append(out, "")
	}
	return out
}

// origSubject finds the original's Subject, unfolded, for the human text.
func origSubject(hdr []byte) string {
	lines := bytes.Split(hdr, []byte("\r\n"))
	for i, l := range lines {
		if len(l) == 0 {
			return ""
		}
		name, val, ok := bytes.Cut(l, []byte(":"))
		if !ok || !strings.EqualFold(string(bytes.TrimSpace(name)), "Subject") {
			continue
		}
		s := string(val)
		for _, cont := range lines[i+1:] {
			if len(cont) == 0 || (cont[0] != ' ' && cont[0] != '\t') {
				break
			}
			s += " " + string(cont)
		}
		if dec, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
			s = dec // RFC 2047 encoded words, for charsets the stdlib knows
		}
		s = clean(s, true)
		if r := []rune(s); len(r) > 120 {
			s = string(r[:120]) + "..."
		}
		return s
	}
	return ""
}
