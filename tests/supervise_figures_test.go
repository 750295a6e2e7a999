//go:build linux

package tests

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var superviseFigures = flag.Bool("supervise-figures", false, "TestSuperviseFigures: measure (make bench-supervise)")

// rssKiBOf is VmRSS of pid.
func rssKiBOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// cpuTicks is utime+stime of pid, in clock ticks (1/100 s).
func cpuTicks(pid int) int {
	f := procStat(pid)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

// TestSuperviseMasterRSS: the master of examples/service, idle after a
// restart, stays under 10 MiB resident.
func TestSuperviseMasterRSS(t *testing.T) {
	addr := freeAddr(t)
	m := startMaster(t, exec.Command(serviceBin(t), "-addr", addr), addr)
	pid := m.workerPid()
	syscall.Kill(m.pid(), syscall.SIGHUP)
	m.waitNewWorker(pid, 10*time.Second)
	m.waitChildren(1, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if rss := rssKiBOf(t, m.pid()); rss >= 10*1024 {
		t.Errorf("master RSS %d KiB, want under 10 MiB", rss)
	} else {
		t.Logf("master RSS %d KiB", rss)
	}
}

// TestSuperviseFigures measures examples/service under the 16-client load
// (make bench-supervise): requests/s steady and through restarts, the time
// from SIGHUP to the new worker answering, and the idle master's RSS and
// CPU.
func TestSuperviseFigures(t *testing.T) {
	if !*superviseFigures {
		t.Skip("run with -supervise-figures (make bench-supervise)")
	}
	addr := freeAddr(t)
	m := startMaster(t, exec.Command(serviceBin(t), "-addr", addr, "-drain", "5s"), addr)
	pid := m.workerPid()
	fmt.Printf("load before: %s\n", uptime())

	// Idle master: RSS and CPU over 10 s.
	time.Sleep(time.Second)
	c0 := cpuTicks(m.pid())
	time.Sleep(10 * time.Second)
	c1 := cpuTicks(m.pid())
	fmt.Printf("master idle: RSS %d KiB, CPU %.2f%% (%d ticks in 10 s)\n", rssKiBOf(t, m.pid()), float64(c1-c0)/10, c1-c0)

	const path = "/work?ms=0"
	measure := func(d time.Duration, every time.Duration) (rate float64, buckets []int64, failed int64, restarts int) {
		g := startLoad(addr, path, 16)
		time.Sleep(500 * time.Millisecond) // warm up
		start, n0 := time.Now(), g.ok.Load()
		last := n0
		tick := time.NewTicker(100 * time.Millisecond)
		var next time.Time
		if every > 0 {
			next = start.Add(every / 2)
		}
		for time.Since(start) < d {
			<-tick.C
			n := g.ok.Load()
			buckets = append(buckets, (n-last)*10)
			last = n
			if every > 0 && time.Now().After(next) {
				syscall.Kill(m.pid(), syscall.SIGHUP)
				restarts++
				next = next.Add(every)
			}
		}
		tick.Stop()
		rate = float64(g.ok.Load()-n0) / time.Since(start).Seconds()
		g.finish(t)
		return rate, buckets, g.failed.Load(), restarts
	}
	for round := range 3 {
		steady, sb, sf, _ := measure(5*time.Second, 0)
		through, tb, tf, n := measure(5*time.Second, time.Second)
		fmt.Printf("round %d: steady %.0f req/s (100 ms windows: min %d, median %d; %d failed)\n", round+1, steady, slices.Min(sb), median(sb), sf)
		fmt.Printf("round %d: with a SIGHUP every second (%d restarts): %.0f req/s (%.1f%% of steady; 100 ms windows: min %d, median %d; %d failed)\n",
			round+1, n, through, 100*through/steady, slices.Min(tb), median(tb), tf)
	}

	// SIGHUP to the new worker answering, idle.
	pid = m.workerPid()
	var ds []time.Duration
	for range 20 {
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		syscall.Kill(m.pid(), syscall.SIGHUP)
		for {
			if p := m.workerPid(); p != pid {
				pid = p
				break
			}
			time.Sleep(time.Millisecond)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	fmt.Printf("SIGHUP to new worker answering (20 restarts): min %v, median %v, max %v\n",
		ds[0].Round(100*time.Microsecond), ds[len(ds)/2].Round(100*time.Microsecond), ds[len(ds)-1].Round(100*time.Microsecond))
	m.waitChildren(1, 10*time.Second)
	time.Sleep(time.Second)
	c0 = cpuTicks(m.pid())
	time.Sleep(10 * time.Second)
	c1 = cpuTicks(m.pid())
	fmt.Printf("master idle after %d restarts: RSS %d KiB, CPU %.2f%% (%d ticks in 10 s)\n",
		strings.Count(m.out.String(), "graceful restart"), rssKiBOf(t, m.pid()), float64(c1-c0)/10, c1-c0)
	fmt.Printf("load after: %s\n", uptime())
	syscall.Kill(m.pid(), syscall.SIGTERM)
	if code := m.waitExit(15 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

func median(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func uptime() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}
