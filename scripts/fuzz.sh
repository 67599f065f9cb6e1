#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each (default 10s).
# `make test` runs them briefly; `make fuzz FUZZTIME=5m` runs them longer.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-10s}"
status=0
while IFS= read -r file; do
	dir="./$(dirname "$file")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		echo "fuzz: $dir $target ($FUZZTIME)"
		if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$dir"; then
			status=1
		fi
	done
done < <(grep -rlE '^func Fuzz' --include='*_test.go' . | grep -v '/bin/' | sort)
exit $status
