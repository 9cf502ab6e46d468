"""Scale-out: two bridges in one consumer group and two worker instances on one Redis and one
PostgreSQL. One bridge is killed mid-stream: its partitions move to the other (after the
dead member's 10 s session timeout), nothing is lost, nothing is applied twice, and every
tenant's events are published in order."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain.models import OutboxMessage
from marketplace.events import topics
from tests import services
from tests.integration.flows import (
    assert_applied_exactly_once,
    event_created,
    event_effects,
    wait_for_event_effects,
    wait_until_published,
)
from tests.integration.system import (
    Process,
    System,
    TopicReader,
    private_pipeline,
    session_maker,
    wait_for,
)
from tests.integration.test_crashes import Stream

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

EVENTS = int(os.environ.get("SCALE_OUT_EVENTS", "240"))
"""Over 6 tenants; `SCALE_OUT_EVENTS=10000` is the long run the README's ordering claim cites."""
REDIS_URL = services.redis_url("scale-out")


@pytest.fixture(scope="module")
def scaled(
    real_services: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[System, Process, Process]]:
    """A pipeline, plus a second bridge in its group and a second worker on its broker."""
    logs = tmp_path_factory.mktemp("scale-out-logs")
    with private_pipeline(REDIS_URL, logs) as system:
        bridge_b = system.bridge_process("bridge-b", logs)
        worker_argv = [
            part.replace("it-", "it-b-") if part.startswith("it-") else part
            for part in system.worker.argv
        ]
        worker_b = Process("worker-b", worker_argv, system.env, logs)
        worker_b.start()
        bridge_b.start()
        try:
            wait_for(lambda: "ready" in worker_b.log(), timeout=60, what="the second worker")
            yield system, bridge_b, worker_b
        finally:
            for process in (bridge_b, worker_b):
                process.stop()


def test_a_bridge_killed_hands_its_partitions_to_the_other_and_nothing_is_lost(
    scaled: tuple[System, Process, Process],
) -> None:
    system, bridge_b, worker_b = scaled
    tenants = [str(uuid.uuid4()) for _ in range(6)]
    events: list[dict[str, Any]] = [
        event_created(tenant, number) for number in range(EVENTS // 6) for tenant in tenants
    ]
    with session_maker(system.database_url) as db:
        reader = TopicReader([topics.LISTING_CREATED.name])
        try:
            with Stream(system, events, per_second=40) as stream:
                wait_for(
                    lambda: (
                        stream.produced >= 80
                        and sum(len(event_effects(db, t).contexts) for t in tenants) > 0
                    ),
                    timeout=60,
                    what="a third of the events written and consumed",
                )
                system.bridge.kill()
                killed_at, produced_at_kill = time.monotonic(), stream.produced
            assert produced_at_kill < len(events), "the stream was over when the bridge died"

            for tenant in tenants:
                mine = [event for event in events if event["tenantid"] == tenant]
                effects = wait_for_event_effects(db, tenant, len(mine), timeout=120 + EVENTS / 20)
                assert_applied_exactly_once(effects, mine)
            moved = time.monotonic() - killed_at
            for tenant in tenants:
                wait_until_published(db, tenant, timeout=60)
                assert_published_in_order(reader, db, tenant)
        finally:
            reader.close()
    print(
        f"\none of two bridges killed after {produced_at_kill}/{len(events)} events; all "
        f"applied {moved:.1f}s later by the other bridge and two workers"
    )
    assert bridge_b.alive()
    worked = [p for p in (system.worker, worker_b) if "succeeded" in p.log()]
    assert len(worked) == 2, "both worker instances took tasks"


def assert_published_in_order(reader: TopicReader, db: sessionmaker[Session], tenant: str) -> None:
    """The tenant's listing.created records arrive in its outbox order (a resend of an earlier
    record may follow later ones: at least once, never reordered forward)."""
    with db() as session:
        order = list(
            session.scalars(
                select(OutboxMessage.event_id)
                .where(
                    OutboxMessage.tenant_id == tenant,
                    OutboxMessage.topic == topics.LISTING_CREATED.name,
                )
                .order_by(OutboxMessage.id)
            )
        )
    ours = set(order)  # other sessions' pipelines consume these events too and publish their own

    def of_ours(record: Any) -> bool:
        return record.key == tenant.encode() and json.loads(record.value)["id"] in ours

    first_seen: list[str] = []
    for record in reader.read(of_ours, count=len(order), timeout=60):
        event_id = json.loads(record.value)["id"]
        if event_id not in first_seen:
            first_seen.append(event_id)
    assert first_seen == order
