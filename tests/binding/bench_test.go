package binding

import (
	"database/sql"
	"sort"
	"testing"
	"time"

	"github.com/cgoguard/cgoguard/guard/guardsql"
	_ "github.com/mattn/go-sqlite3" // registers "sqlite3"
)

// SELECT 1 on an in-memory SQLite database through database/sql, with
// go-sqlite3 as it is (raw) and through guardsql (every driver call under
// guard.Do, in two guarded calls: the query with its column names and its
// first row, and Close), side by side; and the two interleaved in one
// benchmark, which reports guardsql's time over raw as "ratio" (robust to
// a machine whose load changes between the two).
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
	// Pairs of chunks, ABBA order, one ratio per pair; the median. The
	// control runs the method on two raw databases: its ratio is the
	// method's own bias.
	raw2, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		b.Fatal(err)
	}
	defer raw2.Close()
	raw2.SetMaxOpenConns(1)
	raw2.SetMaxIdleConns(1)
	b.Run("interleaved", func(b *testing.B) { interleave(b, raw, g, one) })
	b.Run("control", func(b *testing.B) { interleave(b, raw, raw2, one) })
}

// interleave runs one on a and on b in pairs of chunks, ABBA order, and
// reports the median of the pairs' time ratios, b's over a's.
func interleave(tb *testing.B, a, b *sql.DB, one func(*testing.B, *sql.DB)) {
	const chunk = 100
	var ratios []float64
	var ta, tbb time.Duration
	k := 0
	for tb.Loop() {
		var da, db time.Duration
		for _, first := range []bool{k%2 == 0, k%2 != 0} {
			start := time.Now()
			x := b
			if first {
				x = a
			}
			for i := 0; i < chunk; i++ {
				one(tb, x)
			}
			if first {
				da = time.Since(start)
			} else {
				db = time.Since(start)
			}
		}
		k++
		ta += da
		tbb += db
		ratios = append(ratios, float64(db)/float64(da))
	}
	sort.Float64s(ratios)
	tb.ReportMetric(ratios[len(ratios)/2], "ratio")
	tb.ReportMetric(float64(ta.Nanoseconds())/float64(tb.N*chunk), "a-ns/op")
	tb.ReportMetric(float64(tbb.Nanoseconds())/float64(tb.N*chunk), "b-ns/op")
}
