# Strata build, run and test entry points. See README.md.
GO       ?= go
BIN      := bin/strata
TOOLS    := $(CURDIR)/bin/tools
export PATH := $(TOOLS):$(PATH)

.PHONY: clean-store bench-compaction bench-security bench-restore bench-read-replica build run run-cluster stop-cluster bench-failover bench-reassign test test-short deps vet fmt fuzz soak bench bench-load bench-load-ceiling compat compat-cluster compat-sarama clean

build:
	$(GO) build -o $(BIN) ./cmd/strata

run: build
	./$(BIN) node --data-dir ./data

# run-cluster starts three local nodes in the background (data under
# ./data/node-1..3, Kafka on 127.0.0.1:9092/9192/9292); stop-cluster
# stops them with SIGTERM (controlled shutdown).
run-cluster: build
	BIN=$(BIN) bash scripts/cluster.sh start

stop-cluster:
	BIN=$(BIN) bash scripts/cluster.sh stop

# bench-failover kills a partition-leading broker of a 3-node cluster
# STRATA_FAILOVER_RUNS times (default 20) and reports the time until its
# leaderships are visible on other brokers.
bench-failover:
	STRATA_FAILOVER_RUNS=$${STRATA_FAILOVER_RUNS:-20} $(GO) test -count=1 -v -run 'TestClusterFailoverTimes|TestClusterStallTimes' ./e2e

# bench-reassign moves a partition holding STRATA_REASSIGN_GB (default 10)
# GiB in the cold tier and a small hot tail to another node, and reports
# the time and the bytes the new replica copied.
bench-reassign:
	STRATA_REASSIGN_GB=$${STRATA_REASSIGN_GB:-10} $(GO) test -count=1 -v -timeout 60m -run 'TestReassignTimes' ./e2e

# bench-restore times `strata restore` and the restored node's start against
# bucket size (topics x partitions x segments) on the file store and S3
# (versitygw), with the object-store requests per minute of an idle and a
# loaded node.
bench-restore: build
	STRATA_RESTORE_BENCH=1 $(GO) test -count=1 -v -timeout 60m -run 'TestRestoreTimes' ./e2e

# bench-read-replica measures a read replica's lag behind its primary's
# acknowledgements with a 5 s upload interval.
bench-read-replica: build
	STRATA_RR_INTERVAL_MS=5000 $(GO) test -count=1 -v -timeout 20m -run 'TestReadReplica/' ./e2e

# bench-security measures produce and consume over PLAINTEXT, SSL and
# SASL_SSL (MB/s, broker CPU s/GB), SCRAM authentications per second, and
# produce with the authorizer off and on with 10,000 ACLs.
bench-security: build
	STRATA_SECURITY_BENCH=1 $(GO) test -count=1 -v -timeout 30m -run 'TestSecurityThroughput' ./e2e

# bench-compaction measures the log cleaner's throughput and the group
# coordinator's start-up against 1,000,000 offset commits, cleaner off and on
# (docs/benchmarks.md, "Compaction").
bench-compaction: build
	$(GO) test -run='^$$' -bench='CleanPass|KeyMapPut' -benchtime=3x -benchmem ./storage ./compact
	STRATA_COMPACTION_BENCH=1 $(GO) test -count=1 -v -timeout 30m -run 'TestCompactionOffsetsLoadTimes|TestCompactionColdTierCost' ./e2e

# deps installs the external programs the test suite drives: versitygw (a
# real S3 server) and kafkajs into bin/tools; kcat, python3-confluent-kafka
# and python3-kafka from Debian when running as root.
deps:
	@./scripts/deps.sh

test: deps build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	FUZZTIME=5s ./scripts/fuzz.sh

# soak runs the fault campaign's long variants (STRATA_SOAK=1): 10,000
# hostile connections, an unclean start of 2,000 partitions, repeated SIGKILLs
# under load, metadata failover timings, ten minutes of the replication
# nemesis. See docs/reliability.md and docs/replication.md.
soak: deps build
	STRATA_SOAK=1 $(GO) test -count=1 -timeout 90m -v -run 'Hostile|FDExhaustion|UncleanStart|Fsync|DiskFull|Damage|Integrity|Flip|LostObject|SIGKILL|Crash|FaultStorm|Failover|Nemesis' ./e2e ./meta

fuzz:
	FUZZTIME=$${FUZZTIME:-2m} ./scripts/fuzz.sh

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./node/... ./objectstore/...

# compat runs franz-go's own integration suite (pkg/kgo) against a fresh
# node; it takes a few minutes.
compat:
	./scripts/compat.sh

# compat-cluster runs the same suite against three clustered nodes, every
# topic it creates at replication factor 3 (KGO_TEST_RF=3).
compat-cluster:
	COMPAT_NODES=3 ./scripts/compat.sh

# compat-sarama runs IBM/sarama's functional suite (-tags functional)
# against five clustered nodes behind toxiproxy, topics at RF 3.
compat-sarama:
	./scripts/sarama.sh

# bench-load runs the bundled max-throughput workload against a throwaway
# local node, and against franz-go's in-memory kfake (the client ceiling).
bench-load: build
	./$(BIN) loadtest --local 1 --out bench-results/strata-max-throughput loadtest/workloads/max-throughput.yaml
	./$(BIN) loadtest --local 1 --out bench-results/strata-latency loadtest/workloads/latency.yaml

bench-load-ceiling: build
	./$(BIN) loadtest --kfake --out bench-results/kfake-max-throughput loadtest/workloads/max-throughput.yaml

test-short: build
	$(GO) test -count=1 -short ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w .

# clean removes the binaries and the nodes' data directories, but not the
# embedded object stores beside them (data-objectstore,
# data-cluster-objectstore): they hold the cold tier and the cluster's
# metadata, from which `strata restore` rebuilds the nodes. clean-store
# removes those too.
clean:
	rm -rf bin data
	@for d in data-objectstore data-cluster-objectstore; do \
		if [ -d $$d ]; then echo "kept $$d (the cold tier and the cluster's metadata copy; make clean-store deletes it)"; fi; \
	done

clean-store:
	rm -rf data-objectstore data-cluster-objectstore
