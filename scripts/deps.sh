#!/usr/bin/env bash
# Installs the external programs the test suite drives, the same way on a
# fresh machine as on a developer's: versitygw (a real S3 server, Apache-2.0)
# is built from the Go module proxy into bin/tools; kcat comes from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/bin/tools"
mkdir -p "$TOOLS"

if [ ! -x "$TOOLS/versitygw" ]; then
	echo "deps: installing versitygw v1.8.0 into bin/tools (takes about a minute)"
	GOBIN="$TOOLS" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi

if ! command -v kcat >/dev/null 2>&1; then
	if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
		echo "deps: installing kcat from Debian"
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null) ||
			echo "deps: kcat could not be installed; kcat tests will be skipped"
	else
		echo "deps: kcat not found and not root; kcat tests will be skipped"
	fi
fi
