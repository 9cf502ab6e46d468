"""The real system under test: bridge and worker processes over real Kafka, Redis, PostgreSQL.

Each test session gets its own database, Redis database, consumer group and dead-letter topic,
so runs never see each other's state; tenants are unique per test.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import redis
from celery import Celery
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from marketplace.domain.database import upgrade
from marketplace.events import topics
from tests import factories, services
from workers import constants

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BOOTSTRAP = services.KAFKA_BOOTSTRAP
T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def fresh_database(admin_url: str, name: str) -> str:
    """Drop and create `name` next to the database of `admin_url`; returns its URL."""
    drop_database(admin_url, name)
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def migrated_database() -> Iterator[str]:
    """A PostgreSQL database of its own, migrated to head, dropped when the block ends."""
    name = f"marketplace_it_{uuid.uuid4().hex[:8]}"
    url = fresh_database(services.POSTGRES_TEST_URL, name)
    try:
        upgrade(url)
        yield url
    finally:
        drop_database(services.POSTGRES_TEST_URL, name)


@contextmanager
def session_maker(url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(url)
    try:
        yield sessionmaker(engine)
    finally:
        engine.dispose()


def celery_client_of(system: System) -> Celery:
    """A Celery client on the system's broker, sending tasks by name as an operator would."""
    client = Celery(f"client-of-{system.group}", broker=system.redis_url, backend=system.redis_url)
    client.conf.update(task_serializer="json", accept_content=["json"], result_serializer="json")
    return client


def drop_database(admin_url: str, name: str) -> None:
    """`WITH (FORCE)` ends our own sessions, but not an autovacuum worker that happens to be
    in the database (another role's): that one leaves within a moment, so try again."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        for attempt in range(10):
            try:
                with engine.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                return
            except DBAPIError:
                if attempt == 9:
                    raise
                time.sleep(0.5)
    finally:
        engine.dispose()


def start_group_at_end(
    group: str, topic_names: Iterable[str], *, bootstrap: str = BOOTSTRAP
) -> None:
    """Commit the current end of every partition for `group`, so the bridge starts at "now"."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    partitions = [
        TopicPartition(name, p)
        for name in topic_names
        for p in consumer.partitions_for_topic(name) or ()
    ]
    ends = consumer.end_offsets(partitions)
    consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in ends.items()})
    consumer.close()


class Process:
    """A child process with its output in a log file, killable by signal."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def signal(self, signum: int) -> None:
        assert self.popen is not None
        os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole process group (a worker's pool children too), no clean-up at all."""
        if self.popen and self.popen.poll() is None:
            self.signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.popen is None or self.popen.poll() is not None:
            return self.popen.returncode if self.popen else None
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""A `/metrics` page: (sample name, sorted labels) → value."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def probe(port: int, path: str) -> tuple[int, str]:
    """A supervisor's HTTP probe (`/livez`, `/readyz`): its status and body."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
            return response.status, response.read().decode().strip()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode().strip()


class System:
    """Environment, processes and probes of one session's pipeline."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        log_dir: Path,
        *,
        kafka_enabled: bool = True,
        bootstrap: str = BOOTSTRAP,
    ) -> None:
        run_id = uuid.uuid4().hex[:8]
        self.bootstrap = bootstrap
        self.group = f"marketplace-it-{run_id}"
        self.dlq_topic = f"eventzr.marketplace.dlq.it-{run_id}"
        self.database_url = database_url
        self.redis_url = redis_url
        self.env = {
            **os.environ,
            "KAFKA_ENABLED": "true" if kafka_enabled else "false",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_CONSUMER_GROUP": self.group,
            "KAFKA_DLQ_TOPIC": self.dlq_topic,
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "TASK_MAX_RETRIES": "5",
            "PYTHONUNBUFFERED": "1",
        }
        self.bridge_metrics_port = free_port()
        self.bridge = self.bridge_process("bridge", log_dir, metrics_port=self.bridge_metrics_port)
        self.worker = Process(
            "worker",
            [
                str(BIN / "celery"),
                "-A",
                "workers",
                "worker",
                "--queues",
                "inbound,commands,publish",
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"it-{run_id}@%h",
            ],
            self.env,
            log_dir,
        )
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.redis = redis.Redis.from_url(redis_url)

    def bridge_process(
        self, name: str, log_dir: Path, *, metrics_port: int | None = None
    ) -> Process:
        """A bridge of this system's group, serving its /metrics on a port of its own."""
        port = str(metrics_port or free_port())
        argv = [str(BIN / "marketplace"), "bridge", "--metrics-port", port]
        return Process(name, argv, self.env, log_dir)

    # -- writing inbound events the way another service would ------------------------------
    def produce_structured(self, envelope: dict[str, Any]) -> None:
        self.producer.send(
            envelope["type"],
            value=json.dumps(envelope).encode(),
            key=envelope["tenantid"].encode(),
            headers=[("content-type", b"application/cloudevents+json")],
        ).get(10)

    def produce_binary(self, envelope: dict[str, Any]) -> None:
        value, headers = factories.binary(envelope)
        self.producer.send(
            envelope["type"], value=value, key=envelope["tenantid"].encode(), headers=headers
        ).get(10)

    def diagnostics(self) -> str:
        """What a failed test needs to tell a lost task from a slow one: the broker's queues,
        what workers hold unacknowledged, kombu's restore lock, and the tail of each log."""
        lines = [f"-- broker {self.redis_url}"]
        try:
            for name in (*constants.QUEUES, "unacked", "unacked_index", "unacked_mutex"):
                kind = self.redis.type(name).decode()
                size = {"list": self.redis.llen, "hash": self.redis.hlen, "zset": self.redis.zcard}
                count = size[kind](name) if kind in size else "-"
                lines.append(f"{name}: {kind} {count} ttl={self.redis.ttl(name)}")
        except redis.RedisError as error:
            lines.append(f"unreachable: {error!r}")
        for process in (self.bridge, self.worker):
            state = "not started" if process.popen is None else f"exit={process.popen.poll()}"
            tail = "\n".join(process.log().splitlines()[-40:])
            lines.append(f"-- {process.name} ({state}), last lines of {process.log_path}:\n{tail}")
        return "\n".join(lines)

    def stop_all(self) -> None:
        for process in (self.bridge, self.worker):
            process.stop()
        self.producer.close()


