module github.com/cgoguard/cgoguard

go 1.25.0

require github.com/ianlancetaylor/cgosymbolizer v0.0.0-20250410214317-b8ecc8b6bbe6

require golang.org/x/sys v0.47.0

require github.com/coreos/go-systemd/v22 v22.7.0
