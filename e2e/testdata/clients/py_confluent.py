"""Drives confluent-kafka (librdkafka) against a Strata node for
e2e/clients_python_test.go.

Usage: python3 py_confluent.py produce|consume|txn|ctp|auth
Environment: BROKER, TOPIC, GROUP, PARTITIONS, COUNT, FIRST, EXPECT,
ISOLATION (read_committed or read_uncommitted), TXN_ID, OUT_TOPIC, and, all
optional, SECURITY_PROTOCOL, SASL_MECHANISM, SASL_USERNAME, SASL_PASSWORD,
SSL_CA (e2e/security_clients_test.go). Prints one JSON object per line on
stdout.
"""
import json
import os
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition


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


def security():
    """librdkafka's security settings from the environment; empty (plaintext,
    no SASL) when none is set."""
    conf = {}
    for var, key in (("SECURITY_PROTOCOL", "security.protocol"), ("SASL_MECHANISM", "sasl.mechanisms"),
                     ("SASL_USERNAME", "sasl.username"), ("SASL_PASSWORD", "sasl.password"),
                     ("SSL_CA", "ssl.ca.location")):
        if os.environ.get(var):
            conf[key] = os.environ[var]
    return conf


SECURITY = security()


def value(src, i):
    return ("%s value %d " % (src, i)) + ("padding-%d " % (i % 10)) * 20


def on_delivery(err, msg):
    if err is not None:
        out(event="error", error="delivery: %s" % err)
        return
    out(event="ack", topic=msg.topic(), partition=msg.partition(), offset=msg.offset())


def produce_range(p, src, first, count):
    for i in range(first, first + count):
        p.produce(TOPIC, key="k-%d" % i, value=value(src, i), partition=i % PARTS,
                  headers=[("idx", str(i).encode()), ("src", src.encode())], on_delivery=on_delivery)
        p.poll(0)


def produce():
    p = Producer({
        **SECURITY,
        "bootstrap.servers": BROKER,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "zstd",
        "linger.ms": 5,
    })
    count = int(env("COUNT"))
    produce_range(p, "confluent", int(env("FIRST", "0")), count)
    if p.flush(30) != 0:
        out(event="error", error="flush left records undelivered")
        return
    out(event="produced", count=count)


def consume():
    expect = int(env("EXPECT"))
    c = Consumer({
        **SECURITY,
        "bootstrap.servers": BROKER,
        "group.id": env("GROUP"),
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": env("ISOLATION", "read_committed"),
        "session.timeout.ms": 6000,
        "fetch.wait.max.ms": 100,
    })
    c.subscribe([TOPIC])
    seen = 0
    deadline = time.time() + 30
    linger = None
    while time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            if linger is not None and time.time() > linger:
                break
            continue
        if m.error():
            out(event="error", error=str(m.error()))
            return
        headers = {k: v.decode() for k, v in (m.headers() or [])}
        # A tombstone (a compacted topic's delete) has no value.
        val = m.value().decode() if m.value() is not None else None
        out(event="record", topic=m.topic(), partition=m.partition(), offset=m.offset(),
            key=m.key().decode(), value=val, headers=headers)
        seen += 1
        if seen == expect:
            # Linger so that a duplicate or a record that should have been
            # hidden would be seen.
            linger = time.time() + 0.5
    if seen < expect:
        out(event="error", error="consumed %d of %d" % (seen, expect))
        return
    c.commit(asynchronous=False)
    parts = [TopicPartition(TOPIC, p) for p in range(PARTS)]
    for tp in c.committed(parts, timeout=10):
        out(event="committed", topic=tp.topic, partition=tp.partition, offset=tp.offset)
    c.close()
    out(event="consumed", count=seen)


def txn():
    count = int(env("COUNT"))
    p = Producer({
        **SECURITY,
        "bootstrap.servers": BROKER,
        "transactional.id": env("TXN_ID"),
        "compression.type": "zstd",
        "linger.ms": 5,
    })
    p.init_transactions(30)
    first = 0
    for outcome in ("commit", "abort", "commit"):
        p.begin_transaction()
        produce_range(p, "confluent-" + outcome, first, count)
        if p.flush(30) != 0:
            out(event="error", error="flush left records undelivered")
            return
        if outcome == "commit":
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
        out(event="txn", value=outcome, offset=first, count=count)
        first += count


def ctp():
    """Consume-transform-produce: reads EXPECT records of TOPIC in GROUP and
    writes each, prefixed with "copied:", to OUT_TOPIC in one transaction that also
    commits the group's offsets."""
    expect, out_topic = int(env("EXPECT")), env("OUT_TOPIC")
    c = Consumer({
        **SECURITY,
        "bootstrap.servers": BROKER,
        "group.id": env("GROUP"),
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "fetch.wait.max.ms": 100,
    })
    c.subscribe([TOPIC])
    p = Producer({**SECURITY, "bootstrap.servers": BROKER, "transactional.id": env("TXN_ID"), "linger.ms": 5})
    p.init_transactions(30)
    p.begin_transaction()
    seen = 0
    deadline = time.time() + 30
    while seen < expect and time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            out(event="error", error=str(m.error()))
            return
        p.produce(out_topic, key=m.key(), value=b"copied:" + m.value(), partition=m.partition(), on_delivery=on_delivery)
        seen += 1
    if seen < expect:
        out(event="error", error="consumed %d of %d" % (seen, expect))
        return
    positions = c.position(c.assignment())
    p.send_offsets_to_transaction(positions, c.consumer_group_metadata(), 30)
    p.commit_transaction(30)
    for tp in positions:
        out(event="committed", topic=tp.topic, partition=tp.partition, offset=tp.offset)
    c.close()
    out(event="consumed", count=seen)


def auth():
    """Asks for metadata with the configured credentials and reports how the
    broker answered: "metadata" with the broker count, or one "refused" event
    per error librdkafka raised (key: its code name), stopping at the first
    authentication error."""
    errors = []
    p = Producer({**SECURITY, "bootstrap.servers": BROKER, "error_cb": errors.append,
                  "reconnect.backoff.ms": 200, "reconnect.backoff.max.ms": 1000})
    deadline = time.time() + 15
    while time.time() < deadline and not any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        try:
            md = p.list_topics(timeout=0.5)
            out(event="metadata", count=len(md.brokers))
            return
        except KafkaException as e:
            errors.append(e.args[0])
        p.poll(0.1)  # serves error_cb
    for e in errors:
        out(event="refused", key=e.name(), value=e.str())


PHASES = {"produce": produce, "consume": consume, "txn": txn, "ctp": ctp, "auth": auth}

if __name__ == "__main__":
    try:
        PHASES[sys.argv[1]]()
    except KafkaException as e:
        out(event="error", error="kafka: %s" % e)
        sys.exit(1)
