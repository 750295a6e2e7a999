package binding

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cgoguard/cgoguard/guard"
	"github.com/mattn/go-sqlite3"
)

var (
	lateOnce sync.Once
	latePath string // read by new connections; set before each opens
)

// TestKnownBugLateObject: a shared object loaded after the process's first
// guard error with frames (here a copy of the extension, loaded by a new
// connection) is unknown to the symbolizer, which read the list of loaded
// objects once; its frames fall back to dladdr, which cannot name a static
// function, so the innermost frame has no name, and CrashError.Error()
// then names the first named frame (sqlite3VdbeExec) as where the fault
// happened. Fails as described; skipped unless CGOGUARD_KNOWN_BUGS=1 (see
// docs/sqlite.md).
func TestKnownBugLateObject(t *testing.T) {
	if os.Getenv("CGOGUARD_KNOWN_BUGS") != "1" {
		t.Skip("known bug in the library's symbolization; CGOGUARD_KNOWN_BUGS=1 runs it")
	}
	if !haveSymbols(t) {
		t.Skip("needs -ldflags='-s=false -w=false'")
	}
	data, err := os.ReadFile(extPath)
	if err != nil {
		t.Fatal(err)
	}
	late := filepath.Join(t.TempDir(), "late.so")
	if err := os.WriteFile(late, data, 0o755); err != nil {
		t.Fatal(err)
	}
	lateOnce.Do(func() {
		sql.Register("sqlite3_late", &sqlite3.SQLiteDriver{
			ConnectHook: func(c *sqlite3.SQLiteConn) error { return c.LoadExtension(latePath, "sqlite3_guardext_init") },
		})
	})
	latePath = late
	db, err := sql.Open("sqlite3_late", "file:"+filepath.Join(t.TempDir(), "late.db"))
	if err != nil {
		t.Fatal(err)
	}
	ce := wantCrash(t, guard.Do(func() { db.Exec("SELECT segv()") })) // db is poisoned: not closed
	if len(ce.Frames) == 0 || ce.Frames[0].Function != "fn_segv" || !strings.Contains(ce.Error(), " in fn_segv ") {
		t.Errorf("innermost frame %+v; error %q: want fn_segv named in both\n%s", ce.Frames[0], ce, frameNames(ce.Frames))
	}
}
