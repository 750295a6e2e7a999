package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/tests/bench/cfuncs"
	"github.com/cgoguard/cgoguard/tests/bench/rpcplugin"
)

// Every benchmark calls the same empty C function (or the same NULL write)
// so that their ratios to BenchmarkRawCgo, from the same run, mean something.

var pluginPath = flag.String("plugin", "", "prebuilt plugin binary (default: go build ./plugin into a temporary directory)")

var tmpDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if err := guard.Install(); err != nil {
		fmt.Fprintln(os.Stderr, "guard.Install:", err)
		os.Exit(1)
	}
	code := m.Run()
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

func BenchmarkRawCgo(b *testing.B) {
	var arg unsafe.Pointer
	for b.Loop() {
		cfuncs.RawEmpty(arg)
	}
}

func BenchmarkGuardCall(b *testing.B) {
	var arg unsafe.Pointer
	for b.Loop() {
		if err := guard.Call(cfuncs.Empty, arg); err != nil {
			b.Fatal(err)
		}
	}
}

// A deadline that never fires: arming and disarming it is the cost.
func BenchmarkGuardCallDeadline(b *testing.B) {
	var arg unsafe.Pointer
	opt := guard.WithTimeout(time.Second)
	for b.Loop() {
		if err := guard.Call(cfuncs.Empty, arg, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// A cancellable context that is never cancelled.
func BenchmarkGuardCallContext(b *testing.B) {
	var arg unsafe.Pointer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for b.Loop() {
		if err := guard.CallContext(ctx, cfuncs.Empty, arg); err != nil {
			b.Fatal(err)
		}
	}
}

// The seed-style wrapper: six sigactions, setitimer arm, sigsetjmp, call,
// setitimer disarm, six sigactions back, on every call. It is
// single-threaded, so the goroutine stays on one thread.
func BenchmarkSeedStyleCall(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var arg unsafe.Pointer
	for b.Loop() {
		if sig := cfuncs.SeedCall(cfuncs.Empty, arg, 1_000_000); sig != 0 {
			b.Fatalf("signal %d", sig)
		}
	}
}

// Fault and recover: a NULL write under guard.Call, no frames recorded.
func BenchmarkFaultRecover(b *testing.B) {
	opt := guard.WithMaxFrames(0)
	for b.Loop() {
		if err := guard.Call(cfuncs.NullWrite, nil, opt); !errors.Is(err, guard.ErrCrash) {
			b.Fatal("no crash error:", err)
		}
	}
}

// The same with guard.Call's defaults: up to 32 C frames recorded and
// symbolized during the call. The process's first symbolization loads the
// binary's debug information (cgosymbolizer); that one-time cost is kept
// out of ns/op and reported as first-ms.
func BenchmarkFaultRecoverFrames(b *testing.B) {
	warmSymbolizer(b)
	for b.Loop() {
		if err := guard.Call(cfuncs.NullWrite, nil); !errors.Is(err, guard.ErrCrash) {
			b.Fatal("no crash error:", err)
		}
	}
	b.ReportMetric(float64(firstFault)/1e6, "first-ms")
}

var (
	firstOnce  sync.Once
	firstFault time.Duration
)

// warmSymbolizer makes the process's first fault with frames, timed.
func warmSymbolizer(b *testing.B) {
	firstOnce.Do(func() {
		t0 := time.Now()
		if err := guard.Call(cfuncs.NullWrite, nil); !errors.Is(err, guard.ErrCrash) {
			b.Fatal("no crash error:", err)
		}
		firstFault = time.Since(t0)
	})
}

// A read() on a pipe that never gets data, stopped by a 1ms WithTimeout.
// ns/op includes the 1ms; over-µs is the mean time past it. The
// interrupt's frames are recorded and symbolized, as a fault's.
func BenchmarkInterruptBlockingRead(b *testing.B) {
	warmSymbolizer(b)
	if err := cfuncs.PipeSetup(); err != nil {
		b.Fatal(err)
	}
	out := cfuncs.NewLong()
	defer cfuncs.Free(out)
	const timeout = time.Millisecond
	opt := guard.WithTimeout(timeout)
	for b.Loop() {
		if err := guard.Call(cfuncs.ReadPipe, out, opt); !errors.Is(err, guard.ErrTimeout) {
			b.Fatal("not a timeout:", err)
		}
	}
	perOp := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(perOp-timeout)/1e3, "over-µs")
}

// go-plugin: the empty C function called in a plugin process over net/rpc.
func BenchmarkPluginCall(b *testing.B) {
	p := startPlugin(b)
	defer p.client.Kill()
	for b.Loop() {
		if err := p.f.Empty(); err != nil {
			b.Fatal(err)
		}
	}
}

// go-plugin: the NULL write in the plugin process, which dies. One op is
// the failed call (the crash seen as an RPC error), cleaning up the dead
// client, starting a new plugin process, and the next successful call:
// what recovering from a crash costs under process isolation.
func BenchmarkPluginCrashRestart(b *testing.B) {
	p := startPlugin(b)
	for b.Loop() {
		if err := p.f.NullWrite(); err == nil {
			b.Fatal("the plugin survived a NULL write")
		}
		p.client.Kill()
		p = startPlugin(b)
		if err := p.f.Empty(); err != nil {
			b.Fatal(err)
		}
	}
	p.client.Kill()
}

type pluginProc struct {
	client *plugin.Client
	f      rpcplugin.CFuncs
}

var (
	buildOnce sync.Once
	buildErr  error
)

// pluginBinary returns the plugin binary, built on first use unless
// -plugin names one.
func pluginBinary(b *testing.B) string {
	buildOnce.Do(func() {
		if *pluginPath != "" {
			return
		}
		tmpDir, buildErr = os.MkdirTemp("", "cgoguard-bench-")
		if buildErr != nil {
			return
		}
		*pluginPath = filepath.Join(tmpDir, "plugin")
		gocmd := "go"
		if p, err := exec.LookPath("go"); err != nil {
			gocmd = filepath.Join(runtime.GOROOT(), "bin", "go")
		} else {
			gocmd = p
		}
		out, err := exec.Command(gocmd, "build", "-o", *pluginPath, "./plugin").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building the plugin: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return *pluginPath
}

func startPlugin(b *testing.B) *pluginProc {
	path := pluginBinary(b)
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: rpcplugin.Handshake,
		Plugins:         plugin.PluginSet{rpcplugin.Name: &rpcplugin.Plugin{}},
		Cmd:             exec.Command(path),
		Logger:          hclog.NewNullLogger(),
	})
	rc, err := c.Client()
	if err != nil {
		c.Kill()
		b.Fatal(err)
	}
	raw, err := rc.Dispense(rpcplugin.Name)
	if err != nil {
		c.Kill()
		b.Fatal(err)
	}
	return &pluginProc{client: c, f: raw.(rpcplugin.CFuncs)}
}

// Scaling: b.N calls shared among g goroutines; ns/op is wall time per call
// (the inverse of throughput), calls/s the throughput.

var scaleGoroutines = []int{1, 2, 4, 8, 16}

func benchScale(b *testing.B, call func(b *testing.B)) {
	for _, g := range scaleGoroutines {
		b.Run(fmt.Sprintf("g=%d", g), func(b *testing.B) {
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range g {
				n := b.N / g
				if i < b.N%g {
					n++
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for range n {
						call(b)
					}
				}()
			}
			b.ResetTimer()
			t0 := time.Now()
			close(start)
			wg.Wait()
			el := time.Since(t0)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "calls/s")
		})
	}
}

// The raw cgo call, for reference.
func BenchmarkScaleRawCgo(b *testing.B) {
	benchScale(b, func(*testing.B) { cfuncs.RawEmpty(nil) })
}

func BenchmarkScaleGuardCall(b *testing.B) {
	benchScale(b, func(b *testing.B) {
		if err := guard.Call(cfuncs.Empty, nil); err != nil {
			b.Error(err)
		}
	})
}

func BenchmarkScaleFaultRecover(b *testing.B) {
	opt := guard.WithMaxFrames(0)
	benchScale(b, func(b *testing.B) {
		if err := guard.Call(cfuncs.NullWrite, nil, opt); !errors.Is(err, guard.ErrCrash) {
			b.Error("no crash error:", err)
		}
	})
}
