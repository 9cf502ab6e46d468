"""The pipeline as users run it: Kafka → bridge → Redis → worker → PostgreSQL → outbox → Kafka.

    .venv/bin/python -m bench.pipeline      (needs `make services`; `make bench` runs it)

Real processes (the bridge, one worker of 2 processes like the Procfile's), a foreign
kafka-python producer of `escrow.released` events and a foreign consumer of the
`order.completed` events they cause. An event counts as *fully processed* when its outbound
record is on Kafka. Printed side by side, in one run:

1. burst: BENCH_EVENTS releases produced at once → fully processed events/s, next to the no-op
   ceiling of the same worker (as many no-op tasks, `celery.accumulate`, on the same queue,
   one per event as the pipeline had before batching), with and without task events
   (`--events`, what Flower needs); plus what the whole system spent per event: Redis commands
   (INFO commandstats) and PostgreSQL transactions and rows (pg_stat_database);
2. steady rate: BENCH_RATE events/s for BENCH_SECONDS with task events on → latency from
   produced to outbound-visible (p50/p90/p99/max), the rate achieved, the backlog at the end;
3. SQL statements per event on the inbound and publish paths, counted in-process on the same
   task code (`bench.round_trips`).

Each configuration gets its own database, consumer group and dead-letter topic, on one scratch
Redis database (`tests.services.REDIS_DATABASES["bench-pipeline"]`), emptied before each.
Orders are seeded directly (paid, one listing and seller per tenant, BENCH_TENANTS tenants).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import create_engine, text

from marketplace.domain import database, listings
from marketplace.domain.context import Context
from marketplace.domain.models import Order, Quote
from marketplace.events import topics
from tests import factories, services
from tests.integration.system import System, migrated_database, start_pipeline, wait_for
from workers import constants

BURST = int(os.environ.get("BENCH_EVENTS", "5000"))
RATE = float(os.environ.get("BENCH_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
TENANTS = int(os.environ.get("BENCH_TENANTS", "20"))
REDIS_URL = services.redis_url("bench-pipeline")
AMOUNT, CURRENCY = 5000, "USD"


@dataclass
class Seeded:
    """Paid orders ready to be released: (tenant, order id, seller id)."""

    orders: list[tuple[str, str, str]]

    def releases(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for tenant, order_id, seller_id in self.orders:
            data = {"id": f"rel-{order_id}", "orderId": order_id, "sellerId": seller_id,
                    "amount": AMOUNT, "currency": CURRENCY}  # fmt: skip
            yield order_id, factories.cloudevent(topics.ESCROW_RELEASED, tenant, data, time=None)


def seed(url: str, count: int) -> Seeded:
    now = datetime.now(UTC)
    tenants = [str(uuid.uuid4()) for _ in range(TENANTS)]
    engine = database.make_engine(url)
    orders, paid = [], []
    with database.make_session_factory(engine)() as session, session.begin():
        ctx = Context(session, source="bench")
        listings_of = {}
        for tenant in tenants:
            draft = listings.create_listing(ctx, tenant, seller_id=f"seller-{tenant[:8]}",
                                            title="Catering", lane="vendora", price=AMOUNT,
                                            currency=CURRENCY)  # fmt: skip
            listings_of[tenant] = listings.publish_listing(ctx, tenant, draft.id).id
        session.flush()
        for number in range(count):
            tenant = tenants[number % len(tenants)]
            seller, listing = f"seller-{tenant[:8]}", listings_of[tenant]
            quote, order = f"quote-{number}", f"order-{number}"
            session.add(Quote(tenant_id=tenant, id=quote, listing_id=listing, buyer_id="buyer",
                              seller_id=seller, amount=AMOUNT, currency=CURRENCY, message="-",
                              status="accepted", submitted_at=now, accepted_at=now))  # fmt: skip
            paid.append(Order(tenant_id=tenant, id=order, quote_id=quote, listing_id=listing,
                              buyer_id="buyer", seller_id=seller, amount=AMOUNT,
                              currency=CURRENCY, status="paid", refund_status="none",
                              payment_id=f"pay-{number}", created_at=now, updated_at=now,
                              paid_at=now))  # fmt: skip
            orders.append((tenant, order, seller))
        session.flush()  # the quotes first: no relationship() tells the ORM the order
        session.add_all(paid)
    engine.dispose()
    return Seeded(orders)


@contextmanager
def pipeline(url: str, log_dir: Path, *, task_events: bool) -> Iterator[System]:
    system = System(url, REDIS_URL, log_dir)
    system.redis.flushdb()
    if task_events:
        system.worker.argv.append("--events")
    try:
        start_pipeline(system)
        yield system
    finally:
        system.stop_all()


class Completed:
    """A foreign consumer of `order.completed`, from its end when created."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        name = topics.ORDER_COMPLETED.name
        parts = [TopicPartition(name, p) for p in self.consumer.partitions_for_topic(name) or ()]
        self.consumer.assign(parts)
        self.consumer.seek_to_end(*parts)
        for part in parts:
            self.consumer.position(part)
        self.seen: dict[str, float] = {}  # order id -> outbound record's timestamp (s)

    def read_until(self, count: int, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and time.monotonic() < deadline:
            for records in self.consumer.poll(timeout_ms=200).values():
                for record in records:
                    self.seen.setdefault(json.loads(record.value)["data"]["id"],
                                         record.timestamp / 1000)  # fmt: skip

    def close(self) -> None:
        self.consumer.close()


def send(system: System, event: dict[str, Any]) -> None:
    system.producer.send(
        topics.ESCROW_RELEASED.name, json.dumps(event).encode(), key=event["tenantid"].encode(),
        headers=[("content-type", b"application/cloudevents+json")],
    )  # fmt: skip


@dataclass
class Burst:
    rate: float
    redis_commands: float
    transactions: float
    rows_written: float


def burst(log_dir: Path, *, task_events: bool) -> Burst:
    with migrated_database() as url:
        seeded = seed(url, BURST)
        with pipeline(url, log_dir, task_events=task_events) as system:
            completed = Completed(system.bootstrap)
            events = [event for _, event in seeded.releases()]
            redis_before, pg_before = redis_commands(system.redis), pg_counters(url)
            start = time.time()
            for event in events:
                send(system, event)
            system.producer.flush()
            completed.read_until(BURST, timeout=900)
            assert len(completed.seen) == BURST, f"{len(completed.seen)} of {BURST} completed"
            rate = BURST / (max(completed.seen.values()) - start)
            redis_spent = (redis_commands(system.redis) - redis_before) / BURST
            pg_after = pg_counters(url)
            completed.close()
    spent = {key: (pg_after[key] - pg_before[key]) / BURST for key in pg_before}
    return Burst(rate, redis_spent, spent["transactions"], spent["rows"])


def no_op_ceiling(log_dir: Path, *, task_events: bool) -> float:
    """The same worker running one no-op task per event from the inbound queue."""
    with migrated_database() as url, pipeline(url, log_dir, task_events=task_events) as system:
        app = Celery(broker=REDIS_URL)  # a plain client: nothing of the pipeline's own
        start = time.perf_counter()
        with app.producer_or_acquire() as producer:
            for _ in range(BURST):
                app.send_task("celery.accumulate", args=[1], queue=constants.INBOUND_QUEUE,
                              producer=producer, ignore_result=True)  # fmt: skip

        def done() -> bool:
            return not system.redis.llen(constants.INBOUND_QUEUE) and not system.redis.hlen(
                "unacked"
            )

        wait_for(done, timeout=600, interval=0.05, what=f"{BURST} no-op tasks")
        seconds = time.perf_counter() - start
        app.close()
    return BURST / seconds


@dataclass
class Steady:
    achieved: float
    latencies: list[float]
    missing: int
    backlog: dict[str, int]


def steady(log_dir: Path) -> Steady:
    count = int(RATE * SECONDS)
    with migrated_database() as url:
        seeded = seed(url, count)
        with pipeline(url, log_dir, task_events=True) as system:
            completed = Completed(system.bootstrap)
            produced: dict[str, float] = {}
            start = time.monotonic()
            for number, (order_id, event) in enumerate(seeded.releases()):
                due = start + number / RATE
                while (now := time.monotonic()) < due:
                    completed.read_until(len(completed.seen) + 1, timeout=min(due - now, 0.005))
                produced[order_id] = time.time()
                send(system, event)
            system.producer.flush()
            achieved = count / (time.monotonic() - start)
            backlog = {
                "inbound queue": int(system.redis.llen(constants.INBOUND_QUEUE)),
                "publish queue": int(system.redis.llen(constants.PUBLISH_QUEUE)),
                "outbox pending": outbox_pending(url),
            }
            completed.read_until(count, timeout=120)
            completed.close()
    latencies = sorted(
        (completed.seen[order] - at) * 1000
        for order, at in produced.items()
        if order in completed.seen
    )
    return Steady(achieved, latencies, count - len(latencies), backlog)


def redis_commands(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return sum(int(value["calls"]) for value in stats.values())


def pg_counters(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as connection:
        row = connection.execute(text(
            "select xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted"
            " from pg_stat_database where datname = current_database()"
        )).one()  # fmt: skip
    engine.dispose()
    return {"transactions": int(row[0]), "rows": int(row[1])}


def outbox_pending(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        pending = connection.execute(text("select count(*) from outbox where status='pending'"))
        count = int(pending.scalar_one())
    engine.dispose()
    return count


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def main() -> None:
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"burst: {BURST} escrow.released → order.completed, {TENANTS} tenants, one worker -c 2")
    with tempfile.TemporaryDirectory() as scratch:
        logs = os.environ.get("BENCH_LOGS") or scratch
        log_dir = Path(logs)
        for task_events in () if os.environ.get("BENCH_ONLY") == "steady" else (False, True):
            label = "with task events (--events)" if task_events else "without task events"
            ceiling = no_op_ceiling(log_dir, task_events=task_events)
            measured = burst(log_dir, task_events=task_events)
            print(f"  {label}")
            print(f"    no-op ceiling (1 task an event)  {ceiling:>7,.0f} tasks/s")
            print(f"    fully processed                  {measured.rate:>7,.0f} events/s"
                  f"   ratio {measured.rate / ceiling:.2f}x")  # fmt: skip
            print(f"    per event: {measured.redis_commands:.2f} Redis commands,"
                  f" {measured.transactions:.3f} PostgreSQL transactions,"
                  f" {measured.rows_written:.2f} rows written")  # fmt: skip
        print(f"steady: {RATE:.0f} events/s for {SECONDS:.0f} s, task events on (the Procfile's)")
        result = steady(log_dir)
    lat = result.latencies
    print(f"  achieved {result.achieved:,.0f} events/s; produced → outbound visible:"
          f" p50 {percentile(lat, 0.5):,.0f} ms, p90 {percentile(lat, 0.9):,.0f} ms,"
          f" p99 {percentile(lat, 0.99):,.0f} ms, max {max(lat, default=float('nan')):,.0f} ms;"
          f" {result.missing} not seen")  # fmt: skip
    print(f"  backlog when the producer stopped: {result.backlog}")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
