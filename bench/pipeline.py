"""The whole pipeline measured from the outside, as issue 9 asks, on the path users run: the
Procfile's bridge and workers (`bench.layout`) over Kafka, Redis and PostgreSQL, a foreign
kafka-python producer writing `escrow.released` events and a foreign consumer waiting for the
`order.completed` each one causes (`bench.traffic`). The paid orders they complete are written
beforehand (`bench.seed`), outside every timed window.

    .venv/bin/python -m bench.pipeline      (needs `make services`; part of `make bench`)

1. Burst, without and with task events (`--events`, what Flower needs): first the no-op
   ceiling of the warmed-up workers, `BENCH_EVENTS` no-op tasks (Celery's built-in
   `celery.accumulate`, under the app's task class) sent to the inbound queue and timed until
   all ran; then `BENCH_EVENTS` events produced at once, timed until the last outbound record
   is on Kafka (cut short after `BENCH_TIMEOUT` s, 45: the rate then counts what arrived);
   their ratio; the round trips per event during the burst (`bench.round_trips`) and the CPU
   time per event of every process (`bench.machine`).
2. Latency at a fixed rate, with `--events` (the `make run` layout): `BENCH_RATE` events/s
   (200) for `BENCH_SECONDS` s (60; the goal is 300), inbound-produced -> outbound-visible
   p50/p90/p99/max and where the time went (`bench.stages`), the rate achieved, the backlog
   when the sending ends and after up to `BENCH_DRAIN_SECONDS` s (20) more, the round trips.
3. Issue 9's goals, each with what this run measured: `holds` or `MISSED`.

Each run has its own database and consumer group, on one scratch Redis database (named in
`tests.services.REDIS_DATABASES`), emptied first. Every figure comes with the machine's load.
`BENCH_TENANTS` (8) spreads the orders over tenants; `BENCH_LOG_DIR` keeps the processes' logs.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from bench import backlog, machine, report, round_trips, seed, stages
from bench.layout import Stack
from bench.traffic import Arrivals, Producer
from tests import services
from tests.integration.system import System, celery_client_of, migrated_database, wait_for
from workers import constants

EVENTS = int(os.environ.get("BENCH_EVENTS", "5000"))
RATE = float(os.environ.get("BENCH_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
DRAIN_SECONDS = float(os.environ.get("BENCH_DRAIN_SECONDS", "20"))
TENANTS = int(os.environ.get("BENCH_TENANTS", "8"))
BURST_TIMEOUT_SECONDS = float(os.environ.get("BENCH_TIMEOUT", "45"))
WARM_UP = 200
"""Events through the pipeline before any window opens: connections made, code paths warm."""
NOOP_TASK = "celery.accumulate"
"""Built into every Celery app; returns its arguments, so it costs only Celery's own work."""


@dataclass(frozen=True)
class Burst:
    task_events: bool
    produced: int
    rate: float
    complete: bool
    """Every outbound record arrived before `BENCH_TIMEOUT`."""
    noop_rate: float
    counts: round_trips.Counts
    before: machine.Load
    after: machine.Load


@dataclass(frozen=True)
class Latency:
    sent: int
    achieved_rate: float
    latencies: list[float]
    """Seconds from produced to visible, one per event that arrived."""
    stages: dict[str, list[float]]
    """produced -> claimed -> recorded -> sent -> visible (seconds), from the inbox and outbox."""
    at_end: backlog.Backlog
    visible_at_end: int
    after_drain: backlog.Backlog
    counts: round_trips.Counts
    """From the first event sent to the end of the drain, per event visible."""
    before: machine.Load
    after: machine.Load


@contextmanager
def running(task_events: bool, log_dir: Path) -> Iterator[Stack]:
    log_dir.mkdir(parents=True)
    with migrated_database() as url:
        system = System(url, services.redis_url("bench-pipeline"), log_dir)
        system.redis.flushdb()
        stack = Stack(system, task_events, log_dir)
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()


@contextmanager
def clients(stack: Stack, count: int) -> Iterator[tuple[list[seed.PaidOrder], Producer, Arrivals]]:
    """`WARM_UP + count` paid orders, the foreign clients, and the warm-up done; yields the
    `count` orders left for the window."""
    engine = create_engine(stack.system.database_url)
    producer, arrivals = Producer(stack.system.bootstrap), Arrivals(stack.system.bootstrap)
    try:
        with Session(engine) as session:
            orders = seed.paid_orders(
                session, WARM_UP + count, tenants=TENANTS, prefix=uuid.uuid4().hex[:8]
            )
        warm_up, window = orders[:WARM_UP], orders[WARM_UP:]
        arrivals.watch(orders)
        producer.burst(warm_up)
        if not arrivals.wait_for(warm_up, timeout=120):
            raise RuntimeError(f"the warm-up's {WARM_UP} events were not processed in 120 s")
        settle(stack)
        yield window, producer, arrivals
    finally:
        producer.close()
        arrivals.close()
        engine.dispose()


