"""Processes SIGKILLed in the middle of a stream of events: every event has its effect exactly once.

- the bridge: what it consumed but did not commit is consumed again after its restart;
- a worker's pool child: the worker's main process requeues its task (`reject_on_worker_lost`);
- the whole worker: the tasks it had taken come back after the broker's visibility timeout;
  killed as it takes a task (between kombu's BRPOP and its write to `unacked`), the broker
  has lost that task and the inbound ledger sends it again; killed while it publishes the
  outbox, it must not hold up publishing once restarted.

Each event is an `event.created` with its own organizer: one event context and
`LISTINGS_PER_EVENT` listings, each with its `listing.created` in the outbox. A second
application would add outbox rows, a lost one would leave a context missing.

A process is killed at a chosen moment by freezing it (SIGSTOP), checking in Redis what it
holds, and only then killing it (SIGKILL) or letting it go on (SIGCONT) and trying again.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from marketplace.events import topics
from tests import services
from tests.integration.flows import (
    LISTINGS_PER_EVENT,
    assert_applied_exactly_once,
    event_created,
    event_effects,
    outbox_event_ids,
    published_event_ids,
    wait_for_event_effects,
    wait_until_published,
)
from tests.integration.system import (
    System,
    TopicReader,
    celery_client_of,
    children_of,
    events_of,
    freeze_when,
    private_pipeline,
    produce_all,
    publishing,
    queued_event_ids,
    session_maker,
    taken_event_ids,
    taken_task_ids,
    wait_for,
)
from workers import constants, inbound_ledger

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

VISIBILITY_TIMEOUT_SECONDS = 10
CRASH_REDIS_URL = services.redis_url("crashes")
RECEIVED = re.compile(
    r"celery\.worker\.strategy: Task marketplace\.inbound\.apply_batch\[([0-9a-f-]+)\] received"
)


class Stream:
    """Writes events to Kafka from a thread, `per_second` of them, like a busy upstream."""

    def __init__(self, system: System, events: list[dict[str, Any]], per_second: int) -> None:
        self.system, self.events, self.per_second = system, events, per_second
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None
        self.produced = 0

    def __enter__(self) -> Stream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(max(60, 3 * len(self.events) / self.per_second))
        assert not self.thread.is_alive(), "the stream did not finish"
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        tick = 0.1
        chunk = max(1, int(self.per_second * tick))
        try:
            for start in range(0, len(self.events), chunk):
                began = time.monotonic()
                produce_all(self.system, self.events[start : start + chunk])
                self.produced = min(start + chunk, len(self.events))
                time.sleep(max(0.0, tick - (time.monotonic() - began)))
        except BaseException as error:  # re-raised by __exit__, in the test's thread
            self.error = error


def kill_when(pid: int, ready: Callable[[], bool], *, group: bool = False) -> None:
    """SIGKILL `pid` (its process group with `group`) at a moment when `ready()` holds."""
    freeze_when(pid, ready, group=group)
    (os.killpg if group else os.kill)(pid, signal.SIGKILL)


def taken(system: System) -> set[str]:
    return taken_event_ids(system, constants.INBOUND_QUEUE)


def requeued(system: System, ids: set[str]) -> set[str]:
    """Ids of the inbound tasks given back to the broker (`redelivered`): still queued with
    some of the given events, or received again. A requeued task goes to the back of its
    queue."""
    queued = {
        message["headers"]["id"]
        for message in map(json.loads, system.redis.lrange(constants.INBOUND_QUEUE, 0, -1))
        if message["headers"].get("redelivered") and ids & set(events_of(message))
    }
    received = Counter(RECEIVED.findall(system.worker.log()))
    return queued | {task_id for task_id, count in received.items() if count > 1}


def replays(worker_log: str, tenant: str) -> int:
    """Deliveries of the tenant's events that the inbox found applied (or being applied)."""
    return sum(
        1
        for line in worker_log.splitlines()
        if f"tenant={tenant}" in line
        and ("already applied" in line or ("retry:" in line and "pk_inbox" in line))
    )


def assert_all_published(
    reader: TopicReader, db: sessionmaker[Session], tenant: str, events: int
) -> None:
    """Every listing.created of the outbox reached Kafka (a CloudEvent id twice is allowed)."""
    wait_until_published(db, tenant, timeout=30)
    expected = outbox_event_ids(db, tenant, topics.LISTING_CREATED)
    assert len(expected) == events * LISTINGS_PER_EVENT
    published = published_event_ids(reader, tenant, topics.LISTING_CREATED, expected)
    assert not expected - published, f"{len(expected - published)} listing.created not published"


def a_burst_under_way(
    system: System, db: sessionmaker[Session], tenant: str
) -> tuple[list[dict[str, Any]], set[str]]:
    """300 `event.created` of `tenant` written at once, and their ids, once 30 have had their
    effect: the pipeline is busy with them when the test strikes."""
    events = [event_created(tenant, number) for number in range(300)]
    produce_all(system, events)
    wait_for(lambda: len(event_effects(db, tenant).contexts) >= 30, timeout=30, what="effects")
    return events, {event["id"] for event in events}


