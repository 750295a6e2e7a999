package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Dumps hold raw memory: the directory a dump lands in, after its symlinks
// are resolved, must be owned by the process's effective uid and writable
// by no one else. SetDumpDir refuses one that is not, and a directory that
// turns unsafe after it was set gets no dump (DumpErr says why). A symlink
// to a private directory works.
func TestDumpDirRules(t *testing.T) {
	bins := crashprog(t)
	base := t.TempDir()
	mk := func(name string, mode os.FileMode, uid int) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			if err := os.Chown(p, uid, -1); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	link := func(name, target string) string {
		p := filepath.Join(base, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	root := os.Geteuid() == 0
	world := mk("world", 0o777, -1)
	priv := mk("private", 0o700, -1)
	dirs := map[string]string{
		"world":        world,
		"link-world":   link("link-world", world),
		"link-private": link("link-private", priv),
	}
	if root {
		other := mk("other", 0o700, 65534) // nobody
		dirs["other"] = other
		dirs["link-other"] = link("link-other", other)
	}
	for _, c := range []string{"world", "other", "link-world", "link-other", "link-private"} {
		t.Run(c, func(t *testing.T) {
			dir, ok := dirs[c]
			if !ok {
				t.Skip("needs root to give a directory to another user")
			}
			out, ws := runChild(t, childEnv(""), bins.std, "dump-dir", c, dir)
			wantExit0(t, c, ws, out)
			if c == "link-private" {
				re := regexp.MustCompile(`(?m)^dump: path=` + regexp.QuoteMeta(dir) + `/cgoguard-[^ ]+\.dmp real=` +
					regexp.QuoteMeta(priv) + `/cgoguard-[^ ]+\.dmp err=<nil>$`)
				if !strings.Contains(out, "set: <nil>\n") || !re.MatchString(out) {
					t.Fatalf("no dump through the symlink to a private directory:\n%s", out)
				}
				return
			}
			why := "writable by its group or by others (mode 0777); make it 0700"
			if strings.HasSuffix(c, "other") {
				why = "owned by uid 65534, not by the process's effective uid 0"
			}
			wantContains(t, c, out,
				"set: guard: unsafe crash dump directory "+dir,
				why+"\ndump after change: path= err=guard: crash dump not written: guard: unsafe crash dump directory ",
				"files in the private directory: 0")
			if strings.HasPrefix(c, "link-") {
				wantContains(t, c, out, "-link ("+dirs[strings.TrimPrefix(c, "link-")]+"): "+why)
			}
			// Nothing was written into the unsafe directory.
			real := dirs[strings.TrimPrefix(c, "link-")]
			if entries, err := os.ReadDir(real); err != nil || len(entries) != 0 {
				t.Fatalf("%s holds %d files (%v)", real, len(entries), err)
			}
		})
	}
}
