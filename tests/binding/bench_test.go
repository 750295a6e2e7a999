package binding

import (
	"database/sql"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard/guardsql"
	_ "github.com/mattn/go-sqlite3" // registers "sqlite3"
)

// SELECT 1 on an in-memory SQLite database through database/sql, with
// go-sqlite3 as it is (raw) and through guardsql (every driver call under
// guard.Do: QueryContext, Columns, two Next, Close), side by side; and the
// two interleaved in one benchmark, which reports guardsql's time over
// raw as "ratio" (robust to a machine whose load changes between the two).
func BenchmarkSelect1(b *testing.B) {
	raw, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	g, err := guardsql.Open("sqlite3", ":memory:")
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	for _, db := range []*sql.DB{raw, g} {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
	}
	one := func(b *testing.B, db *sql.DB) {
		var n int
		if err := db.QueryRow("SELECT 1").Scan(&n); err != nil || n != 1 {
			b.Fatal(err, n)
		}
	}
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			one(b, raw)
		}
	})
	b.Run("guardsql", func(b *testing.B) {
		for b.Loop() {
			one(b, g)
		}
	})
	b.Run("interleaved", func(b *testing.B) {
		const chunk = 200
		var tRaw, tG time.Duration
		for b.Loop() {
			start := time.Now()
			for i := 0; i < chunk; i++ {
				one(b, raw)
			}
			mid := time.Now()
			for i := 0; i < chunk; i++ {
				one(b, g)
			}
			tRaw += mid.Sub(start)
			tG += time.Since(mid)
		}
		b.ReportMetric(float64(tG)/float64(tRaw), "ratio")
		b.ReportMetric(float64(tRaw.Nanoseconds())/float64(b.N*chunk), "raw-ns/op")
		b.ReportMetric(float64(tG.Nanoseconds())/float64(b.N*chunk), "guardsql-ns/op")
	})
}
