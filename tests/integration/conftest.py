"""Fixtures that start the real pipeline: bridge and worker processes over real services."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from tests import services
from tests.integration.system import (
    System,
    TopicReader,
    celery_client_of,
    migrated_database,
    outbound_topic_names,
    session_maker,
    start_pipeline,
)

# Redis database of this session's broker; sessions that run at the same time pick different ones.
PIPELINE_REDIS_URL = services.redis_url("pipeline")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that ran a pipeline reports the state of its broker and processes, so a
    CI failure says whether a task was lost, stuck or only slow."""
    report = yield
    if report.failed and call.when == "call":
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, System):
                report.sections.append((f"pipeline `{name}` at failure", value.diagnostics()))
    return report


@pytest.fixture(scope="session")
def real_services() -> None:
    for service in (services.KAFKA, services.REDIS, services.POSTGRES):
        services.require(service)


@pytest.fixture(scope="session")
def pipeline_database(real_services: None) -> Iterator[str]:
    """A database of this session's own, dropped at the end."""
    with migrated_database() as url:
        yield url


@pytest.fixture(scope="session")
def system(pipeline_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """Bridge + worker, started once for the session; tests that kill them restart them."""
    log_dir = tmp_path_factory.mktemp("system-logs")
    running = System(pipeline_database, PIPELINE_REDIS_URL, log_dir)
    running.redis.flushdb()
    start_pipeline(running)
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


@pytest.fixture
def dead_letters(system: System) -> Iterator[TopicReader]:
    """Reads the session's dead-letter topic from now on, with a plain kafka-python consumer."""
    reader = TopicReader([system.dlq_topic])
    assert reader.consumer.assignment(), f"{system.dlq_topic} has no partitions"
    yield reader
    reader.close()


@pytest.fixture(scope="session")
def celery_client(system: System) -> Celery:
    return celery_client_of(system)


@pytest.fixture(scope="session")
def db(pipeline_database: str) -> Iterator[sessionmaker[Session]]:
    with session_maker(pipeline_database) as sessions:
        yield sessions


def _report_logs(system: System, log_dir: Path) -> None:
    for process in (system.bridge, system.worker):
        text = process.log()
        if "Traceback" in text:
            print(f"\n--- {process.name} log ({process.log_path}) had tracebacks ---")
            print(text[-4000:])
