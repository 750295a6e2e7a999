// Package guardhttp runs net/http handlers under guard.Do, so that a native
// fault in C code a handler reaches, or a C call it makes that runs past a
// deadline, costs that one request instead of the process.
//
//	http.ListenAndServe(addr, guardhttp.Handler(mux))
//
// A fault in C (any cgo call the handler's goroutine makes while it runs)
// becomes a 500 Internal Server Error for that request alone: the
// connection, the server and the other requests go on. With
// guard.WithTimeout among the options, a C call stopped at that deadline,
// at the request context's (if earlier), or because that context was
// cancelled (the client went away) becomes a 503 Service Unavailable. The
// client sees only the status text; the report (signal, C frames,
// registers, taint, Go stack) goes to the Logger, log/slog's default logger
// unless set. When the handler had already written its header, the
// response cannot be changed: the connection is aborted, as a panic with
// http.ErrAbortHandler does. The error reaches guard's OnCrash and
// OnInterrupt hooks before the response is written, so
// supervise.RestartOnTaint sees it.
//
// Go panics in the handler, http.ErrAbortHandler included, propagate
// unchanged: net/http handles them as it would without guardhttp.
//
// See docs/http.md in the repository for what this costs and cannot
// promise.
package guardhttp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/cgoguard/cgoguard/guard/internal/optinfo"
)

// Handler runs each request's handler under guard.Do (guard.DoContext with
// the request's context when opts carry a timeout).
//
// It panics if h is nil or opts hold an option Do refuses (WithRetries, a
// bad value). The result is a *Guard: to choose the logger, build the
// Guard yourself.
func Handler(h http.Handler, opts ...guard.Option) http.Handler {
	if h == nil {
		panic("guardhttp: nil handler")
	}
	if _, err := optinfo.Timeout(&opts); err != nil {
		panic("guardhttp: " + err.Error())
	}
	return &Guard{Handler: h, Options: opts}
}

// A Guard is an http.Handler that runs Handler under guard.Do, as the
// function Handler describes. Its fields must not change once it serves.
//
//	srv.Handler = &guardhttp.Guard{Handler: mux, Logger: logger}
type Guard struct {
	// Handler is the handler guarded.
	Handler http.Handler
	// Options are given to guard.Do; with guard.WithTimeout among them,
	// guard.DoContext runs the handler with the request's context, whose
	// deadline (if earlier) and cancellation also stop its C calls.
	Options []guard.Option
	// Logger receives one record per request that faulted or was
	// interrupted: the full report, at level Error for a fault and Warn
	// for an interrupt. nil means slog.Default().
	Logger *slog.Logger
}

// ServeHTTP runs g.Handler under guard.Do.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tw := &hijackWriter{writer: writer{rw: w}}
	var rw http.ResponseWriter = &tw.writer
	if _, ok := w.(http.Hijacker); ok {
		rw = tw
	}
	h := g.Handler
	var err error
	if len(g.Options) == 0 {
		err = guard.Do(func() { h.ServeHTTP(rw, r) })
	} else if d, _ := optinfo.Timeout(&g.Options); d > 0 {
		err = guard.DoContext(r.Context(), func() { h.ServeHTTP(rw, r) }, g.Options...)
	} else {
		err = guard.Do(func() { h.ServeHTTP(rw, r) }, g.Options...)
	}
	if err != nil {
		g.failed(&tw.writer, r, err)
	}
}

// bodyHeaders are the header fields a handler may have set for the body
// it meant to send: removed before the error response replaces it. Others
// (set by middleware around the Guard, say) stay.
var bodyHeaders = []string{
	"Content-Length", "Content-Type", "Content-Encoding", "Content-Range",
	"Content-Disposition", "Content-Language", "Content-Location",
	"Etag", "Last-Modified", "Cache-Control", "Expires", "Location",
	"Transfer-Encoding", "Trailer",
}

