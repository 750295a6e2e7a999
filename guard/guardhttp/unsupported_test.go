//go:build !(linux && amd64 && cgo)

package guardhttp_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cgoguard/cgoguard/guard/guardhttp"
)

// TestUnsupported: where guard.Do cannot guard, the handler is not run
// unguarded: every request answers 500 and the log says why.
func TestUnsupported(t *testing.T) {
	var log bytes.Buffer
	ran := false
	h := &guardhttp.Guard{
		Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }),
		Logger:  slog.New(slog.NewTextHandler(&log, nil)),
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if ran || w.Code != 500 || !strings.Contains(log.String(), "not supported") {
		t.Errorf("ran %v, code %d, log %q", ran, w.Code, log.String())
	}
}
