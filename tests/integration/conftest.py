"""Fixtures that start the real pipeline: bridge and worker processes over real services."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain.database import upgrade
from marketplace.events import topics
from tests import services
from tests.integration.system import (
    System,
    TopicReader,
    drop_database,
    fresh_database,
    outbound_topic_names,
    start_group_at_end,
    wait_for,
)

# Redis database of this session's broker; sessions that run at the same time pick different ones.
PIPELINE_REDIS_URL = f"redis://127.0.0.1:6379/{os.environ.get('IT_REDIS_DB', '15')}"


@pytest.fixture(scope="session")
def real_services() -> None:
    for service in (services.KAFKA, services.REDIS, services.POSTGRES):
        services.require(service)


@pytest.fixture(scope="session")
def pipeline_database(real_services: None) -> Iterator[str]:
    """A database of this session's own, dropped at the end."""
    name = f"marketplace_it_{uuid.uuid4().hex[:8]}"
    url = fresh_database(services.POSTGRES_TEST_URL, name)
    upgrade(url)
    yield url
    drop_database(services.POSTGRES_TEST_URL, name)


@pytest.fixture(scope="session")
def system(pipeline_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """Bridge + worker, started once for the session; tests that kill them restart them."""
    log_dir = tmp_path_factory.mktemp("system-logs")
    running = System(pipeline_database, PIPELINE_REDIS_URL, log_dir)
    running.redis.flushdb()
    _create_topics(running)
    start_group_at_end(running.group, [topic.name for topic in topics.CONSUMED])
    running.worker.start()
    running.bridge.start()
    wait_for(lambda: "ready" in running.worker.log(), timeout=60, what="the worker to be ready")
    yield running
    running.stop_all()
    _report_logs(running, log_dir)


@pytest.fixture
def tenant() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def outbound(system: System) -> Iterator[TopicReader]:
    """Reads the 12 produced topics from now on, with a plain kafka-python consumer."""
    reader = TopicReader(outbound_topic_names())
    yield reader
    reader.close()


@pytest.fixture(scope="session")
def celery_client(system: System) -> Celery:
    """A Celery client on the system's broker, sending tasks by name as an operator would."""
    client = Celery("it-client", broker=system.redis_url, backend=system.redis_url)
    client.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
    return client


@pytest.fixture(scope="session")
def db(pipeline_database: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(pipeline_database)
    yield sessionmaker(engine)
    engine.dispose()


def _create_topics(system: System) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers="127.0.0.1:9092")
    wanted = [topic.name for topic in topics.ALL] + [system.dlq_topic]
    missing = [name for name in wanted if name not in set(admin.list_topics())]
    if missing:
        admin.create_topics([NewTopic(name, 3, 1) for name in missing])
    admin.close()


def _report_logs(system: System, log_dir: Path) -> None:
    for process in (system.bridge, system.worker):
        text = process.log()
        if "Traceback" in text:
            print(
                f"\n--- {process.name} log ({process.log_path}) had tracebacks ---\n{text[-4000:]}"
            )
