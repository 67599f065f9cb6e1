#!/usr/bin/env bash
# cluster.sh start|stop: three local nodes for trying the cluster.
# Data under ./data/node-N, Kafka on 127.0.0.1:9092/9192/9292, HTTP on
# 9644/9645/9646, gossip on 7946/8046/8146, raft on 7947/8047/8147; the
# three share one object store, the directory data-cluster-objectstore (a
# stand-in for the bucket a real cluster shares; kept by make clean).
set -euo pipefail
bin=${BIN:-bin/strata}
cmd=${1:-start}
join=127.0.0.1:7946,127.0.0.1:8046,127.0.0.1:8146
case "$cmd" in
start)
	for i in 1 2 3; do
		off=$(( (i - 1) * 100 ))
		dir=data/node-$i
		mkdir -p "$dir"
		if [ -f "$dir/node.pid" ] && kill -0 "$(cat "$dir/node.pid")" 2>/dev/null; then
			echo "node $i already running (pid $(cat "$dir/node.pid"))"
			continue
		fi
		nohup "$bin" node --node-id "$i" --data-dir "$dir" --object-store "file://$PWD/data-cluster-objectstore" \
			--kafka-addr "127.0.0.1:$((9092 + off))" --http-addr "127.0.0.1:$((9644 + i - 1))" \
			--gossip-addr "127.0.0.1:$((7946 + off))" --raft-addr "127.0.0.1:$((7947 + off))" \
			--bootstrap-expect 3 --join "$join" >"$dir/node.log" 2>&1 &
		echo $! >"$dir/node.pid"
	done
	for i in 1 2 3; do
		for _ in $(seq 1 300); do
			if curl -fs "http://127.0.0.1:$((9644 + i - 1))/readyz" >/dev/null 2>&1; then break; fi
			sleep 0.1
		done
		if ! curl -fs "http://127.0.0.1:$((9644 + i - 1))/readyz" >/dev/null 2>&1; then
			echo "node $i did not become ready; see data/node-$i/node.log" >&2
			exit 1
		fi
	done
	echo "cluster ready: --bootstrap 127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292 (logs in data/node-N/node.log; make stop-cluster)"
	;;
stop)
	for i in 1 2 3; do
		pidf=data/node-$i/node.pid
		[ -f "$pidf" ] || continue
		pid=$(cat "$pidf")
		if kill -TERM "$pid" 2>/dev/null; then
			for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		fi
		rm -f "$pidf"
	done
	echo "cluster stopped"
	;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