# -- the bridge ------------------------------------------------------------------------------
def test_bridge_killed_mid_stream_and_restarted_applies_every_event_once(
    system: System, db: sessionmaker[Session], tenant: str
) -> None:
    events = [event_created(tenant, number) for number in range(200)]
    reader = TopicReader([topics.LISTING_CREATED.name])
    try:
        with Stream(system, events, per_second=40) as stream:
            wait_for(
                lambda: stream.produced >= 60 and event_effects(db, tenant).contexts,
                timeout=30,
                what="a third of the events written and consumed",
            )
            system.bridge.kill()
            produced_at_kill = stream.produced
            system.bridge.start()
        restarted = time.monotonic()
        assert produced_at_kill < len(events), "the stream was over when the bridge was killed"

        # The dead member keeps its partitions until its Kafka session expires (10 s).
        effects = wait_for_event_effects(db, tenant, len(events), timeout=90)
        print(
            f"\nbridge killed after {produced_at_kill}/{len(events)} events were written; all "
            f"applied {time.monotonic() - restarted:.1f}s after its restart; "
            f"{replays(system.worker.log(), tenant)} deliveries found already applied"
        )
        assert_applied_exactly_once(effects, events)
        assert_all_published(reader, db, tenant, len(events))
    finally:
        reader.close()


# -- a worker's pool child -------------------------------------------------------------------
def test_pool_child_killed_mid_task_has_its_task_requeued_and_applied_once(
    system: System, db: sessionmaker[Session], tenant: str
) -> None:
    reader = TopicReader([topics.LISTING_CREATED.name])
    try:
        events, ids = a_burst_under_way(system, db, tenant)
        kills = 0
        while not (given_back := requeued(system, ids)):
            # A child killed between two tasks loses nothing: again, until one ran one of ours.
            # Never a child in the middle of publishing: that case has its own test below.
            assert kills < 15, "no kill caught a pool child running one of the test's tasks"
            children = children_of(system.worker)
            assert children, "the worker has no pool children"
            kill_when(children[kills % len(children)], lambda: not publishing(system))
            kills += 1
            time.sleep(1.0)  # the main process notices a dead child within a second
        killed = time.monotonic()

        effects = wait_for_event_effects(db, tenant, len(events), timeout=60)
        print(
            f"\n{kills} pool children killed, {len(given_back)} of our tasks requeued; all "
            f"applied {time.monotonic() - killed:.1f}s later"
        )
        assert_applied_exactly_once(effects, events)
        assert_all_published(reader, db, tenant, len(events))
    finally:
        reader.close()


def test_a_pool_child_killed_is_reported_readably_in_the_worker_log(system: System) -> None:
    before = len(system.worker.log())
    child = children_of(system.worker)[0]
    kill_when(child, lambda: not publishing(system))
    wait_for(lambda: str(child) in system.worker.log()[before:], timeout=10, what="a report")
    time.sleep(0.5)
    written = system.worker.log()[before:]
    assert "--- Logging error ---" not in written, (
        "the pool's own log records cannot be formatted (no event_id/tenant_id):\n" + written[:1200]
    )
    assert f"pid:{child} exited with 'signal 9 (SIGKILL)'" in written


# -- the whole worker ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def short_visibility(
    real_services: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    """A pipeline of its own whose broker redelivers unacknowledged tasks after 10 s. Its bridge
    sends one event a task: a worker then takes a task (kombu's BRPOP window, which a test must
    catch) hundreds of times per run, not the three times 300 events make in batches of 100."""
    with private_pipeline(
        CRASH_REDIS_URL,
        tmp_path_factory.mktemp("short-visibility-logs"),
        env={
            "BROKER_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT_SECONDS),
            "INBOUND_BATCH_SIZE": "1",
        },
    ) as running:
        yield running


@pytest.fixture(scope="module")
def short_visibility_db(short_visibility: System) -> Iterator[sessionmaker[Session]]:
    with session_maker(short_visibility.database_url) as sessions:
        yield sessions


def whereabouts(
    system: System, db: sessionmaker[Session], tenant: str, ids: set[str]
) -> tuple[set[str], set[str]]:
    """(held, unaccounted): the ids a worker holds unacknowledged, and those that are neither
    applied, nor queued, nor held: in kombu's window between BRPOP and its write to `unacked`
    (once the bridge has enqueued them all)."""
    held = taken(system)
    applied = set(event_effects(db, tenant).inbox)
    return held, ids - held - applied - queued_event_ids(system, constants.INBOUND_QUEUE)


def kill_worker_when(system: System, ready: Callable[[], bool]) -> None:
    assert system.worker.popen is not None
    kill_when(system.worker.popen.pid, lambda: not publishing(system) and ready(), group=True)
    system.worker.popen.wait(10)


