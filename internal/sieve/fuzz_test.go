package sieve

import (
	"context"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary scripts to the parser and runs those that
// parse: neither may panic, and a run ends within its limits.
func FuzzParse(f *testing.F) {
	seeds := []string{
		`require ["fileinto","variables","imap4flags","regex"]; if header :matches "subject" "*a?" { fileinto "${1}"; addflag "x"; }`,
		"require \"reject\";\nreject text:\n..x\n.\n;",
		`require ["encoded-character"]; redirect "${hex:41}@b.c";`,
		`if anyof (not true, allof (exists "a", size :over 1K)) { discard; } elsif false { keep; } else { stop; }`,
		`require ["date","relational","comparator-i;ascii-numeric","index"]; if date :index 1 :last :value "ge" :comparator "i;ascii-numeric" "date" "year" "2000" { keep; }`,
		`require ["vacation","vacation-seconds"]; vacation :seconds 60 :addresses ["a@b"] :subject "s" "r";`,
		`/* c */ # c
		require "include"; include :once :optional "x"; return;`,
		`require ["body"]; if body :raw :contains "x" { discard; }`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	msg, err := NewMessage(strings.NewReader(testMsg), int64(len(testMsg)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Parse(src)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		env := testEnv
		env.Limits = Limits{MaxSteps: 2000}
		res, err := s.Run(context.Background(), msg, env)
		if err == nil && len(res.Actions) > DefaultLimits.MaxActions+1 {
			t.Fatalf("%d actions", len(res.Actions))
		}
	})
}