class TopicReader:
    """A plain kafka-python consumer positioned at the end of the given topics when created."""

    def __init__(self, topic_names: Iterable[str], *, bootstrap: str = BOOTSTRAP) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        partitions = [
            TopicPartition(name, p)
            for name in topic_names
            for p in (self.consumer.partitions_for_topic(name) or ())
        ]
        self.consumer.assign(partitions)
        self.consumer.seek_to_end(*partitions)
        for tp in partitions:
            self.consumer.position(tp)  # resolve "end" now, before anything is produced
        self.records: list[Any] = []

    def read(
        self, predicate: Callable[[Any], bool], *, count: int = 1, timeout: float = 30.0
    ) -> list[Any]:
        """Wait until `count` records match; returns the matches (all of them, in arrival order)."""
        deadline = time.monotonic() + timeout
        while True:
            for batch in self.consumer.poll(timeout_ms=200).values():
                self.records.extend(batch)
            matches = [record for record in self.records if predicate(record)]
            if len(matches) >= count or time.monotonic() > deadline:
                return matches

    def close(self) -> None:
        self.consumer.close()


def outbound_topic_names() -> list[str]:
    return [topic.name for topic in topics.PRODUCED]


# -- crash and outage tests: many events, private systems, processes to kill ----------------
def produce_all(system: System, envelopes: Iterable[dict[str, Any]]) -> None:
    """Write structured-mode events without waiting for each; returns once Kafka has them all."""
    futures = [
        system.producer.send(
            envelope["type"],
            value=json.dumps(envelope).encode(),
            key=envelope["tenantid"].encode(),
            headers=[("content-type", b"application/cloudevents+json")],
        )
        for envelope in envelopes
    ]
    system.producer.flush(30)
    for future in futures:
        future.get(10)