def settle(stack: Stack, timeout: float = 120) -> None:
    """Wait until no task and no outbox row is left (what a window ends with)."""
    wait_for(
        lambda: backlog.measure(stack, bridge=False).empty,
        timeout=timeout,
        interval=0.2,
        what="the pipeline to be idle",
    )


def burst(task_events: bool, log_dir: Path, admin: Engine) -> Burst:
    """The no-op ceiling first, on the idle, warmed-up workers; then the burst. A burst that
    outlives `BENCH_TIMEOUT` is cut short: its rate and round trips count the events that
    made it, and its leftovers die with the stack."""
    with running(task_events, log_dir) as stack, clients(stack, EVENTS) as (orders, p, a):
        noop_rate = noop_ceiling(stack, len(orders))
        settle(stack)
        database = stack.system.database_url.rsplit("/", 1)[1]
        before, load_before = round_trips.snapshot(admin, database, stack), machine.load(stack)
        since = datetime.now(UTC)
        start = time.perf_counter()
        p.burst(orders)
        complete = a.wait_for(orders, timeout=BURST_TIMEOUT_SECONDS)
        seconds = time.perf_counter() - start
        if complete:
            settle(stack)  # the round trips of the last publish tasks belong to the burst
        time.sleep(1)  # pg_stat_database counts reach the view within a second
        after, load_after = round_trips.snapshot(admin, database, stack), machine.load(stack)
        done = sum(order.id in a.seen_at for order in orders)
        counts = round_trips.between(before, after, stack, events=max(done, 1), since=since)
        return Burst(
            task_events, len(orders), done / seconds, complete, noop_rate, counts, load_before,
            load_after,
        )  # fmt: skip


def noop_ceiling(stack: Stack, count: int) -> float:
    """No-op tasks per second through the same workers: sent in pipelined batches (the
    bridge's way), timed from the first send until the inbound queue and the tasks taken are
    both empty, twice in a row (a task is briefly in neither while a worker takes it)."""
    client = celery_client_of(stack.system)
    redis = stack.system.redis

    def idle() -> bool:
        return not redis.llen(constants.INBOUND_QUEUE) and not redis.hlen("unacked")

    def done() -> bool:
        if not idle():
            return False
        time.sleep(0.02)
        return idle()

    start = time.perf_counter()
    with client.producer_or_acquire() as producer, producer.batch(max_size=500):
        for _ in range(count):
            client.send_task(
                NOOP_TASK, queue=constants.INBOUND_QUEUE, producer=producer, ignore_result=True
            )
    wait_for(done, timeout=600, interval=0.02, what=f"{count} no-op tasks")
    seconds = time.perf_counter() - start
    client.close()
    return count / seconds


def latency(log_dir: Path, admin: Engine) -> Latency:
    with running(True, log_dir) as stack, clients(stack, int(RATE * SECONDS)) as (orders, p, a):
        database = stack.system.database_url.rsplit("/", 1)[1]
        before, load_before = round_trips.snapshot(admin, database, stack), machine.load(stack)
        since = datetime.now(UTC)
        achieved = p.paced(orders, RATE)
        at_end = backlog.measure(stack)
        visible_at_end = sum(order.id in a.seen_at for order in orders)
        a.wait_for(orders, timeout=DRAIN_SECONDS)
        after_drain = backlog.measure(stack)
        time.sleep(1)  # pg_stat_database counts reach the view within a second
        after, load_after = round_trips.snapshot(admin, database, stack), machine.load(stack)
        produced = {order.id: p.sent_at[order.id] for order in orders}
        seen = [a.seen_at[i] - produced[i] for i in produced if i in a.seen_at]
        counts = round_trips.between(before, after, stack, events=max(len(seen), 1), since=since)
        spent = stages.of(stack, produced, p.orders, a.stamped_at, a.seen_at)
        return Latency(
            len(orders), achieved, seen, spent,
            at_end, visible_at_end, after_drain, counts, load_before, load_after,
        )  # fmt: skip


@contextmanager
def _log_dir() -> Iterator[str]:
    """The processes' logs: kept under `BENCH_LOG_DIR` if set, else thrown away."""
    kept = os.environ.get("BENCH_LOG_DIR")
    if kept:
        yield str(Path(kept) / datetime.now().strftime("pipeline-%Y%m%d-%H%M%S"))
        return
    with tempfile.TemporaryDirectory() as logs:
        yield logs


def main() -> None:
    admin = create_engine(services.POSTGRES_TEST_URL)
    try:
        with _log_dir() as logs:
            bursts = [
                burst(events, Path(logs) / f"burst-{label}", admin)
                for events, label in ((False, "quiet"), (True, "events"))
            ]
            report.print_bursts(bursts, tenants=TENANTS)
            fixed = latency(Path(logs) / "latency", admin)
            report.print_latency(fixed, rate=RATE, seconds=SECONDS, drain=DRAIN_SECONDS)
            report.print_goals(bursts, fixed, seconds=SECONDS)
    finally:
        admin.dispose()


if __name__ == "__main__":
    main()
