package tests

import (
	"context"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// Importing the package changes no signal handler and starts no thread;
// the first Call installs the fault handlers, the first deadline the
// timeout signal's handler and the watchdog.
func TestImportChangesNothing(t *testing.T) {
	bin := buildProgram(t, "./importprog")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`(?m)^(.*): segv=(\w+) timeout=(\w+) watchdog=(\w+)$`)
	m := re.FindAllStringSubmatch(string(out), -1)
	if len(m) != 3 {
		t.Fatalf("output:\n%s", out)
	}
	imported, afterCall, afterDeadline := m[0], m[1], m[2]
	check := func(ok bool, what string) {
		if !ok {
			t.Errorf("%s\n%s", what, out)
		}
	}
	check(imported[4] == "false" && afterCall[4] == "false", "a watchdog thread before any deadline")
	check(afterDeadline[4] == "true", "no watchdog thread after a deadline")
	check(imported[2] != afterCall[2], "the first Call did not install the SIGSEGV handler")
	check(afterCall[2] == afterDeadline[2], "the SIGSEGV handler changed again")
	check(imported[3] == afterCall[3], "the timeout signal's handler changed before any deadline")
	check(afterCall[3] != afterDeadline[3] && afterDeadline[3] == afterDeadline[2], "the first deadline did not install the timeout signal's handler")
}
