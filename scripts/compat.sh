#!/usr/bin/env bash
# Runs franz-go's own integration suite (pkg/kgo) against fresh Strata
# nodes: the compatibility bar nobody here wrote. Usage:
#   scripts/compat.sh [go test -run regexp]
# Environment: COMPAT_NODES (default 1) runs that many clustered nodes
# (make compat-cluster: 3, topics at KGO_TEST_RF 3); KGO_TEST_RECORDS
# (default 50000) lowers the suite's record count; COMPAT_TIMEOUT
# (default 20m) bounds the run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/nodes.sh
WORK=$(mktemp -d /tmp/strata-compat.XXXXXX)
cleanup() {
	stop_nodes
	chmod -R u+w "$WORK" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

VERSION=$(copy_module github.com/twmb/franz-go "$WORK/franz-go")
go build -o "$WORK/strata" ./cmd/strata
NODES=${COMPAT_NODES:-1}
start_nodes "$WORK/strata" "$WORK" "$NODES"
RF=${KGO_TEST_RF:-$((NODES < 3 ? NODES : 3))}

echo "compat: franz-go $VERSION pkg/kgo against $NODES Strata node(s) ($SEEDS), topics at replication factor $RF"
cd "$WORK/franz-go/pkg/kgo"
set +e
KGO_SEEDS="$SEEDS" KGO_TEST_RF="$RF" KGO_TEST_RECORDS="${KGO_TEST_RECORDS:-50000}" \
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
	echo "compat: last lines of the nodes' logs:"; tail -n 20 "$WORK"/node-*.log
fi
exit "$rc"
