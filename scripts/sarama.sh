#!/usr/bin/env bash
# Runs IBM/sarama's own functional suite (go test -tags functional) against
# five clustered Strata nodes behind toxiproxy, the layout the suite
# expects: proxies kafka1..kafka5 on 127.0.0.1:29091-29095, each node
# advertising its proxy, topics at replication factor 3. Usage:
#   scripts/sarama.sh [go test -run regexp]
# Environment: KAFKA_VERSION (default 4.0.0: Strata serves Kafka 4's
# protocol floor, KIP-896) is the Kafka version the suite assumes; SARAMA_TIMEOUT (default 20m) bounds the run. toxiproxy-server is
# built from the Go module proxy into bin/tools.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS="$ROOT/bin/tools"
mkdir -p "$TOOLS"
if [ ! -x "$TOOLS/toxiproxy-server" ]; then
	echo "sarama: installing toxiproxy-server v2.5.0 into bin/tools"
	GOBIN="$TOOLS" go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0
	mv "$TOOLS/server" "$TOOLS/toxiproxy-server"
fi
. scripts/nodes.sh
WORK=$(mktemp -d /tmp/strata-sarama.XXXXXX)
TOXI_PID=""
cleanup() {
	stop_nodes
	if [ -n "$TOXI_PID" ]; then kill -TERM "$TOXI_PID" 2>/dev/null || true; wait "$TOXI_PID" 2>/dev/null || true; fi
	chmod -R u+w "$WORK" 2>/dev/null || true
	if [ -z "${KEEP_WORK:-}" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

for port in 29091 29092 29093 29094 29095; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "sarama: port $port is in use; the suite needs 29091-29095" >&2
		exit 1
	fi
done

VERSION=$(copy_module github.com/IBM/sarama "$WORK/sarama")
go build -o "$WORK/strata" ./cmd/strata
TPORT=$(free_port)
"$TOOLS/toxiproxy-server" -host 127.0.0.1 -port "$TPORT" >"$WORK/toxiproxy.log" 2>&1 &
TOXI_PID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$TPORT/version" >/dev/null 2>&1 && break; sleep 0.1; done
# Each node advertises its proxy, so every connection to it, the other
# nodes' replication included, crosses the proxy the suite toggles.
make_proxies() {
	local i
	for i in 1 2 3 4 5; do
		curl -fs -X POST "http://127.0.0.1:$TPORT/proxies" \
			-d "{\"name\":\"kafka$i\",\"listen\":\"127.0.0.1:$((29090 + i))\",\"upstream\":\"127.0.0.1:${KPORTS[$((i - 1))]}\",\"enabled\":true}" >/dev/null
	done
}
# The suite's own broker settings (its docker-compose.yml): no topic
# auto-creation, RF 2 defaults, one rack per broker, no initial rebalance
# delay.
NODE_ARGS="--set auto.create.topics.enable=false --set default.replication.factor=2 --set offsets.topic.replication.factor=2"
NODE_ARGS="$NODE_ARGS --set group.initial.rebalance.delay.ms=0"
# Kafka checks leader imbalance every leader.imbalance.check.interval.seconds
# (300), so a broker the suite restarts does not get its leaderships back
# within the suite's few minutes; Strata's controller moves preferred
# leaders back within a step, which sends the suite's producers through
# NOT_LEADER_OR_FOLLOWER retries mid-test. Off, to match.
NODE_ARGS="$NODE_ARGS --set auto.leader.rebalance.enable=false"
NODE_ARGS=$NODE_ARGS RACKS=1 ADVERTISE_BASE=29090 ON_PORTS=make_proxies start_nodes "$WORK/strata" "$WORK" 5

# The suite stops and starts brokers with `docker compose stop|start
# kafka-N` and reads one's log with `docker compose logs --since T
# kafka-N`; this docker on PATH does that to the Strata node processes
# (SIGTERM, then the same command line again; the node's log from T on)
# and refuses anything else.
mkdir -p "$WORK/bin"
cat >"$WORK/bin/docker" <<SHIM
#!/usr/bin/env bash
set -euo pipefail
. "$PWD/scripts/nodes.sh"
NODES_WORK="$WORK" NODES_N=5
[ "\${1:-}" = compose ] && shift
verb=\${1:-}
shift || true
case "\$verb" in
stop | start) ;;
logs)
	since=""
	if [ "\${1:-}" = --since ]; then since=\${2:0:19}; shift 2; fi
	for svc in "\$@"; do
		awk -v since="\$since" '{ t = substr(\$1, 6, 19) } since == "" || t >= since' "$WORK/node-\${svc#kafka-}.log"
	done
	exit 0
	;;
*) echo "docker (strata sarama.sh): only 'compose stop|start|logs kafka-N' is served" >&2; exit 1 ;;
esac
for svc in "\$@"; do
	if [ "\$verb" = stop ]; then stop_node "\${svc#kafka-}"; else start_node "\${svc#kafka-}"; fi
done
SHIM
chmod +x "$WORK/bin/docker"

# Tests of features Strata does not have yet, skipped by name so that
# everything else must pass: per-broker dynamic configs (the test alters
# log.cleaner.backoff.ms on broker "1"; Strata alters the cluster-wide
# default only) and feature flags (UpdateFeatures, KIP-584).
SKIP=${SARAMA_SKIP-'^(TestFuncAdminIncrementalAlterConfigs|TestFuncAdminUpdateFeatures)$'}
echo "sarama: skipping $SKIP"
echo "sarama: IBM/sarama $VERSION functional suite against 5 Strata nodes behind toxiproxy (127.0.0.1:29091-29095)"
cd "$WORK/sarama"
set +e
PATH="$WORK/bin:$PATH" TOXIPROXY_ADDR="http://127.0.0.1:$TPORT" KAFKA_VERSION="${KAFKA_VERSION:-4.0.0}" \
	go test -tags functional -count=1 -timeout "${SARAMA_TIMEOUT:-20m}" -v -run "${1:-^TestFunc}" -skip "$SKIP" . 2>&1 | tee "$WORK/sarama.log" |
	grep -E '^(--- (PASS|FAIL|SKIP)|PASS|FAIL|ok|panic)'
rc=${PIPESTATUS[0]}
set -e
pass=$(grep -c -- '^--- PASS' "$WORK/sarama.log" || true)
fail=$(grep -c -- '^--- FAIL' "$WORK/sarama.log" || true)
skip=$(grep -c -- '^--- SKIP' "$WORK/sarama.log" || true)
echo "sarama: $pass passed, $fail failed, $skip skipped"
if [ "$rc" -ne 0 ]; then
	cp "$WORK/sarama.log" "${SARAMA_LOG:-/tmp/strata-sarama-last.log}"
	echo "sarama: failures (whole log in ${SARAMA_LOG:-/tmp/strata-sarama-last.log}):"
	grep -E -- '^--- FAIL|^\s+functional_.*_test.go:[0-9]+: .*(rror|xpected|fail|want|got)' "$WORK/sarama.log" | head -80
	echo "sarama: last lines of the nodes' logs:"; tail -n 10 "$WORK"/node-*.log
fi
exit "$rc"