def ensure_topics(
    names: Iterable[str], *, dead_letters: str | None = None, bootstrap: str = BOOTSTRAP
) -> None:
    """The topics, 3 partitions each; `dead_letters` configured as `marketplace topics create`
    configures the dead-letter topic."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from workers.cli import dead_letter_topic_config
    from workers.settings import load_settings

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = set(admin.list_topics())
        for name in [name for name in names if name not in existing]:
            config = dead_letter_topic_config(load_settings()) if name == dead_letters else {}
            # Created meanwhile by a session running at the same time: just as good.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, 3, 1, topic_configs=config)])
    finally:
        admin.close()


def prepare_kafka(system: System) -> None:
    """Every topic and the system's dead-letter topic, and its group at the end of every
    consumed topic: what its bridge starts from."""
    ensure_topics(
        [topic.name for topic in topics.ALL] + [system.dlq_topic],
        dead_letters=system.dlq_topic,
        bootstrap=system.bootstrap,
    )
    start_group_at_end(
        system.group, [topic.name for topic in topics.CONSUMED], bootstrap=system.bootstrap
    )


def start_pipeline(system: System) -> None:
    """Kafka prepared (`prepare_kafka`), then worker and bridge (ready)."""
    prepare_kafka(system)
    system.worker.start()
    system.bridge.start()
    wait_for(lambda: "ready" in system.worker.log(), timeout=60, what="the worker to be ready")


@contextmanager
def private_pipeline(
    redis_url: str, log_dir: Path, *, env: dict[str, str] | None = None, **options: Any
) -> Iterator[System]:
    """A started pipeline of its own (database, emptied Redis database, group, dead-letter
    topic), for a module that kills or starves what it runs on; stopped when the block ends."""
    with migrated_database() as url:
        system = System(url, redis_url, log_dir, **options)
        system.env.update(env or {})
        system.redis.flushdb()
        try:
            start_pipeline(system)
            yield system
        finally:
            system.stop_all()
            system.redis.close()


def children_of(process: Process) -> list[int]:
    """Pids of the direct children of `process` (a prefork worker's pool processes)."""
    assert process.popen is not None
    listed = subprocess.run(
        ["ps", "--ppid", str(process.popen.pid), "-o", "pid="],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [int(pid) for pid in listed.split()]


def redis_server(port: int, data_dir: Path, log_dir: Path) -> Process:
    """A private, persistent (AOF) Redis server as the Celery broker should run; not started."""
    argv = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
        "--dir",
        str(data_dir),
        "--daemonize",
        "no",
    ]
    return Process(f"redis-{port}", argv, dict(os.environ), log_dir)


KAFKA_JARS = Path.home() / ".cache" / "marketplace-kafka" / "4.3.0" / "lib"


def kafka_server(port: int, data_dir: Path, log_dir: Path) -> Process:
    """A private single-node Kafka (KRaft) on `port` (its controller on `port + 1`), from the
    jars `scripts/services.sh` fetched and its server.properties; storage formatted, not
    started. Its data outlives a stop, so a restart keeps topics and committed offsets."""
    template = (ROOT / "scripts" / "kafka" / "server.properties").read_text()
    properties = data_dir / "server.properties"
    properties.write_text(
        template.replace("@KAFKA_DATA_DIR@", str(data_dir / "log"))
        .replace("@KAFKA_CONTROLLER_PORT@", str(port + 1))
        .replace("@KAFKA_PORT@", str(port))
    )
    java = [
        "java",
        "-Xmx384m",
        "-Xms384m",
        f"-Dlog4j2.configurationFile={ROOT / 'scripts' / 'kafka' / 'log4j2.yaml'}",
        f"-Dkafka.logs.dir={log_dir}",
        "-cp",
        f"{KAFKA_JARS}/*",
    ]
    cluster = subprocess.run(
        [*java, "kafka.tools.StorageTool", "random-uuid"], capture_output=True, text=True
    ).stdout.strip()
    subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(properties)],
        check=True,
        capture_output=True,
    )
    return Process(
        f"kafka-{port}", [*java, "kafka.Kafka", str(properties)], dict(os.environ), log_dir
    )


def wait_listening(port: int, *, timeout: float = 10.0) -> None:
    wait_for(
        lambda: services.is_listening("127.0.0.1", port),
        timeout=timeout,
        what=f"a server on 127.0.0.1:{port}",
    )


def freeze_when(pid: int, ready: Callable[[], bool], *, group: bool = False) -> None:
    """Leave `pid` (its process group with `group`) frozen by SIGSTOP at a moment when `ready()`
    holds; a frozen process changes nothing in Redis, so what `ready` saw stays true. The
    caller kills it (SIGKILL) or lets it go on (SIGCONT)."""
    send = os.killpg if group else os.kill
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        send(pid, signal.SIGSTOP)
        if ready():
            return
        send(pid, signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError(f"the moment to freeze {pid} never came")


def taken_task_ids(system: System, queue: str) -> set[str]:
    """Ids of the tasks of `queue` a worker took from the broker and did not acknowledge yet."""
    return {message["headers"]["id"] for message in _taken(system, queue)}


def taken_event_ids(system: System, queue: str) -> set[str]:
    """Ids of the CloudEvents in those tasks."""
    return {event for message in _taken(system, queue) for event in events_of(message)}


def queued_event_ids(system: System, queue: str) -> set[str]:
    """Ids of the CloudEvents in the tasks waiting in `queue`."""
    return {
        event
        for message in system.redis.lrange(queue, 0, -1)
        for event in events_of(json.loads(message))
    }


def _taken(system: System, queue: str) -> list[dict[str, Any]]:
    return [
        message
        for message, _exchange, routing_key in map(json.loads, system.redis.hvals("unacked"))
        if routing_key == queue
    ]


def events_of(message: dict[str, Any]) -> list[str]:
    """The CloudEvent ids an inbound task message carries: a batch's, or its one event's."""
    args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    events = args[0] if args and isinstance(args[0], list) else args[:1]
    return [event["id"] for event in events if isinstance(event, dict) and "id" in event]


def publishing(system: System) -> bool:
    """A publisher is mid-batch: it has claimed outbox rows (its last statement is the claim,
    `outbox._claim_query`) and holds them in an open transaction while Kafka acknowledges the
    batch."""
    engine = create_engine(system.database_url)
    try:
        with engine.connect() as connection:
            return bool(
                connection.execute(
                    text(
                        "select count(*) from pg_stat_activity"
                        " where datname = current_database() and state = 'idle in transaction'"
                        " and query ilike 'WITH claimed AS%FOR UPDATE SKIP LOCKED%'"
                    )
                ).scalar()
            )
    finally:
        engine.dispose()
