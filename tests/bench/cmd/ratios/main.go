// Command ratios reads `go test -bench` output (a file, or stdin) and prints,
// for every benchmark, the median ns/op over its runs, the spread of the runs,
// the ratio to a baseline benchmark from the same output (RawCgo) and the
// median allocs/op; then the medians of the other reported metrics (over-µs,
// first-ms), a goroutine-scaling table for the benchmarks with /g=N
// sub-benchmarks (calls/s), and a few head-to-head ratios. It fails if the
// output reports a failure or has no baseline.
//
//	go test -run '^$' -bench . -count 5 . > bench.txt
//	go run ./cmd/ratios bench.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

var (
	base = flag.String("base", "RawCgo", "baseline benchmark (name without the Benchmark prefix)")
	vs   = flag.String("vs", "GuardCall/RawCgo,GuardCallDeadline/RawCgo,GuardCallContext/RawCgo,SeedStyleCall/GuardCall,"+
		"PluginCall/GuardCall,PluginCall/RawCgo,PluginCrashRestart/FaultRecover,PluginCrashRestart/FaultRecoverFrames",
		"comma-separated A/B pairs of benchmarks to compare")
)

// bench is one benchmark's results over its runs, in order of appearance.
type bench struct {
	name    string
	metrics map[string][]float64 // unit -> one value per run
	units   []string             // units other than ns/op, in order of appearance
}

var procSuffix = regexp.MustCompile(`-\d+$`)

func main() {
	flag.Parse()
	in := io.Reader(os.Stdin)
	if flag.NArg() > 0 {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, "ratios:", err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	benches, failed, err := parse(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ratios:", err)
		os.Exit(1)
	}
	if failed {
		fmt.Fprintln(os.Stderr, "ratios: the benchmark output reports a failure")
		os.Exit(1)
	}
	byName := map[string]*bench{}
	for _, b := range benches {
		byName[b.name] = b
	}
	bl, ok := byName[*base]
	if !ok || len(bl.metrics["ns/op"]) == 0 {
		fmt.Fprintf(os.Stderr, "ratios: no baseline benchmark %q in the output\n", *base)
		os.Exit(1)
	}
	baseNs := median(bl.metrics["ns/op"])

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "benchmark\truns\tmedian ns/op\tspread\t× %s\tallocs/op\t\n", *base)
	for _, b := range benches {
		ns := b.metrics["ns/op"]
		if len(ns) == 0 {
			continue
		}
		m := median(ns)
		allocs := "-"
		if a := b.metrics["allocs/op"]; len(a) > 0 {
			allocs = strconv.FormatFloat(median(a), 'f', 0, 64)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t±%.0f%%\t%s\t%s\t\n", b.name, len(ns), fmtNum(m), spread(ns), fmtRatio(m/baseNs), allocs)
	}
	w.Flush()

	var extra bool
	for _, b := range benches {
		if len(b.units) > 0 && !strings.Contains(b.name, "/g=") {
			if !extra {
				fmt.Println()
				w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintf(w, "benchmark\tmetric\tmedian\t\n")
				extra = true
			}
			for _, u := range b.units {
				fmt.Fprintf(w, "%s\t%s\t%s\t\n", b.name, u, fmtNum(median(b.metrics[u])))
			}
		}
	}
	if extra {
		w.Flush()
	}

	scaling(benches)

	var pairs [][2]string
	for _, p := range strings.Split(*vs, ",") {
		a, c, ok := strings.Cut(strings.TrimSpace(p), "/")
		if ok && byName[a] != nil && byName[c] != nil {
			pairs = append(pairs, [2]string{a, c})
		}
	}
	if len(pairs) > 0 {
		fmt.Println()
		w = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(w, "comparison\tratio of medians\t\n")
		for _, p := range pairs {
			r := median(byName[p[0]].metrics["ns/op"]) / median(byName[p[1]].metrics["ns/op"])
			fmt.Fprintf(w, "%s / %s\t%s\t\n", p[0], p[1], fmtRatio(r))
		}
		w.Flush()
	}
}

// scaling prints, for each benchmark with sub-benchmarks named g=N, the
// median calls/s per N and the speed-up over g=1.
func scaling(benches []*bench) {
	type row struct {
		name string
		by   map[int]float64
	}
	var rows []*row
	idx := map[string]*row{}
	gs := map[int]bool{}
	for _, b := range benches {
		parent, sub, ok := strings.Cut(b.name, "/g=")
		if !ok {
			continue
		}
		g, err := strconv.Atoi(sub)
		if err != nil || len(b.metrics["calls/s"]) == 0 {
			continue
		}
		r := idx[parent]
		if r == nil {
			r = &row{name: parent, by: map[int]float64{}}
			idx[parent] = r
			rows = append(rows, r)
		}
		r.by[g] = median(b.metrics["calls/s"])
		gs[g] = true
	}
	if len(rows) == 0 {
		return
	}
	var cols []int
	for g := range gs {
		cols = append(cols, g)
	}
	sort.Ints(cols)
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(w, "median calls/s (× g=1)\t")
	for _, g := range cols {
		fmt.Fprintf(w, "g=%d\t", g)
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t", r.name)
		for _, g := range cols {
			v, ok := r.by[g]
			switch {
			case !ok:
				fmt.Fprint(w, "-\t")
			case r.by[1] > 0:
				fmt.Fprintf(w, "%s (%.2f)\t", fmtNum(v), v/r.by[1])
			default:
				fmt.Fprintf(w, "%s\t", fmtNum(v))
			}
		}
		fmt.Fprintln(w)
	}
	w.Flush()
}

// parse reads benchmark result lines: name, iterations, then value-unit
// pairs. The -GOMAXPROCS suffix is dropped from names.
func parse(r io.Reader) (benches []*bench, failed bool, err error) {
	byName := map[string]*bench{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	pending := "" // a benchmark name whose result line a log line cut off
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "--- FAIL") || strings.HasPrefix(line, "panic:") {
			failed = true
		}
		f := strings.Fields(line)
		// A log line written by the plugin machinery (yamux logs to
		// stderr) can land between a benchmark's name and its numbers:
		// "BenchmarkX-2 <tab>2026/11/22 ... [ERR] ...", then the numbers on
		// the next line. Join them again.
		if len(f) >= 2 && strings.HasPrefix(f[0], "Benchmark") && strings.Contains(line, "[ERR]") {
			pending = f[0]
			continue
		}
		if pending != "" && len(f) >= 3 && !strings.HasPrefix(f[0], "Benchmark") {
			f = append([]string{pending}, f...)
		}
		pending = ""
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		b := byName[name]
		if b == nil {
			b = &bench{name: name, metrics: map[string][]float64{}}
			byName[name] = b
			benches = append(benches, b)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			u := f[i+1]
			if _, seen := b.metrics[u]; !seen && u != "ns/op" && u != "B/op" && u != "allocs/op" {
				b.units = append(b.units, u)
			}
			b.metrics[u] = append(b.metrics[u], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, false, err
	}
	if len(benches) == 0 {
		return nil, failed, fmt.Errorf("no benchmark results in the input")
	}
	return benches, failed, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// spread is the largest distance of a run from the median, in percent of it.
func spread(v []float64) float64 {
	m := median(v)
	if m == 0 {
		return 0
	}
	d := 0.0
	for _, x := range v {
		if a := abs(x-m) / m; a > d {
			d = a
		}
	}
	return 100 * d
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func fmtNum(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e4:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func fmtRatio(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f×", r)
	case r >= 10:
		return fmt.Sprintf("%.1f×", r)
	default:
		return fmt.Sprintf("%.2f×", r)
	}
}
