"""Throughput of the bridge's hot path, measured side by side in one run.

    make bench        (needs Redis and Kafka: `make services`)

1. decode: `decoding.from_record` on structured vs binary records (CPU only);
2. enqueue: the bridge's `TaskSender` (one connection, one pipeline per batch, the inbound
   ledger written first), the same without the ledger, and a plain `send_task` per record, all
   into a scratch Redis database;
3. bridge: records produced to a consumed topic → read, decoded, enqueued and committed by a
   real `Bridge` (consumer group of its own), end to end against Kafka and Redis.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import redis
from kafka import KafkaProducer

from marketplace.events import decoding, topics
from marketplace.events.envelope import RawRecord
from tests import factories, services

N = int(os.environ.get("BENCH_EVENTS", "5000"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", services.redis_url("bench-enqueue"))
TENANT = "00000000-0000-0000-0000-0000000000b1"


def sample(i: int) -> dict[str, object]:
    data = {"id": f"pay-{i}", "orderId": f"order-{i}", "amount": 5000, "currency": "USD"}
    return factories.cloudevent(topics.PAYMENT_COMPLETED, TENANT, data)


def structured(event: dict[str, object]) -> RawRecord:
    return RawRecord(
        str(event["type"]),
        json.dumps(event).encode(),
        TENANT.encode(),
        (("content-type", b"application/cloudevents+json"),),
    )


def binary(event: dict[str, Any]) -> RawRecord:
    value, headers = factories.binary(event)
    return RawRecord(str(event["type"]), value, TENANT.encode(), tuple(headers))


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_decode() -> None:
    events = [sample(i) for i in range(N)]
    for label, make in (("structured", structured), ("binary", binary)):
        records = [make(e) for e in events]
        seconds = timed(lambda rs=records: [decoding.from_record(r, max_bytes=1 << 20) for r in rs])
        print(f"decode {label:<10} {rate(N, seconds):>9,.0f} records/s")


def bench_enqueue() -> float:
    os.environ["REDIS_URL"] = REDIS_URL
    from workers import constants
    from workers.celery_app import app
    from workers.inbound_ledger import InboundLedger
    from workers.task_sender import TaskSender

    class NoLedger(InboundLedger):
        def record(self, cloudevents: Any, *, now: float) -> None:
            pass

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    decoded = [decoding.from_record(structured(sample(i)), max_bytes=1 << 20) for i in range(N)]

    def one_by_one() -> None:
        with app.producer_or_acquire() as producer:
            for event in decoded:
                app.send_task(
                    constants.INBOUND_TASKS[event.topic.name],
                    args=[event.to_dict()],
                    task_id=event.id,
                    queue=constants.INBOUND_QUEUE,
                    producer=producer,
                )

    def batched(sender: TaskSender) -> None:
        for start in range(0, N, 500):
            sender.send(decoded[start : start + 500])

    plain = rate(N, timed(one_by_one))
    unledgered = rate(N, timed(lambda: batched(TaskSender(app, NoLedger(client)))))
    pipelined = rate(N, timed(lambda: batched(TaskSender(app, InboundLedger(client)))))
    client.flushdb()
    print(f"enqueue send_task each  {plain:>9,.0f} tasks/s")
    print(
        f"enqueue pipelined batch {unledgered:>9,.0f} tasks/s   ratio {unledgered / plain:.2f}x"
        "   (without the inbound ledger)"
    )
    print(f"enqueue TaskSender      {pipelined:>9,.0f} tasks/s   ratio {pipelined / plain:.2f}x")
    return pipelined


def bench_bridge() -> None:
    from marketplace.consumer.dead_letter import DeadLetterSender
    from marketplace.consumer.producer import RenewingProducer
    from workers.bridge import Bridge
    from workers.celery_app import app
    from workers.inbound_ledger import InboundLedger
    from workers.kafka_clients import make_consumer, make_producer
    from workers.settings import load_settings
    from workers.task_sender import TaskSender

    group = f"bench-{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        kafka_enabled=True,
        redis_url=REDIS_URL,
        kafka_consumer_group=group,
        kafka_dlq_topic=f"eventzr.marketplace.dlq.bench-{group}",
    )
    consumer = make_consumer(settings, auto_offset_reset="latest")
    bridge = Bridge(
        consumer,
        TaskSender(app, InboundLedger(redis.Redis.from_url(REDIS_URL))),
        DeadLetterSender(
            RenewingProducer(lambda: make_producer(settings)),
            settings.kafka_dlq_topic,
            max_record_bytes=settings.kafka_max_record_bytes,
        ),
        max_record_bytes=settings.kafka_max_record_bytes,
        poll_timeout_ms=100,
        max_hold_seconds=0,  # no worker takes these tasks: the bridge's own rate, unheld
    )
    consumer.subscribe([topics.PAYMENT_COMPLETED.name])
    while not consumer.assignment():
        consumer.poll(timeout_ms=100)
    for tp in consumer.assignment():
        consumer.seek_to_end(tp)
        consumer.position(tp)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5)
    for i in range(N):
        producer.send(
            topics.PAYMENT_COMPLETED.name,
            json.dumps(sample(i)).encode(),
            key=TENANT.encode(),
            headers=[("content-type", b"application/cloudevents+json")],
        )
    producer.flush()
    start = time.perf_counter()
    while bridge.processed < N:
        batch = consumer.poll(timeout_ms=100, max_records=500)
        if batch:
            bridge.handle(batch)
    seconds = time.perf_counter() - start
    consumer.close()
    redis.Redis.from_url(REDIS_URL).flushdb()
    print(
        f"bridge end to end       {rate(N, seconds):>9,.0f} events/s"
        "  (Kafka → decode → Redis → commit)"
    )


if __name__ == "__main__":
    print(f"{N} events per measurement")
    bench_decode()
    bench_enqueue()
    bench_bridge()
