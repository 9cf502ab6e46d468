"""`marketplace consume package.module:Handler […]`: consumer groups (`marketplace.consumer`) run
with the Kafka of the settings (the same variables as the bridge's, MSK IAM included).

Targets of one group id share one consumer; each group runs in a thread of its own. SIGTERM or
SIGINT stops every group after the record in hand, commits it and leaves the group. A group's
dead-letter topic is created at start-up if it is missing (configured as `marketplace topics
create` configures the marketplace's). The counters are logged every minute and at the end.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
from collections.abc import Sequence

from kafka.errors import KafkaError, TopicAlreadyExistsError

from marketplace.consumer import ConsumerGroup
from marketplace.consumer.declaration import declaration_of
from marketplace.consumer.metrics import ConsumerMetrics
from marketplace.consumer.probes import serving
from marketplace.errors import PermanentError
from workers import gc_pauses
from workers.kafka_clients import connect_reader, make_admin
from workers.settings import Settings

logger = logging.getLogger(__name__)


class TargetError(PermanentError, ValueError):
    """A target that cannot be imported, or is no consumer."""


def load_target(spec: str) -> object:
    """`package.module:Name` (or `…:Name.attribute`), imported from the working directory too,
    as `celery -A` and `uvicorn` do; a bad declaration raises its `DeclarationError` here."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise TargetError(f"{spec!r}: expected package.module:Name")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as error:
        raise TargetError(f"{spec}: cannot import {module_name} ({error})") from error
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise TargetError(f"{spec}: {module_name} has no {attribute}") from None
    declaration_of(target)
    return target


def by_group(targets: Sequence[object]) -> dict[str, list[object]]:
    groups: dict[str, list[object]] = {}
    for target in targets:
        groups.setdefault(declaration_of(target).group_id, []).append(target)
    return groups


def build_group(
    settings: Settings,
    members: Sequence[object],
    stopping: threading.Event,
    metrics: ConsumerMetrics | None = None,
) -> ConsumerGroup | None:
    """A group on real clients, once Kafka answers (None: stopped while waiting for it)."""
    declaration = declaration_of(members[0])
    group_id = declaration.group_id
    clients = connect_reader(
        settings,
        what=f"consumer group {group_id}",
        stopping=stopping,
        dead_letter_topic=declaration.dead_letter_topic,
        client_id=group_id,
        group_id=group_id,
    )
    if clients is None:
        return None
    consumer, dead_letters = clients
    ensure_dead_letter_topic(settings, declaration.dead_letter_topic)
    return ConsumerGroup(
        members,
        consumer,
        dead_letters,
        max_record_bytes=settings.kafka_max_record_bytes,
        stopping=stopping,
        metrics=None if metrics is None else metrics.of(group_id),
    )


def ensure_dead_letter_topic(settings: Settings, name: str) -> None:
    """Created if missing; a client that may not create topics only gets a warning (the
    topic may be made by whoever administers the cluster)."""
    from workers.cli import dead_letter_topic_config

    try:
        admin = make_admin(settings)
    except KafkaError as error:
        logger.warning("dead-letter topic %s not checked: %r", name, error)
        return
    try:
        if name in set(admin.list_topics()):
            return
        from kafka.admin import NewTopic

        topic = NewTopic(
            name,
            settings.kafka_topic_partitions,
            settings.kafka_topic_replication,
            topic_configs=dead_letter_topic_config(settings),
        )
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics([topic])
        logger.info("created the dead-letter topic %s", name)
    except KafkaError as error:
        logger.warning("dead-letter topic %s could not be created: %r", name, error)
    finally:
        admin.close()


def run(
    settings: Settings,
    specs: Sequence[str],
    stopping: threading.Event,
    *,
    metrics_port: int | None = None,
) -> None:
    """Every group until `stopping` is set or one of them fails for good (raised here); their
    metrics on `metrics_port` (with `METRICS_ADDRESS`) if given."""
    groups = by_group([load_target(spec) for spec in specs])
    failures: list[BaseException] = []
    metrics = ConsumerMetrics()

    def run_group(members: list[object]) -> None:
        try:
            group = build_group(settings, members, stopping, metrics)
            if group is not None:
                group.run()
        except BaseException as error:
            failures.append(error)
            stopping.set()  # one group down for good: the process stops, its supervisor decides

    threads = [
        threading.Thread(target=run_group, args=(members,), name=f"group {group_id}")
        for group_id, members in groups.items()
    ]
    with serving(metrics, settings.metrics_address, metrics_port):
        gc_pauses.freeze_startup_objects()
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)  # the main thread stays free to take signals
    if failures:
        raise failures[0]
