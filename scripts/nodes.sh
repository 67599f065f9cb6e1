# Shared by compat.sh and sarama.sh (sourced): start Strata nodes on free
# loopback ports and copy a Go module out of the read-only module cache.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# copy_module MODULE DEST: the module at the version go.mod requires,
# writable, so go test can run in it.
copy_module() {
	local version src
	version=$(go list -m -f '{{.Version}}' "$1")
	src=$(go mod download -json "$1@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
	cp -r "$src" "$2"
	chmod -R u+w "$2"
	echo "$version"
}

# start_nodes BIN WORK N: N nodes (one plain node when N is 1, else a
# cluster sharing one object store), logs in WORK/node-I.log. With
# ADVERTISE_BASE set, node I advertises 127.0.0.1:ADVERTISE_BASE+I; with
# RACKS set, node I is on rack I; NODE_ARGS adds flags to every node;
# with ON_PORTS set, that function runs once the ports are chosen and
# before any node starts. Each node's command is WORK/node-I.sh (run it
# again to restart the node; start_node I does), its pid in
# WORK/node-I.pid and its HTTP port in WORK/node-I.http. Sets KPORTS,
# HPORTS and SEEDS (the Kafka addresses, comma separated), then waits
# until every node is ready.
start_nodes() {
	local bin=$1 work=$2 n=$3 i join="" gports=() rports=() extra
	NODES_WORK=$work NODES_N=$n KPORTS=() HPORTS=() SEEDS=""
	for i in $(seq 1 "$n"); do
		gports+=("$(free_port)") rports+=("$(free_port)") KPORTS+=("$(free_port)") HPORTS+=("$(free_port)")
		SEEDS="$SEEDS${SEEDS:+,}127.0.0.1:${KPORTS[$((i - 1))]}"
	done
	# A caller's hook may route to the ports before the nodes start.
	if [ -n "${ON_PORTS:-}" ]; then "$ON_PORTS"; fi
	join=$(printf '127.0.0.1:%s,' "${gports[@]}")
	join=${join%,}
	for i in $(seq 1 "$n"); do
		extra="${NODE_ARGS:-}"
		if [ -n "${ADVERTISE_BASE:-}" ]; then extra="$extra --advertised-kafka-addr 127.0.0.1:$((ADVERTISE_BASE + i))"; fi
		if [ -n "${RACKS:-}" ]; then extra="$extra --rack $i"; fi
		if [ "$n" -gt 1 ]; then
			extra="$extra --node-id $i --object-store file://$work/objectstore --gossip-addr 127.0.0.1:${gports[$((i - 1))]}"
			extra="$extra --raft-addr 127.0.0.1:${rports[$((i - 1))]} --bootstrap-expect $n --join $join"
		fi
		cat >"$work/node-$i.sh" <<SCRIPT
exec "$bin" node --data-dir "$work/data-$i" --kafka-addr 127.0.0.1:${KPORTS[$((i - 1))]} \\
	--http-addr 127.0.0.1:${HPORTS[$((i - 1))]} --log-level ${NODE_LOG_LEVEL:-warn} $extra >>"$work/node-$i.log" 2>&1
SCRIPT
		echo "${HPORTS[$((i - 1))]}" >"$work/node-$i.http"
		start_node "$i" nowait
	done
	for i in $(seq 1 "$n"); do wait_node "$i" || return 1; done
}

# start_node I [nowait]: (re)start node I of the last start_nodes.
start_node() {
	bash "$NODES_WORK/node-$1.sh" &
	echo $! >"$NODES_WORK/node-$1.pid"
	if [ "${2:-}" != nowait ]; then wait_node "$1"; fi
}

# wait_node I: wait until node I answers /readyz.
wait_node() {
	local hport
	hport=$(cat "$NODES_WORK/node-$1.http")
	for _ in $(seq 1 300); do
		if curl -fs "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	tail -n 30 "$NODES_WORK/node-$1.log"
	echo "node $1 did not start" >&2
	return 1
}

# stop_node I: SIGTERM node I (a controlled shutdown) and wait for it.
stop_node() {
	local pid
	pid=$(cat "$NODES_WORK/node-$1.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$NODES_WORK/node-$1.pid"
}

# stop_nodes: stop every node of the last start_nodes.
stop_nodes() {
	local i
	[ -n "${NODES_WORK:-}" ] || return 0
	for i in $(seq 1 "$NODES_N"); do
		pid=$(cat "$NODES_WORK/node-$i.pid" 2>/dev/null) && kill -TERM "$pid" 2>/dev/null || true
	done
	for i in $(seq 1 "$NODES_N"); do stop_node "$i"; done
}
