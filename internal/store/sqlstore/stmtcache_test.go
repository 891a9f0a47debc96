package sqlstore

import (
	"context"
	"fmt"
	"testing"
)

// TestStmtCache: reads and writes repeated three times are prepared once
// and keep giving the right answers; one-off queries are not kept.
func TestStmtCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, s := openTest(t)
	for i := range 6 {
		if err := s.AddDomain(ctx, fmt.Sprintf("d%d.test", i)); err != nil {
			t.Fatal(err)
		}
		for j := 0; j <= i; j++ {
			ok, err := s.HasDomain(ctx, fmt.Sprintf("d%d.test", j))
			if err != nil || !ok {
				t.Fatalf("HasDomain(d%d.test) after %d adds = %v, %v", j, i+1, ok, err)
			}
		}
		if ok, err := s.HasDomain(ctx, "missing.test"); err != nil || ok {
			t.Fatalf("HasDomain(missing.test) = %v, %v", ok, err)
		}
	}
	count := func(c *stmtCache) int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.stmts)
	}
	if n := count(s.rstmts); n == 0 {
		t.Error("no read statement was prepared")
	}
	if n := count(s.wstmts); n == 0 {
		t.Error("no write statement was prepared")
	}
	if due := s.wstmts.pending(); len(due) != 0 {
		t.Errorf("write statements left due after the commits: %q", due)
	}
	// Queries used fewer than three times stay out.
	for range stmtCacheAfter - 1 {
		rows, err := s.query(ctx, "SELECT 1000")
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	if st, _ := s.rstmts.get("SELECT 1000"); st != nil {
		t.Error("a query used twice was prepared")
	}
	// A query that fails to prepare still reports its error.
	for range stmtCacheAfter + 1 {
		if _, err := s.query(ctx, "SELECT nonsense FROM nowhere"); err == nil {
			t.Fatal("a bad query succeeded")
		}
	}
}
