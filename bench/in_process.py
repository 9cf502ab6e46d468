"""SQL statements, Redis commands and Kafka flushes per event, counted on the worker's own code.

    .venv/bin/python -m bench.in_process      (needs PostgreSQL and Redis: `make services`)

The client's side of `bench.round_trips` (which the servers count while the real pipeline
runs), in seconds and without any other process: what a change to the inbound path costs.

Runs `apply_batch` in-process on BENCH_BATCH `escrow.released` events (each completes a paid
order and records `order.completed`) against a fresh PostgreSQL database and the real Redis,
with a producer that acknowledges at once, and counts what each layer was asked: every
statement the engine sent (an `executemany` counts once: it is one call), Redis commands (INFO
commandstats), producer flushes. A warm-up batch runs first, so connections and compiled
statements are not counted.
"""

from __future__ import annotations

import collections
import os
import time
import uuid
from typing import Any

import redis
from kombu import pools
from sqlalchemy import event

from bench import seed
from bench.round_trips import redis_commands
from marketplace.domain import database, outbox
from tests import services
from tests.integration.system import migrated_database
from tests.workers.fakes import FakeProducer
from workers import inbound_tasks, publish_tasks, runtime
from workers.celery_app import app
from workers.settings import load_settings

BATCH = int(os.environ.get("BENCH_BATCH", "100"))
REDIS_URL = services.redis_url("bench-pipeline")


def main() -> None:
    with migrated_database() as url:
        engine = database.make_engine(url)
        with database.make_session_factory(engine)() as session:
            orders = seed.paid_orders(session, 2 * BATCH, tenants=20, prefix="in-process")
        engine.dispose()
        events = [order.escrow_released() for order in orders]
        producer = FakeProducer()
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
        settings = load_settings(database_url=url, redis_url=REDIS_URL, kafka_enabled=True,
                                 kafka_consumer_group=f"bench-{uuid.uuid4().hex[:8]}",
                                 _env_file=None)  # fmt: skip
        installed = runtime.Runtime(settings, producer_factory=lambda _: producer)
        previous = runtime.install(installed)
        broker = {"broker_url": app.conf.broker_url, "broker_transport": app.conf.broker_transport}
        app.conf.update(broker_url="memory://", broker_transport="memory")
        pools.reset()
        statements: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        phase = ["inbound"]
        publish_batch = publish_tasks._publish_batch

        def publishing(current: runtime.Runtime) -> outbox.Claimed:
            phase[0] = "publish"
            try:
                return publish_batch(current)
            finally:
                phase[0] = "inbound"

        def count(*args: Any) -> None:
            statements[phase[0]][args[2].split(None, 1)[0].upper()] += 1

        publish_tasks._publish_batch = publishing
        try:
            engine = installed.session_factory.kw["bind"]
            inbound_tasks.apply_batch.apply(args=[events[:BATCH]]).get()  # warm-up
            event.listen(engine, "before_cursor_execute", count)
            redis_before, flushes_before = commands(client), producer.flushes
            start = time.perf_counter()
            result = inbound_tasks.apply_batch.apply(args=[events[BATCH:]]).get()
            seconds = time.perf_counter() - start
            redis_spent, flushes = (
                commands(client) - redis_before,
                producer.flushes - flushes_before,
            )
        finally:
            app.conf.update(broker)
            pools.reset()
            installed.session_factory.kw["bind"].dispose()
            runtime.install(previous)
    assert result["applied"] == BATCH, result
    print(f"apply_batch of {BATCH} escrow.released (→ order.completed), publishing included:")
    for path in ("inbound", "publish"):
        counted = statements[path]
        kinds = ", ".join(f"{kind} {n / BATCH:.2f}" for kind, n in counted.most_common())
        print(
            f"  SQL statements per event, {path:7} {sum(counted.values()) / BATCH:.2f}   ({kinds})"
        )
    print(f"  Redis commands per event   {redis_spent / BATCH:.2f}")
    print(f"  Kafka flushes per event    {flushes / BATCH:.3f}")
    print(f"  in-process time per event  {seconds / BATCH * 1000:.2f} ms")


def commands(client: redis.Redis) -> int:
    return sum(redis_commands(client).values())


if __name__ == "__main__":
    main()
