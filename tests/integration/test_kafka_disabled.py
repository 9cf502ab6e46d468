"""`KAFKA_ENABLED=false`: a worker does its work and publishes nothing, silently; the bridge,
which cannot work without Kafka, refuses to start.

The worker here is a second one, with a database and a Redis database of its own, so it never
takes tasks meant for the session's Kafka-enabled pipeline; being private, it is also where a
pool process can be killed without disturbing any other test.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest
from celery import Celery
from kafka.admin import KafkaAdminClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain.models import OutboxMessage
from marketplace.events import topics
from tests import services
from tests.integration.flows import cloudevent, draft_listing, of_tenant
from tests.integration.system import (
    BIN,
    BOOTSTRAP,
    ROOT,
    System,
    TopicReader,
    celery_client_of,
    ensure_topics,
    migrated_database,
    outbound_topic_names,
    session_maker,
    wait_for,
)
from workers import constants

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

KAFKA_OFF_REDIS_URL = services.redis_url("kafka-off")


@pytest.fixture(scope="module")
def kafka_off(real_services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """A worker with `KAFKA_ENABLED=false` over a fresh database; no bridge."""
    with migrated_database() as database_url:
        logs = tmp_path_factory.mktemp("kafka-off-logs")
        system = System(database_url, KAFKA_OFF_REDIS_URL, logs, kafka_enabled=False)
        system.redis.flushdb()
        try:
            system.worker.start()
            wait_for(lambda: "ready" in system.worker.log(), timeout=60, what="the worker")
            yield system
        finally:
            system.stop_all()
            system.redis.close()


@pytest.fixture(scope="module")
def kafka_off_client(kafka_off: System) -> Celery:
    return celery_client_of(kafka_off)


@pytest.fixture(scope="module")
def kafka_off_db(kafka_off: System) -> Iterator[sessionmaker[Session]]:
    with session_maker(kafka_off.database_url) as sessions:
        yield sessions


@pytest.fixture
def produced_topics(real_services: None) -> Iterator[TopicReader]:
    """The 12 produced topics from now on (created if this session has not yet done so)."""
    ensure_topics(outbound_topic_names())
    reader = TopicReader(outbound_topic_names())
    watched = {partition.topic for partition in reader.consumer.assignment()}
    assert watched == set(outbound_topic_names()), "some produced topics do not exist"
    yield reader
    reader.close()


def outbox_statuses(db: sessionmaker[Session], tenant: str) -> list[tuple[str, str]]:
    with db() as session:
        rows = session.execute(
            select(OutboxMessage.topic, OutboxMessage.status)
            .where(OutboxMessage.tenant_id == tenant)
            .order_by(OutboxMessage.id)
        )
        return [(topic, status) for topic, status in rows]


def test_a_command_returns_its_entity_and_its_event_is_skipped_without_publishing(
    kafka_off: System,
    kafka_off_client: Celery,
    kafka_off_db: sessionmaker[Session],
    produced_topics: TopicReader,
    tenant: str,
) -> None:
    log_start = len(kafka_off.worker.log())
    listing = draft_listing(kafka_off_client, tenant)
    assert listing["tenantId"] == tenant and listing["title"] == "Premium Catering Service"

    wait_for(
        lambda: outbox_statuses(kafka_off_db, tenant) == [(topics.LISTING_CREATED.name, "skipped")],
        what="the listing.created outbox row to be skipped",
    )
    assert produced_topics.read(of_tenant(tenant), timeout=3) == []
    assert "Traceback" not in kafka_off.worker.log()[log_start:]


def test_a_dead_letter_is_logged_whole_instead_of_published(
    kafka_off: System, kafka_off_client: Celery, tenant: str
) -> None:
    log_start = len(kafka_off.worker.log())
    event = cloudevent(
        topics.SUBSCRIPTION_CHANGED,
        tenant,
        {"id": "sub-1", "userId": "seller-1", "tier": "platinum"},
    )

    kafka_off_client.send_task(
        constants.INBOUND_TASKS[topics.SUBSCRIPTION_CHANGED.name],
        args=[event],
        queue=constants.INBOUND_QUEUE,
    )

    logged = wait_for(
        lambda: [
            line
            for line in kafka_off.worker.log().splitlines()
            if "dead letter (KAFKA_ENABLED=false, not published)" in line and event["id"] in line
        ],
        what="the dead letter in the worker log",
    )
    assert " ERROR/" in logged[0] and "platinum" in logged[0]
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    try:
        assert kafka_off.dlq_topic not in admin.list_topics(), "nothing sent to the DLQ topic"
    finally:
        admin.close()
    assert "Traceback" not in kafka_off.worker.log()[log_start:]


def test_the_outbox_sweep_runs_without_error(kafka_off: System, kafka_off_client: Celery) -> None:
    task = kafka_off_client.send_task(constants.SWEEP_TASK, queue=constants.PUBLISH_QUEUE)

    outcome = wait_for(
        lambda: [
            line
            for line in kafka_off.worker.log().splitlines()
            if f"{constants.SWEEP_TASK}[{task.id}]" in line
            and (" succeeded in " in line or " raised " in line)
        ],
        what="the sweep to finish",
    )
    assert " succeeded in " in outcome[0], outcome[0]


def test_the_bridge_refuses_to_start_naming_kafka_enabled(kafka_off: System) -> None:
    finished = subprocess.run(
        [str(BIN / "marketplace"), "bridge"],
        env=kafka_off.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 2
    assert "KAFKA_ENABLED" in finished.stderr


def test_a_pool_process_that_dies_is_reported_in_a_readable_log_line(kafka_off: System) -> None:
    """Killed by the OOM killer, say: the worker replaces it and says so in its log.

    Runs on this module's private worker, so no other test loses a pool process.
    """
    assert kafka_off.worker.popen is not None
    children = subprocess.run(
        ["ps", "--ppid", str(kafka_off.worker.popen.pid), "-o", "pid="],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert children, "the worker has no pool processes"
    log_start = len(kafka_off.worker.log())

    os.kill(int(children[0]), signal.SIGKILL)

    wait_for(
        lambda: " exited with " in kafka_off.worker.log()[log_start:],
        what="the worker to notice its pool process died",
    )
    reported = kafka_off.worker.log()[log_start:]
    assert "Logging error" not in reported, "the line could not be formatted: " + reported[-400:]
    assert any(
        " ERROR/MainProcess] " in line
        and f"pid:{children[0]} exited with 'signal 9 (SIGKILL)'" in line
        for line in reported.splitlines()
    ), reported[-400:]
