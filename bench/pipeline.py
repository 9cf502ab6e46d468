"""Events fully processed per second: Kafka → bridge → Redis → worker → PostgreSQL → outbox.

    .venv/bin/python -m bench.pipeline      (needs `make services`)

Runs the real processes twice, side by side in one run: a worker without task events, and one
with `--events` (what Flower needs), and prints both rates and their ratio. Each run has its
own database and consumer group, on one scratch Redis database (named in
`tests.services.REDIS_DATABASES`), emptied before each.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from marketplace.events import topics
from tests import factories, services
from tests.integration.system import System, migrated_database, start_pipeline, wait_for

N = int(os.environ.get("BENCH_EVENTS", "2000"))


def subscription_changed(tenant: str, i: int) -> dict[str, object]:
    data = {"id": f"sub-{i}", "userId": f"seller-{i}", "tier": "pro"}
    return factories.cloudevent(topics.SUBSCRIPTION_CHANGED, tenant, data)


def run(with_events: bool, log_dir: Path) -> float:
    with migrated_database() as url:
        system = System(url, services.redis_url("bench-pipeline"), log_dir)
        system.redis.flushdb()
        if with_events:
            system.worker.argv.append("--events")
        engine = create_engine(url)
        try:
            start_pipeline(system)
            tenant = str(uuid.uuid4())
            start = time.perf_counter()
            for i in range(N):
                event = subscription_changed(tenant, i)
                system.producer.send(
                    str(event["type"]), json.dumps(event).encode(), key=tenant.encode(),
                    headers=[("content-type", b"application/cloudevents+json")],
                )  # fmt: skip
            system.producer.flush()

            def applied() -> bool:
                with engine.connect() as connection:
                    return connection.execute(text("select count(*) from inbox")).scalar() == N

            wait_for(applied, timeout=600, interval=0.2, what=f"{N} events applied")
            return N / (time.perf_counter() - start)
        finally:
            system.stop_all()
            engine.dispose()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as logs:
        quiet = run(False, Path(logs))
        monitored = run(True, Path(logs))
    print(f"{N} subscription.changed events, one worker (2 processes), PostgreSQL")
    print(f"fully processed, no task events      {quiet:>7,.0f} events/s")
    print(
        f"fully processed, --events (Flower)   {monitored:>7,.0f} events/s"
        f"   ratio {monitored / quiet:.2f}x"
    )
