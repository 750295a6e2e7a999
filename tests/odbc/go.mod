module github.com/cgoguard/cgoguard/tests/odbc

go 1.25.0

replace github.com/cgoguard/cgoguard => ../..

require (
	github.com/alexbrainman/odbc v0.0.0-20250601004241-49e6b2bc0cf0
	github.com/cgoguard/cgoguard v0.0.0-00010101000000-000000000000
)

require (
	github.com/ianlancetaylor/cgosymbolizer v0.0.0-20250410214317-b8ecc8b6bbe6 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
