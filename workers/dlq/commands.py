"""`marketplace dlq list|show|replay`: the dead letters selected, shown or sent back.

Exit codes: 0 done; 1 a named letter is not there, or some letters could not be replayed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from kafka import KafkaConsumer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from marketplace.domain.database import make_engine, make_session_factory
from marketplace.domain.models import InboxEntry
from marketplace.errors import PermanentError, TransientError
from marketplace.events.envelope import InboundEvent, RawRecord
from workers.celery_client import SOCKET_TIMEOUT_SECONDS, client_app
from workers.dlq import report
from workers.dlq.letters import StoredLetter
from workers.dlq.reader import TopicReader
from workers.dlq.replay import Planner, Replayer, counts
from workers.dlq.selection import Selection
from workers.inbound_ledger import InboundLedger
from workers.kafka_clients import make_consumer, make_producer
from workers.settings import Settings
from workers.task_sender import TaskSender


class KafkaNeeded(PermanentError):
    """The dead letters live on Kafka, and KAFKA_ENABLED is false."""


class DatabaseUnavailable(TransientError):
    """The inbox could not be asked whether an event was applied."""


@dataclass(frozen=True)
class Chosen:
    letters: list[StoredLetter]
    read: int
    missing: list[str]
    """Letters named by place that are not on the topic."""


def list_letters(
    settings: Settings, selection: Selection, refs: Sequence[tuple[int, int]], *, as_json: bool
) -> int:
    with _reader(settings) as reader:
        chosen = _choose(reader, settings, selection, refs)
    if as_json:
        print(json.dumps([report.summary(letter) for letter in chosen.letters], indent=2))
    else:
        report.print_table(Console(), chosen.letters, read=chosen.read)
    return _missing(chosen)


def show_letters(
    settings: Settings, selection: Selection, refs: Sequence[tuple[int, int]], *, as_json: bool
) -> int:
    with _reader(settings) as reader:
        chosen = _choose(reader, settings, selection, refs)
    if as_json:
        print(json.dumps([report.detail(letter) for letter in chosen.letters], indent=2))
    else:
        report.print_details(Console(), chosen.letters)
    return _missing(chosen)


def replay_letters(
    settings: Settings,
    selection: Selection,
    refs: Sequence[tuple[int, int]],
    *,
    as_json: bool,
    dry_run: bool,
) -> int:
    err = Console(stderr=True)
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)

    def is_applied(event: InboundEvent) -> bool:
        try:
            with sessions() as session:
                key = (event.tenant_id, event.source, event.id)
                return session.get(InboxEntry, key) is not None
        except SQLAlchemyError as error:
            raise DatabaseUnavailable(f"the inbox could not be read: {error}") from error

    try:
        with _reader(settings) as reader:
            chosen = _choose(reader, settings, selection, refs)

            def fetch_original(topic: str, partition: int, offset: int) -> RawRecord | None:
                record = reader.at(topic, [(partition, offset)]).get((partition, offset))
                if record is None:
                    return None
                headers = tuple((name, value or b"") for name, value in record.headers or ())
                return RawRecord(topic, record.value, record.key, headers, partition, offset)

            planner = Planner(
                fetch_original=fetch_original,
                is_applied=is_applied,
                max_record_bytes=settings.kafka_max_record_bytes,
            )
            with report.progress(err, len(chosen.letters), "planning") as advance:
                plans = []
                for letter in chosen.letters:
                    plans.append(planner.plan(letter))
                    advance()
    finally:
        engine.dispose()
    with (
        _senders(settings, needed=not dry_run) as replayer,
        report.progress(err, len(plans), "replaying") as advance,
    ):
        outcomes = replayer.replay(plans, dry_run=dry_run, advance=advance)
    if as_json:
        print(json.dumps(report.outcomes_json(outcomes, dry_run=dry_run), indent=2))
    else:
        report.print_outcomes(Console(), outcomes, dry_run=dry_run)
    return 1 if counts(outcomes)["failed"] or _missing(chosen) else 0


def _choose(
    reader: TopicReader,
    settings: Settings,
    selection: Selection,
    refs: Sequence[tuple[int, int]],
) -> Chosen:
    topic = settings.kafka_dlq_topic
    missing: list[str] = []
    if refs:
        found = reader.at(topic, refs)
        missing = [f"{p}:{o}" for p, o in refs if (p, o) not in found]
        letters = [StoredLetter.from_record(found[ref]) for ref in refs if ref in found]
    else:
        letters = list(reader.letters(topic, since=selection.since))
    chosen = [letter for letter in letters if selection.matches(letter)]
    chosen.sort(key=lambda letter: (letter.when, letter.partition, letter.offset))
    return Chosen(chosen, len(letters), missing)


def _missing(chosen: Chosen) -> int:
    for ref in chosen.missing:
        Console(stderr=True).print(f"no dead letter at {ref}", markup=False)
    return 1 if chosen.missing else 0


@contextmanager
def _reader(settings: Settings) -> Iterator[TopicReader]:
    if not settings.kafka_enabled:
        raise KafkaNeeded("the dead letters are on Kafka, and KAFKA_ENABLED is false")
    consumer: KafkaConsumer = make_consumer(settings, group_id=None, enable_auto_commit=False)
    try:
        yield TopicReader(consumer)
    finally:
        consumer.close(autocommit=False)


@contextmanager
def _senders(settings: Settings, *, needed: bool) -> Iterator[Replayer]:
    """The producer and task sender a replay sends with; none for a dry run."""
    if not needed:
        yield Replayer(producer=None, tasks=_NoTasks())
        return
    producer = make_producer(settings)
    client = redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
    )
    app = client_app(settings)
    try:
        yield Replayer(producer=producer, tasks=TaskSender(app, InboundLedger(client)))
    finally:
        producer.close(timeout=30)
        client.close()
        app.close()


class _NoTasks:
    def send_cloudevents(self, cloudevents: object, *, headers: object = None) -> None:
        raise AssertionError("a dry run sends nothing")
