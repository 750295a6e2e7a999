package odbc

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// examples/odbc, built and run against the test server: it must exit 0
// and print its last line.
func TestODBCExample(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "odbc-example")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = "../../examples/odbc"
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/odbc: %v\n%s", err, out)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(rctx, bin, "-dsn", dsn(server.Port))
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("examples/odbc:\n%s", out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err != nil || lines[len(lines)-1] != "odbc example: ok" {
		t.Fatalf("examples/odbc: %v; want exit 0 and the last line 'odbc example: ok'", err)
	}
}
