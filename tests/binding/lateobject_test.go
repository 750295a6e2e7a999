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

// TestLateObjectNamed: a shared object loaded after the process's first
// guard error with frames (here a copy of the extension, loaded by a new
// connection) is one the C symbolizer does not know (it read the list of
// loaded objects once); its frames are named from the object's own symbol
// table, static functions included, and the error names the faulting
// function, not its caller.
func TestLateObjectNamed(t *testing.T) {
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
