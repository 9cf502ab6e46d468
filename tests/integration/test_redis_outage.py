"""Redis, the Celery broker, stopped while events arrive and started again: nothing is lost.

The pipeline here runs on a private Redis server (persistent, as the broker must be: AOF,
`noeviction`), so stopping it disturbs nobody else. The outage is played once for the module;
each test checks one promise about it:

- the bridge pauses while Redis is down, commits nothing, and resumes by itself;
- the worker rides out the outage and reconnects by itself;
- every event has its effect exactly once, and it is published (a process that died anyway is
  restarted, as a supervisor would, so that this holds or fails on its own);
- an event whose effect was applied is never dead-lettered.

Redis is stopped while the worker is frozen (SIGSTOP) holding one of the events and in the
middle of publishing, so that it meets the outage in the middle of its work. Whether its main
process also survives, and whether a task was between its commit and its publish request,
still depends on timing: those two tests can only fail when it happened, and then rightly.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kafka import KafkaAdminClient
from sqlalchemy.orm import Session, sessionmaker

from marketplace.events import topics
from tests import services
from tests.integration.flows import (
    EventEffects,
    assert_applied_exactly_once,
    event_created,
    event_effects,
    wait_for_event_effects,
    wait_until_published,
)
from tests.integration.system import (
    BOOTSTRAP,
    Process,
    System,
    freeze_when,
    private_pipeline,
    probe,
    produce_all,
    publishing,
    redis_server,
    scrape,
    session_maker,
    taken_event_ids,
    wait_for,
    wait_listening,
)
from workers.constants import INBOUND_QUEUE

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

PORT = 6391
DOWN_SECONDS = float(os.environ.get("OUTAGE_SECONDS", "8"))
PAUSED = "Redis unavailable, pausing consumption"
RESUMED = "Redis is back, resuming consumption"


@dataclass
class Outage:
    """What was seen while Redis was down and after it came back."""

    tenant: str
    events: list[dict[str, Any]]
    down_seconds: float = 0.0
    bridge_died: str = ""
    """The end of the bridge's log if it exited during the outage."""
    worker_died: str = ""
    committed_while_down: tuple[int, int] = (0, 0)
    """The group's committed offsets when the bridge paused, and just before Redis returned."""
    restarted: list[str] = field(default_factory=list)
    """The processes restarted after the outage because they had died."""
    effects: EventEffects | None = None
    recovery_seconds: float = 0.0
    paused_gauge: tuple[float | None, float | None] = (None, None)
    """The bridge's `marketplace_consumer_paused{reason="Redis"}` while paused, and after."""
    probes_while_paused: dict[str, tuple[int, str]] = field(default_factory=dict)
    ready_after: tuple[int, str] = (0, "")


