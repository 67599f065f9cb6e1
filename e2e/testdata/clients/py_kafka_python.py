"""Drives kafka-python against a Strata node for e2e/clients_python_test.go.

Usage: python3 py_kafka_python.py produce|consume
Environment: BROKER, TOPIC, GROUP, PARTITIONS, COUNT, FIRST, EXPECT. Prints
one JSON object per line on stdout.
"""
import json
import os
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def out(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def env(k, d=None):
    v = os.environ.get(k, d)
    if v is None:
        raise SystemExit("missing " + k)
    return v


BROKER, TOPIC = env("BROKER"), env("TOPIC")
PARTS = int(env("PARTITIONS", "3"))


def value(i):
    return ("kafka-python value %d " % i) + ("padding-%d " % (i % 10)) * 20


def produce():
    p = KafkaProducer(bootstrap_servers=BROKER, acks="all", compression_type="gzip", linger_ms=5)
    first, count = int(env("FIRST", "0")), int(env("COUNT"))
    futures = []
    for i in range(first, first + count):
        futures.append(p.send(TOPIC, key=("k-%d" % i).encode(), value=value(i).encode(), partition=i % PARTS,
                              headers=[("idx", str(i).encode()), ("src", b"kafka-python")]))
    for f in futures:
        md = f.get(timeout=30)
        out(event="ack", topic=md.topic, partition=md.partition, offset=md.offset)
    p.close(10)
    # kafka-python infers the broker's version from ApiVersions.
    out(event="produced", count=count, value="api_version %s" % (p.config["api_version"],))


def consume():
    expect = int(env("EXPECT"))
    c = KafkaConsumer(TOPIC, bootstrap_servers=BROKER, group_id=env("GROUP"), auto_offset_reset="earliest",
                      enable_auto_commit=False, fetch_max_wait_ms=100, session_timeout_ms=6000,
                      heartbeat_interval_ms=500)
    seen = 0
    deadline = time.time() + 30
    linger = None
    while time.time() < deadline and (linger is None or time.time() < linger):
        batches = c.poll(timeout_ms=200)
        for recs in batches.values():
            for m in recs:
                headers = {k: v.decode() for k, v in (m.headers or [])}
                out(event="record", topic=m.topic, partition=m.partition, offset=m.offset,
                    key=m.key.decode(), value=m.value.decode(), headers=headers)
                seen += 1
                if seen == expect:
                    linger = time.time() + 0.5
    if seen < expect:
        out(event="error", error="consumed %d of %d" % (seen, expect))
        return
    c.commit()
    for p in range(PARTS):
        out(event="committed", topic=TOPIC, partition=p, offset=c.committed(TopicPartition(TOPIC, p)))
    c.close()
    out(event="consumed", count=seen)


PHASES = {"produce": produce, "consume": consume}

if __name__ == "__main__":
    PHASES[sys.argv[1]]()
