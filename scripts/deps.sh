#!/usr/bin/env bash
# Installs the external programs the test suite drives, the same way on a
# fresh machine as on a developer's: versitygw (a real S3 server, Apache-2.0)
# is built from the Go module proxy into bin/tools; kcat and the Python Kafka
# clients (confluent-kafka on librdkafka, kafka-python) come from Debian;
# kafkajs comes from npm into bin/tools/node_modules. Whatever cannot be
# installed is reported, and the tests that need it skip.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/bin/tools"
mkdir -p "$TOOLS"

if [ ! -x "$TOOLS/versitygw" ]; then
	echo "deps: installing versitygw v1.8.0 into bin/tools (takes about a minute)"
	GOBIN="$TOOLS" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi

# Debian packages the client-compatibility tests drive: package name, then a
# command that succeeds once it is installed.
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
/usr/bin/python3 -c 'import confluent_kafka' >/dev/null 2>&1 || missing+=(python3-confluent-kafka)
/usr/bin/python3 -c 'import kafka' >/dev/null 2>&1 || missing+=(python3-kafka)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck) # lints the Terraform modules' bootstrap script
if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
		echo "deps: installing ${missing[*]} from Debian"
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) ||
			echo "deps: ${missing[*]} could not be installed; their tests will be skipped"
	else
		echo "deps: ${missing[*]} not installed and not root; their tests will be skipped"
	fi
fi

if [ ! -f "$TOOLS/node_modules/kafkajs/package.json" ]; then
	if command -v npm >/dev/null 2>&1; then
		echo "deps: installing kafkajs@2 into bin/tools/node_modules"
		npm install --prefix "$TOOLS" --no-audit --no-fund --silent kafkajs@2 >/dev/null ||
			echo "deps: kafkajs could not be installed; kafkajs tests will be skipped"
	else
		echo "deps: npm not found; kafkajs tests will be skipped"
	fi
fi
