"""Drives kafka-python against a Strata node for e2e/clients_python_test.go.

Usage: python3 py_kafka_python.py produce|consume|auth
Environment: BROKER, TOPIC, GROUP, PARTITIONS, COUNT, FIRST, EXPECT, and, all
optional, SECURITY_PROTOCOL, SASL_MECHANISM, SASL_USERNAME, SASL_PASSWORD,
SSL_CA (e2e/security_clients_test.go). Prints one JSON object per line on
stdout.
"""
import json
import logging
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


def security():
    """kafka-python's security arguments from the environment; empty
    (plaintext, no SASL) when none is set. kafka-python takes the SCRAM user
    and password in its sasl_plain_* arguments."""
    kw = {}
    for var, arg in (("SECURITY_PROTOCOL", "security_protocol"), ("SASL_MECHANISM", "sasl_mechanism"),
                     ("SASL_USERNAME", "sasl_plain_username"), ("SASL_PASSWORD", "sasl_plain_password"),
                     ("SSL_CA", "ssl_cafile")):
        if os.environ.get(var):
            kw[arg] = os.environ[var]
    return kw


SECURITY = security()


def value(i):
    return ("kafka-python value %d " % i) + ("padding-%d " % (i % 10)) * 20


def produce():
    p = KafkaProducer(bootstrap_servers=BROKER, acks="all", compression_type="gzip", linger_ms=5, **SECURITY)
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
                      heartbeat_interval_ms=500, **SECURITY)
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


def auth():
    """Asks for the topics with the configured credentials and reports how
    the broker answered: "metadata" with the topic count, or "refused" with
    the exception's class name (key) and text (value). kafka-python speaks
    SaslHandshake v0, after which a broker can only refuse a login by closing
    the connection, and its bootstrap then raises NoBrokersAvailable; so the
    script also watches kafka-python's log and reports key
    "ClosedDuringSCRAM" when the connection was closed in the SCRAM exchange,
    after the TLS handshake and the SASL handshake succeeded, and no login
    succeeded."""
    seen = []

    class Capture(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    log = logging.getLogger("kafka")
    log.setLevel(logging.DEBUG)
    log.addHandler(Capture())
    try:
        c = KafkaConsumer(bootstrap_servers=BROKER, request_timeout_ms=10000, api_version_auto_timeout_ms=10000,
                          **SECURITY)
        topics = c.topics()
        c.close()
        out(event="metadata", count=len(topics))
    except Exception as e:  # noqa: BLE001 - the test checks which one
        scram_closed = any("Error receiving reply from server" in m for m in seen)
        logged_in = any("Authenticated as" in m for m in seen)
        if scram_closed and not logged_in:
            out(event="refused", key="ClosedDuringSCRAM", value="%s: %s" % (type(e).__name__, e))
        else:
            out(event="refused", key=type(e).__name__, value=str(e))


PHASES = {"produce": produce, "consume": consume, "auth": auth}

if __name__ == "__main__":
    PHASES[sys.argv[1]]()
