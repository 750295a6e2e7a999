#!/bin/sh
# Installs what building and testing cgoguard needs on Debian: a C compiler
# and headers, and zlib's headers (the tests fault inside zlib). Go itself
# must already be on the machine (go.mod names the version).
set -eu

missing=""
command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
[ -f /usr/include/stdio.h ] || missing="$missing libc6-dev"
[ -f /usr/include/zlib.h ] || missing="$missing zlib1g-dev"
command -v ar >/dev/null 2>&1 || missing="$missing binutils"

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
