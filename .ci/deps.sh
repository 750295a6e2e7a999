#!/bin/sh
# Installs what building and testing cgoguard needs on Debian: a C compiler
# and headers, zlib's headers (the tests fault inside zlib), libpq's headers
# and a PostgreSQL server (tests/pg_test.go interrupts libpq talking to a
# real server; tests/internal/pgclient and examples/pgtimeout link libpq),
# SQLite's (tests/internal/sqliteclient links libsqlite3; tests/binding
# builds a loadable extension against sqlite3ext.h), unixODBC and
# psqlODBC (tests/odbc),
# and LLDB (tests/dump_test.go opens the crash dumps with it).
# Go itself must already be on the machine (go.mod names the version).
#
#   sh .ci/deps.sh        everything the tests need
#   sh .ci/deps.sh demo   only what the demo needs (the C compiler)
set -eu
what=${1:-test}

missing=""
command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
[ -f /usr/include/stdio.h ] || missing="$missing libc6-dev"
if [ "$what" != demo ]; then
	[ -f /usr/include/zlib.h ] || missing="$missing zlib1g-dev"
	command -v ar >/dev/null 2>&1 || missing="$missing binutils"
	[ -f /usr/include/postgresql/libpq-fe.h ] || missing="$missing libpq-dev"
	# SQLite's headers and library (tests/sqlite_test.go faults and blocks
	# inside libsqlite3).
	{ [ -f /usr/include/sqlite3.h ] && [ -f /usr/include/sqlite3ext.h ]; } || missing="$missing libsqlite3-dev"
	# The server binaries (initdb, postgres, pg_isready) of any major
	# version; the package also creates the 'postgres' user the tests run
	# the server as.
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
	# unixODBC's headers and library, and psqlODBC, the PostgreSQL ODBC
	# driver (tests/odbc: guard/guardsql over github.com/alexbrainman/odbc
	# against the test server; the driver registers itself in
	# /etc/odbcinst.ini as "PostgreSQL Unicode").
	[ -f /usr/include/sql.h ] || missing="$missing unixodbc-dev"
	ls /usr/lib/*/odbc/psqlodbcw.so >/dev/null 2>&1 || missing="$missing odbc-postgresql"
	# An independent reader of the crash dumps the tests write.
	command -v lldb >/dev/null 2>&1 || missing="$missing lldb"
	# unshare(1): tests/supervise_test.go runs a master as pid 1 of a pid
	# namespace (util-linux is essential on Debian; this is for slimmer
	# images).
	command -v unshare >/dev/null 2>&1 || missing="$missing util-linux"
fi

if [ -n "$missing" ]; then
	echo "installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		echo "not root: run  sudo apt-get install -y$missing  and try again" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! command -v go >/dev/null 2>&1; then
	echo "go is not on PATH (looked for it as 'go'; /usr/local/go/bin is the usual place)" >&2
	exit 1
fi
