// Command pluginprog is a helper for tests/plugin_test.go: it loads the
// plugin tests/pluginprog/plug (built with -buildmode=plugin) and checks
// that a fault in the plugin's Go code is Go's, under guard.Call and
// guard.Do, while a fault in the plugin's C code is recovered.
//
//	pluginprog PLUGIN.so
package main

import (
	"errors"
	"fmt"
	"os"
	"plugin"
	"runtime"
	"unsafe"

	"github.com/cgoguard/cgoguard/guard"
)

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "pluginprog:", msg)
	os.Exit(65)
}

// lookup returns the plugin's exported function name.
func lookup(p *plugin.Plugin, name string) plugin.Symbol {
	s, err := p.Lookup(name)
	if err != nil {
		fail(err.Error())
	}
	return s
}

// goPanic runs f and returns the Go panic it raised, if any.
func goPanic(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: pluginprog PLUGIN.so")
	}
	if err := guard.Install(); err != nil {
		fail(err.Error())
	}
	p, err := plugin.Open(os.Args[1])
	if err != nil {
		fail(err.Error())
	}
	fmt.Println("plugin loaded")

	callGo := lookup(p, "CallGoPtr").(func() unsafe.Pointer)()
	nullWrite := lookup(p, "NullWritePtr").(func() unsafe.Pointer)()

	// A C fault in the plugin's C code: recovered.
	var ce *guard.CrashError
	if err := guard.Call(nullWrite, nil); !errors.As(err, &ce) {
		fail(fmt.Sprintf("C fault in the plugin under Call: %v", err))
	}
	fmt.Println("plugin C fault under Call:", ce.Signal)
	if err := guard.Do(func() { cCall(nullWrite) }); !errors.As(err, &ce) {
		fail(fmt.Sprintf("C fault in the plugin under Do: %v", err))
	}
	fmt.Println("plugin C fault under Do:", ce.Signal)

	// A fault in the plugin's Go code, in a callback from C: Go's own
	// panic, under Call and under Do alike.
	for _, how := range []string{"Call", "Do"} {
		var ret error
		v := goPanic(func() {
			if how == "Call" {
				ret = guard.Call(callGo, nil)
			} else {
				ret = guard.Do(func() { cCall(callGo) })
			}
		})
		re, ok := v.(runtime.Error)
		if !ok {
			fail(fmt.Sprintf("Go fault in the plugin under %s: panic %v, returned %v; want a Go runtime error panic", how, v, ret))
		}
		fmt.Printf("plugin Go fault under %s: Go panic: %v\n", how, re)
	}
	fmt.Println("ok")
}
