#!/usr/bin/env bash
# Runs franz-go's own integration suite (pkg/kgo) against a fresh Strata
# node: the compatibility bar nobody here wrote. Usage:
#   scripts/compat.sh [go test -run regexp]
# Environment: KGO_TEST_RECORDS (default 50000) lowers the suite's record
# count; COMPAT_TIMEOUT (default 20m) bounds the run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VERSION=$(go list -m -f '{{.Version}}' github.com/twmb/franz-go)
SRC=$(go mod download -json "github.com/twmb/franz-go@$VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
WORK=$(mktemp -d /tmp/strata-compat.XXXXXX)
NODE_PID=""
cleanup() {
	if [ -n "$NODE_PID" ]; then kill -TERM "$NODE_PID" 2>/dev/null || true; wait "$NODE_PID" 2>/dev/null || true; fi
	chmod -R u+w "$WORK" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# The module cache is read-only: copy the module so go test can run in it.
cp -r "$SRC" "$WORK/franz-go"
chmod -R u+w "$WORK/franz-go"

go build -o "$WORK/strata" ./cmd/strata
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
KPORT=$(free_port)
HPORT=$(free_port)
"$WORK/strata" node --data-dir "$WORK/data" --kafka-addr "127.0.0.1:$KPORT" --http-addr "127.0.0.1:$HPORT" \
	--log-level warn >"$WORK/node.log" 2>&1 &
NODE_PID=$!
for _ in $(seq 1 300); do
	if curl -fs "http://127.0.0.1:$HPORT/readyz" >/dev/null 2>&1; then break; fi
	sleep 0.1
done
curl -fs "http://127.0.0.1:$HPORT/readyz" >/dev/null || { cat "$WORK/node.log"; echo "compat: node did not start"; exit 1; }

echo "compat: franz-go $VERSION pkg/kgo against Strata on 127.0.0.1:$KPORT"
cd "$WORK/franz-go/pkg/kgo"
set +e
KGO_SEEDS="127.0.0.1:$KPORT" KGO_TEST_RF=1 KGO_TEST_RECORDS="${KGO_TEST_RECORDS:-50000}" \
	go test -count=1 -timeout "${COMPAT_TIMEOUT:-20m}" -v ${1:+-run "$1"} . 2>&1 | tee "$WORK/kgo.log" |
	grep -E '^(=== RUN|--- (PASS|FAIL|SKIP)|PASS|FAIL|ok|panic)' | grep -v '^=== RUN'
rc=${PIPESTATUS[0]}
set -e
pass=$(grep -c -- '^--- PASS' "$WORK/kgo.log" || true)
fail=$(grep -c -- '^--- FAIL' "$WORK/kgo.log" || true)
skip=$(grep -c -- '^--- SKIP' "$WORK/kgo.log" || true)
echo "compat: $pass passed, $fail failed, $skip skipped"
if [ "$rc" -ne 0 ]; then
	echo "compat: last lines of the suite's output:"; tail -40 "$WORK/kgo.log"
	echo "compat: last lines of the node's log:"; tail -20 "$WORK/node.log"
fi
exit "$rc"
