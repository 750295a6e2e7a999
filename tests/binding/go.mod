module github.com/cgoguard/cgoguard/tests/binding

go 1.25.0

replace github.com/cgoguard/cgoguard => ../..

require (
	github.com/cgoguard/cgoguard v0.0.0-00010101000000-000000000000
	github.com/mattn/go-sqlite3 v1.14.53
)

require github.com/ianlancetaylor/cgosymbolizer v0.0.0-20250410214317-b8ecc8b6bbe6 // indirect
