"""The worker's tasks in-process: a `Runtime` on SQLite, fakeredis and a fake Kafka producer,
and Celery's in-memory transport as the broker, so the glue between a message and the domain
runs without any service."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from kombu import pools
from kombu.transport import memory

from marketplace.domain import database
from tests.workers.fakes import FakeProducer
from workers import constants, inbound_tasks, publish_tasks, runtime
from workers.celery_app import app
from workers.settings import load_settings


@dataclass
class Worker:
    runtime: runtime.Runtime
    producer: FakeProducer
    """What the runtime's next new producer is (replace it to have the next one differ)."""
    redis: fakeredis.FakeRedis
    redis_server: fakeredis.FakeServer
    """`redis_server.connected = False` is Redis going away."""

    def command(self, name: str, *, command_id: str | None = None, **kwargs: Any) -> Any:
        """Run the command task `name` as a worker would; its result, or its exception."""
        return app.tasks[name].apply(kwargs=kwargs, task_id=command_id or str(uuid.uuid4())).get()

    def apply(self, cloudevent: dict[str, Any], **options: Any) -> Any:
        """Run the inbound task of `cloudevent`'s type, as the bridge would send it."""
        task = inbound_tasks.TASKS[cloudevent["type"]]
        return task.apply(args=[cloudevent], task_id=cloudevent["id"], **options).get()

    def queued_events(self, queue: str = constants.INBOUND_QUEUE) -> list[dict[str, Any]]:
        """The CloudEvents in the tasks waiting on `queue` (one per task, or a batch's), taken off
        it."""
        events = []
        for message in self.queued(queue):
            (argument,), _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            events += argument if isinstance(argument, list) else [argument]
        return events

    def run_queued(self, queue: str = constants.INBOUND_QUEUE) -> list[Any]:
        """Run the tasks waiting on `queue` in-process, as a worker would; their results."""
        results = []
        for message in self.queued(queue):
            args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            headers = message["headers"]
            task = app.tasks[headers["task"]]
            results.append(task.apply(args=args, kwargs=kwargs, headers=headers).get())
        return results

    def publish(self) -> int:
        return int(publish_tasks.publish.apply().get())

    def queued(self, queue: str) -> list[dict[str, Any]]:
        """The task messages waiting on `queue`, taken off it."""
        messages = []
        waiting = memory.Channel.queues.get(queue)
        while waiting is not None and not waiting.empty():
            messages.append(waiting.get_nowait())
        return messages


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    url = f"sqlite:///{tmp_path / 'marketplace.db'}"
    database.upgrade(url)
    producer, redis_server = FakeProducer(), fakeredis.FakeServer()
    redis = fakeredis.FakeRedis(server=redis_server)
    settings = load_settings(
        database_url=url, kafka_enabled=True, task_max_retries=2, _env_file=None
    )
    made: list[Worker] = []  # the producer a new one is made as: `worker.producer`, when asked
    installed = runtime.Runtime(
        settings, producer_factory=lambda _: made[0].producer, redis_client=redis
    )
    previous = runtime.install(installed)
    broker = {"broker_url": app.conf.broker_url, "broker_transport": app.conf.broker_transport}
    app.conf.update(broker_url="memory://", broker_transport="memory")
    _forget_connections()
    memory.Channel.queues.clear()
    publish_tasks._publish_now_paused_until = 0.0  # a process's state, so each test's own
    try:
        made.append(Worker(installed, producer, redis, redis_server))
        yield made[0]
    finally:
        memory.Channel.queues.clear()
        app.conf.update(broker)
        _forget_connections()
        installed.session_factory.kw["bind"].dispose()
        runtime.install(previous)


def _forget_connections() -> None:
    """Celery and kombu keep the pools of the first broker they reached; dropped, the next use
    builds them for the broker configured now."""
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