// failed answers a request whose handler faulted, was interrupted or was
// not run, and logs the report.
func (g *Guard) failed(w *writer, r *http.Request, err error) {
	var ce *guard.CrashError
	var ie *guard.InterruptError
	var ns *guard.NotStartedError
	level, status, msg := slog.LevelError, http.StatusInternalServerError, "guardhttp: handler not run"
	var taint *guard.Taint
	switch {
	case errors.As(err, &ce):
		msg, taint = "guardhttp: native fault in handler", &ce.Taint
	case errors.As(err, &ie):
		level, status, msg, taint = slog.LevelWarn, http.StatusServiceUnavailable, "guardhttp: C call in handler interrupted", &ie.Taint
	case errors.As(err, &ns):
		// The request's context was done before the handler could run:
		// the client is gone.
		level, status = slog.LevelDebug, http.StatusServiceUnavailable
	}

	var response string
	switch {
	case w.hijacked != nil:
		// The connection is the handler's: net/http no longer manages it.
		response = "hijacked connection closed"
		w.hijacked.Close()
	case w.wrote:
		response = "aborted"
	default:
		response = fmt.Sprint(status)
		h := w.rw.Header()
		for _, k := range bodyHeaders {
			delete(h, k)
		}
		for k := range h {
			if strings.HasPrefix(k, http.TrailerPrefix) {
				delete(h, k)
			}
		}
		http.Error(w.rw, http.StatusText(status), status)
	}

	l := g.Logger
	if l == nil {
		l = slog.Default()
	}
	if l.Enabled(r.Context(), level) {
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("remote", r.RemoteAddr),
			slog.String("response", response),
			slog.String("error", err.Error()),
		}
		if taint != nil {
			attrs = append(attrs, slog.String("taint", taint.Level.String()), slog.String("taint_reason", taint.Reason))
		}
		if ce != nil || ie != nil {
			attrs = append(attrs, slog.String("report", fmt.Sprintf("%+v", err)))
		}
		l.LogAttrs(context.WithoutCancel(r.Context()), level, msg, attrs...)
	}

	if w.hijacked == nil && w.wrote {
		panic(http.ErrAbortHandler)
	}
}

// writer is the http.ResponseWriter the guarded handler gets: it notes
// whether the header went out (or may have), so that a fault after it
// aborts the connection instead of writing a second header.
type writer struct {
	rw       http.ResponseWriter
	wrote    bool     // the header was written, or may have been
	hijacked net.Conn // the connection Hijack returned
}

func (w *writer) Header() http.Header { return w.rw.Header() }

func (w *writer) WriteHeader(code int) {
	// 1xx responses other than 101 do not commit the header.
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.wrote = true
	}
	w.rw.WriteHeader(code)
}

func (w *writer) Write(b []byte) (int, error) {
	w.wrote = true
	return w.rw.Write(b)
}

// WriteString keeps io.WriteString free of a copy, as net/http's writer
// does.
func (w *writer) WriteString(s string) (int, error) {
	w.wrote = true
	return io.WriteString(w.rw, s)
}

// ReadFrom keeps io.Copy's fast path (sendfile) when the inner writer has
// one.
func (w *writer) ReadFrom(src io.Reader) (int64, error) {
	w.wrote = true
	if rf, ok := w.rw.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{w.rw}, src)
}

type writerOnly struct{ io.Writer }

// Flush writes the header if it was not, as net/http's does.
func (w *writer) Flush() { _ = w.FlushError() }

// FlushError is Flush returning the error, for http.ResponseController.
func (w *writer) FlushError() error {
	w.wrote = true
	return http.NewResponseController(w.rw).Flush()
}

// Push is HTTP/2 server push, when the inner writer has it.
func (w *writer) Push(target string, opts *http.PushOptions) error {
	if p, ok := w.rw.(http.Pusher); ok {
		return p.Push(target, opts)
	}
	return http.ErrNotSupported
}

// Unwrap gives http.ResponseController the inner writer (for deadlines
// and full duplex). Bytes written to the inner writer directly are not
// seen: after a fault, the Guard would answer 500 after them.
func (w *writer) Unwrap() http.ResponseWriter { return w.rw }

// hijackWriter is the writer for an inner writer that can be hijacked
// (HTTP/1).
type hijackWriter struct{ writer }

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := w.rw.(http.Hijacker).Hijack()
	if err == nil {
		w.wrote, w.hijacked = true, c
	}
	return c, brw, err
}