@pytest.fixture(scope="module")
def broker(real_services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    if services.is_listening("127.0.0.1", PORT):
        pytest.fail(f"port {PORT} is taken: the private Redis of this module needs it")
    server = redis_server(
        PORT, tmp_path_factory.mktemp("redis-data"), tmp_path_factory.mktemp("redis-log")
    )
    server.start()
    wait_listening(PORT)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pipeline(broker: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    logs = tmp_path_factory.mktemp("outage-logs")
    with private_pipeline(f"redis://127.0.0.1:{PORT}/0", logs) as running:
        yield running


@pytest.fixture(scope="module")
def pipeline_db(pipeline: System) -> Iterator[sessionmaker[Session]]:
    with session_maker(pipeline.database_url) as sessions:
        yield sessions


@pytest.fixture(scope="module")
def outage(broker: Process, pipeline: System, pipeline_db: sessionmaker[Session]) -> Outage:
    """150 events written with Redis up; Redis stops while the worker is in the middle of them
    (running one of them and publishing the outbox); 150 more written while it is down; Redis
    started again. Then wait until all are applied (at most 90 s)."""
    system, db, tenant = pipeline, pipeline_db, str(uuid.uuid4())
    seen = Outage(tenant, [event_created(tenant, number) for number in range(300)])
    ids = {event["id"] for event in seen.events}
    produce_all(system, seen.events[:150])
    wait_for(lambda: len(event_effects(db, tenant).contexts) >= 20, timeout=30, what="effects")

    # The worker frozen at the right moment meets a Redis that is gone when it wakes up.
    assert system.worker.popen is not None
    freeze_when(
        system.worker.popen.pid,
        lambda: bool(ids & taken_event_ids(system, INBOUND_QUEUE)) and publishing(system),
        group=True,
    )
    assert broker.stop() == 0, "Redis shut down cleanly (AOF written)"
    stopped = time.monotonic()
    system.worker.signal(signal.SIGCONT)
    produce_all(system, seen.events[150:])
    wait_for(
        lambda: PAUSED in system.bridge.log() or not system.bridge.alive(),
        timeout=15,
        what="the bridge to pause",
    )
    paused_at = committed(system.group)
    while_paused = paused_gauge(system)
    seen.probes_while_paused = {
        path: probe(system.bridge_metrics_port, path) for path in ("/livez", "/readyz")
    }
    time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - stopped)))
    seen.committed_while_down = (paused_at, committed(system.group))
    broker.start()
    wait_listening(PORT)
    back = time.monotonic()
    seen.down_seconds = back - stopped

    time.sleep(2)  # a process dying of the reconnection itself shows up here
    for process in (system.bridge, system.worker):
        if not process.alive():
            if process is system.bridge:
                seen.bridge_died = process.log()[-3000:]
            else:
                seen.worker_died = process.log()[-6000:]
            seen.restarted.append(process.name)
            process.start()  # as a supervisor would
    try:
        seen.effects = wait_for_event_effects(db, tenant, len(seen.events), timeout=90)
    except AssertionError:
        seen.effects = event_effects(db, tenant)
    seen.recovery_seconds = time.monotonic() - back
    seen.paused_gauge = (while_paused, paused_gauge(system))
    seen.ready_after = probe(system.bridge_metrics_port, "/readyz")
    print(
        f"\nRedis down {seen.down_seconds:.1f}s; {len(seen.effects.contexts)}/"
        f"{len(seen.events)} effects {seen.recovery_seconds:.1f}s after it came back; "
        f"restarted after dying: {seen.restarted or 'none'}"
    )
    return seen


def paused_gauge(system: System) -> float | None:
    """None if the bridge does not answer."""
    try:
        samples = scrape(system.bridge_metrics_port)
    except OSError:
        return None
    return samples.get(
        ("marketplace_consumer_paused", (("group", system.group), ("reason", "Redis")))
    )


def committed(group: str) -> int:
    """The group's committed offsets on the event.created topic, summed over its partitions."""
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        offsets = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    return sum(
        offset.offset for tp, offset in offsets.items() if tp.topic == topics.EVENT_CREATED.name
    )


def test_bridge_pauses_commits_nothing_and_resumes_by_itself(
    outage: Outage, pipeline: System
) -> None:
    assert not outage.bridge_died, f"the bridge died of the outage:\n{outage.bridge_died}"
    log = pipeline.bridge.log()
    assert PAUSED in log
    paused, before_restart = outage.committed_while_down
    assert before_restart == paused, "nothing was committed while Redis was down"
    assert RESUMED in log
    assert outage.paused_gauge == (1.0, 0.0), "its /metrics said so, and then that it resumed"
    assert outage.probes_while_paused == {
        "/livez": (200, "live"),  # waiting out an outage is not being stuck: no restart
        "/readyz": (503, f"{pipeline.group}: paused, Redis unavailable"),
    }
    assert outage.ready_after == (200, "ready")


def test_worker_reconnects_by_itself(outage: Outage) -> None:
    assert not outage.worker_died, f"the worker died of the outage:\n{outage.worker_died}"


def test_every_event_has_its_effect_exactly_once(outage: Outage) -> None:
    assert outage.effects is not None
    missing = len(outage.events) - len(outage.effects.contexts)
    assert missing <= 0, (
        f"{missing} events not applied {outage.recovery_seconds:.0f}s after Redis came back"
    )
    assert_applied_exactly_once(outage.effects, outage.events)


def test_the_outbox_is_published_soon_after_redis_is_back(
    outage: Outage, pipeline_db: sessionmaker[Session]
) -> None:
    try:
        wait_until_published(pipeline_db, outage.tenant, timeout=30)
    except AssertionError:
        pytest.fail(
            f"outbox rows still pending {outage.recovery_seconds + 30:.0f}s after Redis came back"
        )


def test_no_applied_event_is_dead_lettered(outage: Outage, pipeline: System) -> None:
    dead = [
        line
        for line in pipeline.worker.log().splitlines()
        if f"tenant={outage.tenant}" in line and "dead-lettering" in line
    ]
    assert not dead, f"{len(dead)} applied events dead-lettered, e.g.:\n" + "\n".join(dead[:3])
