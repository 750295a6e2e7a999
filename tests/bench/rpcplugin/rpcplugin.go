// Package rpcplugin is the go-plugin (net/rpc) interface of the comparison
// benchmarks: a plugin process that calls the same C functions as the
// guarded benchmarks, with process isolation instead of a guard.
package rpcplugin

import (
	"net/rpc"

	"github.com/hashicorp/go-plugin"
)

// Handshake is shared by the plugin binary and the benchmarks.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "CGOGUARD_BENCH_PLUGIN",
	MagicCookieValue: "cfuncs",
}

// Name is the name the plugin is dispensed under.
const Name = "cfuncs"

// CFuncs is what the plugin offers: one method per C function.
type CFuncs interface {
	// Empty calls the empty C function.
	Empty() error
	// NullWrite calls the C function that writes through NULL: the
	// plugin process dies and the call returns an RPC error.
	NullWrite() error
}

// Plugin is the go-plugin Plugin for CFuncs; Impl is set in the plugin
// process only.
type Plugin struct{ Impl CFuncs }

// Server serves Impl over net/rpc (in the plugin process).
func (p *Plugin) Server(*plugin.MuxBroker) (any, error) { return &Server{Impl: p.Impl}, nil }

// Client returns the CFuncs that calls the plugin process.
func (*Plugin) Client(_ *plugin.MuxBroker, c *rpc.Client) (any, error) { return &Client{c: c}, nil }

// Client is CFuncs over net/rpc.
type Client struct{ c *rpc.Client }

func (c *Client) Empty() error {
	var out int
	return c.c.Call("Plugin.Empty", 0, &out)
}

func (c *Client) NullWrite() error {
	var out int
	return c.c.Call("Plugin.NullWrite", 0, &out)
}

// Server is the net/rpc receiver in the plugin process.
type Server struct{ Impl CFuncs }

func (s *Server) Empty(_ int, out *int) error { return s.Impl.Empty() }

func (s *Server) NullWrite(_ int, out *int) error { return s.Impl.NullWrite() }