def wait_until_enqueued(
    system: System, db: sessionmaker[Session], tenant: str, ids: set[str]
) -> None:
    wait_for(
        lambda: not whereabouts(system, db, tenant, ids)[1],
        timeout=30,
        what="the bridge to enqueue every event",
    )


def test_worker_killed_mid_stream_gets_its_taken_tasks_back_after_the_visibility_timeout(
    short_visibility: System, short_visibility_db: sessionmaker[Session], tenant: str
) -> None:
    system, db = short_visibility, short_visibility_db
    reader = TopicReader([topics.LISTING_CREATED.name])
    try:
        events, ids = a_burst_under_way(system, db, tenant)
        wait_until_enqueued(system, db, tenant, ids)
        # Not while a task is in kombu's BRPOP window: that is the next test.
        kill_worker_when(system, lambda: is_holding_all(*whereabouts(system, db, tenant, ids)))
        lost = ids & taken(system)
        lost_tasks = taken_task_ids(system, constants.INBOUND_QUEUE)
        killed = time.monotonic()
        applied_at_kill = len(event_effects(db, tenant).contexts)

        # Restarted once the timeout has passed (a supervisor's backoff), the worker restores
        # them as it starts. Restarted at once, it would find them only at one of kombu's later
        # sweeps, 10 s or 100 s after its start (unacked_restore_interval x _throttle).
        time.sleep(VISIBILITY_TIMEOUT_SECONDS + 1)
        restarted_log = len(system.worker.log())
        system.worker.start()
        effects = wait_for_event_effects(db, tenant, len(events), timeout=60)
        print(
            f"\nworker killed after {applied_at_kill}/{len(events)} effects holding {len(lost)} "
            f"of our tasks; all applied {time.monotonic() - killed:.1f}s after the kill"
        )
        assert_applied_exactly_once(effects, events)
        came_back = set(RECEIVED.findall(system.worker.log()[restarted_log:]))
        assert lost_tasks <= came_back, "the tasks the dead worker held were delivered again"
        assert_all_published(reader, db, tenant, len(events))
    finally:
        reader.close()


def is_holding_all(held: set[str], unaccounted: set[str]) -> bool:
    return bool(held) and not unaccounted


def test_worker_killed_as_it_takes_a_task_loses_it_from_the_broker_and_the_ledger_redelivers_it(
    short_visibility: System, short_visibility_db: sessionmaker[Session], tenant: str
) -> None:
    system, db = short_visibility, short_visibility_db
    events, ids = a_burst_under_way(system, db, tenant)
    wait_until_enqueued(system, db, tenant, ids)
    kill_worker_when(system, lambda: bool(whereabouts(system, db, tenant, ids)[1]))
    _, in_window = whereabouts(system, db, tenant, ids)
    killed = time.monotonic()

    time.sleep(VISIBILITY_TIMEOUT_SECONDS + 1)
    system.worker.start()
    others = ids - in_window
    wait_for(
        lambda: others <= set(event_effects(db, tenant).inbox),
        timeout=60,
        what="every event but those in the window",
    )
    time.sleep(VISIBILITY_TIMEOUT_SECONDS)  # a restore sweep of the restarted worker, too
    applied = set(event_effects(db, tenant).inbox)
    assert in_window and not in_window & applied, "lost by the broker: Kafka is committed"

    celery_client_of(system).send_task(constants.REDELIVER_TASK, queue=constants.COMMANDS_QUEUE)
    effects = wait_for_event_effects(db, tenant, len(events), timeout=60)
    print(
        f"\nworker killed with {len(in_window)} task(s) between BRPOP and `unacked`; "
        f"the ledger had them applied {time.monotonic() - killed:.1f}s after the kill"
    )
    assert_applied_exactly_once(effects, events)
    wait_for(
        lambda: not ledger_entries_of(system, tenant),
        timeout=10,
        what="every event of the tenant settled in the ledger",
    )


def ledger_entries_of(system: System, tenant: str) -> list[str]:
    entries = system.redis.zrange(inbound_ledger.ENQUEUED_AT_KEY, 0, -1)
    return [entry for entry in map(json.loads, entries) if entry[0] == tenant]


def test_worker_killed_while_publishing_does_not_stall_the_outbox(
    short_visibility: System, short_visibility_db: sessionmaker[Session], tenant: str
) -> None:
    system, db = short_visibility, short_visibility_db
    with Stream(system, [event_created(tenant, number) for number in range(300)], 100):
        assert system.worker.popen is not None
        kill_when(system.worker.popen.pid, lambda: publishing(system), group=True)
        system.worker.popen.wait(10)
    system.worker.start()

    later = str(uuid.uuid4())
    produce_all(system, [event_created(later, number) for number in range(5)])
    wait_for_event_effects(db, later, 5, timeout=30)
    applied = time.monotonic()
    try:
        wait_until_published(db, later, timeout=30)
    except AssertionError:
        pytest.fail("events applied after the restart are not published 30 s later")
    print(f"\npublished {time.monotonic() - applied:.1f}s after being applied")
