// The go-plugin process of the comparison benchmarks: serves the empty and
// the faulting C function over net/rpc, unguarded. A call to NullWrite
// kills this process, as a C fault kills any Go program.
package main

import (
	"io"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/cgoguard/cgoguard/tests/bench/cfuncs"
	"github.com/cgoguard/cgoguard/tests/bench/rpcplugin"
)

type impl struct{}

func (impl) Empty() error {
	cfuncs.RawEmpty(nil)
	return nil
}

func (impl) NullWrite() error {
	cfuncs.RawNullWrite()
	return nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: rpcplugin.Handshake,
		Plugins:         plugin.PluginSet{rpcplugin.Name: &rpcplugin.Plugin{Impl: impl{}}},
		Logger:          hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off}),
	})
}
