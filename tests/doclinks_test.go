package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// Every relative link in README.md and docs/ (docs/bench/ included) names a
// file that exists, and every #anchor a heading of that file, as GitHub
// makes anchors from headings. Links inside fenced code blocks and to
// other sites (http:, https:, mailto:) are not checked.
func TestDocLinks(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(root, "README.md")}
	err = filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(p string) map[string]bool {
		if a, ok := anchors[p]; ok {
			return a
		}
		a := map[string]bool{}
		if b, err := os.ReadFile(p); err == nil {
			seen := map[string]int{}
			for _, l := range prose(string(b)) {
				if !strings.HasPrefix(l, "#") {
					continue
				}
				h := strings.TrimLeft(l, "#")
				if h == l || !strings.HasPrefix(h, " ") {
					continue
				}
				s := slug(h)
				if n := seen[s]; n > 0 {
					a[s+"-"+strconv.Itoa(n)] = true
				} else {
					a[s] = true
				}
				seen[s]++
			}
		}
		anchors[p] = a
		return a
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for i, l := range prose(string(b)) {
			for _, m := range link.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if strings.HasPrefix(target, "http:") || strings.HasPrefix(target, "https:") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				checked++
				path, frag, _ := strings.Cut(target, "#")
				p := f
				if path != "" {
					p = filepath.Join(filepath.Dir(f), path)
					if _, err := os.Stat(p); err != nil {
						t.Errorf("%s:%d: %s: no such file", rel, i+1, target)
						continue
					}
				}
				if frag != "" {
					if !strings.HasSuffix(p, ".md") {
						t.Errorf("%s:%d: %s: anchor into a file that is not Markdown", rel, i+1, target)
					} else if !anchorsOf(p)[frag] {
						t.Errorf("%s:%d: %s: no heading with that anchor", rel, i+1, target)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no links found")
	}
	t.Logf("%d links in %d files", checked, len(files))
}

// prose returns the lines of a Markdown text with those of fenced code
// blocks blanked, so that line numbers stay those of the file.
func prose(s string) []string {
	lines := strings.Split(s, "\n")
	in := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			lines[i] = ""
			continue
		}
		if in {
			lines[i] = ""
		}
	}
	return lines
}

// slug is GitHub's anchor for a heading: lower case, letters, digits,
// spaces, hyphens and underscores kept (Markdown's backticks and
// punctuation dropped), spaces made hyphens.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
