#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each (default 10s).
# `make test` runs them briefly; `make fuzz FUZZTIME=5m` runs them longer.
#
# A target fails when the fuzzer finds an input that fails ("Failing input
# written to ..."). Go's fuzzing coordinator can also stop with "context
# deadline exceeded" when -fuzztime ends while a worker is still starting,
# without any failing input; such a run is repeated once.
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-10s}"
status=0
run() {
	local dir=$1 target=$2 out
	out=$(go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$dir" 2>&1)
	local rc=$?
	echo "$out" | tail -3
	if [ $rc -ne 0 ] && ! grep -q "Failing input written to" <<<"$out" && grep -q "context deadline exceeded" <<<"$out"; then
		return 2
	fi
	if [ $rc -ne 0 ]; then echo "$out"; fi
	return $rc
}
while IFS= read -r file; do
	dir="./$(dirname "$file")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		echo "fuzz: $dir $target ($FUZZTIME)"
		run "$dir" "$target"
		rc=$?
		if [ $rc -eq 2 ]; then
			echo "fuzz: $target: coordinator deadline without a failing input; running again"
			run "$dir" "$target"
			rc=$?
			[ $rc -eq 2 ] && { echo "fuzz: $target: deadline again, no failing input found"; rc=0; }
		fi
		[ $rc -ne 0 ] && status=1
	done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | grep -v '^./bin/' | sort)
if [ $status -eq 0 ]; then echo "fuzz: all targets passed"; fi
exit $status
