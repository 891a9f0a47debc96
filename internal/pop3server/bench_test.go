package pop3server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kantorpos/kantorpos/internal/auth"
)

// benchMessage is a message of about size bytes with 76-character lines,
// some starting with ".".
func benchMessage(size int) string {
	var b strings.Builder
	b.WriteString("From: sender@example.org\r\nTo: alice@example.test\r\nSubject: bench\r\n\r\n")
	for i := 0; b.Len() < size; i++ {
		if i%50 == 0 {
			b.WriteString(".")
		}
		b.WriteString(strings.Repeat("x", 74))
		b.WriteString("\r\n")
	}
	return b.String()
}

// retrAll reads a multi-line response through its terminating line and
// returns the bytes read.
func retrAll(b *testing.B, br *bufio.Reader) int {
	n := 0
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		n += len(line)
		if first {
			if !bytes.HasPrefix(line, []byte("+OK")) {
				b.Fatalf("RETR: %q", line)
			}
			first = false
			continue
		}
		if len(line) == 3 && line[0] == '.' {
			return n
		}
	}
}

// BenchmarkRETR measures RETR throughput from the SQLite store over
// loopback sockets: parallel clients, each on its own account (one session
// per maildrop), retrieving its messages round robin.
func BenchmarkRETR(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) { benchRETR(b, size) })
	}
}

func benchRETR(b *testing.B, size int) {
	const accounts, perAccount = 16, 8
	e := newSQLEnv(b)
	ctx := context.Background()
	h := auth.NewHasher(auth.TestParams)
	hash, _ := h.Hash(ctx, "bench-pw")
	msg := benchMessage(size)
	var users []string
	for i := range accounts {
		u := fmt.Sprintf("bench%d@example.test", i)
		a, err := e.s.CreateAccount(ctx, u, hash)
		if err != nil {
			b.Fatal(err)
		}
		e.ids[u] = a.ID
		users = append(users, u)
		for range perAccount {
			e.deliver(b, u, msg)
		}
	}
	srv := &Server{Backend: e.s, Auth: e.authService(authNoLimit), Config: Config{AllowInsecureAuth: true}, Log: testLogger(b)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Shutdown(ctx) })

	var next atomic.Int32
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.SetParallelism(accounts / 2) // GOMAXPROCS × 8 clients, at most 16
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)-1) % accounts
		conn, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		br := bufio.NewReaderSize(conn, 64<<10)
		br.ReadString('\n')
		fmt.Fprintf(conn, "USER %s\r\nPASS bench-pw\r\n", users[i])
		br.ReadString('\n')
		if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "+OK") {
			b.Errorf("login %s: %q", users[i], l)
			return
		}
		for n := 0; pb.Next(); n++ {
			fmt.Fprintf(conn, "RETR %d\r\n", n%perAccount+1)
			retrAll(b, br)
		}
		fmt.Fprintf(conn, "QUIT\r\n")
	})
}
