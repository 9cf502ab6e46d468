"""`marketplace consume`: what it is pointed at, and how it refuses what it cannot run (the
real runs: tests/integration/test_consumer_kit.py)."""

from __future__ import annotations

import socket
import threading
import urllib.request

import pytest

from marketplace.consumer import ConsumerGroup
from marketplace.consumer.dead_letter import DeadLetterSender
from marketplace.consumer.declaration import declaration_of
from marketplace.consumer.errors import KafkaFatal
from marketplace.consumer.memory_kafka import MemoryConsumer, MemoryKafka, MemoryProducer
from marketplace.consumer.metrics import ConsumerMetrics
from marketplace.consumer.producer import RenewingProducer
from tests.workers.consume_targets import good
from workers import consume
from workers.cli import main
from workers.settings import Settings, load_settings


def test_a_target_is_a_class_or_a_group_of_functions_named_module_colon_name() -> None:
    assert consume.load_target("tests.workers.consume_targets.good:Reviews") is good.Reviews
    assert consume.load_target("tests.workers.consume_targets.good:analytics") is good.analytics


def test_targets_of_one_group_id_are_run_as_one_group() -> None:
    groups = consume.by_group([good.Reviews, good.analytics, good.MoreReviews])

    assert groups == {"reviews": [good.Reviews, good.MoreReviews], "analytics": [good.analytics]}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tests.workers.consume_targets.good", "expected package.module:Name"),
        ("tests.workers.consume_targets.missing:X", "cannot import tests.workers.consume_targets"),
        ("tests.workers.consume_targets.good:Nobody", "good has no Nobody"),
        ("tests.workers.consume_targets.good:NOT_A_CONSUMER", "neither a @KafkaConsumer class"),
        (
            "tests.workers.consume_targets.bad:Reviews",
            "carries OrderCompleted, but the handler is annotated CloudEvent[OrderCancelled]",
        ),
    ],
)
def test_a_target_it_cannot_run_stops_it_with_one_message(
    target: str, message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_ENABLED", "true")

    assert main(["consume", target]) == 2
    assert message in capsys.readouterr().err


def test_it_refuses_to_start_with_kafka_disabled(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_ENABLED", "false")

    assert main(["consume", "tests.workers.consume_targets.good:Reviews"]) == 2
    assert "marketplace consume needs Kafka" in capsys.readouterr().err


def test_it_runs_each_group_until_stopped_serving_their_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The groups' threads, on the harness's in-memory Kafka instead of a broker."""
    kafka = MemoryKafka()
    stopping = threading.Event()
    built: list[ConsumerGroup] = []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pages: list[str] = []

    def scrape_then_stop() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            pages.append(page.read().decode())
        stopping.set()

    def build_group(
        settings: Settings,
        members: list[object],
        stopping: threading.Event,
        metrics: ConsumerMetrics | None = None,
    ) -> ConsumerGroup:
        group_id = declaration_of(members[0]).group_id
        sender = DeadLetterSender(
            RenewingProducer(lambda: MemoryProducer(kafka)), "dlq", max_record_bytes=1 << 20
        )
        group = ConsumerGroup(
            members,
            MemoryConsumer(kafka, group_id),
            sender,
            max_record_bytes=1 << 20,
            poll_timeout_ms=10,
            stopping=stopping,
            metrics=None if metrics is None else metrics.of(group_id),
        )
        built.append(group)
        if len(built) == 2:
            threading.Timer(0.5, scrape_then_stop).start()
        return group

    monkeypatch.setattr(consume, "build_group", build_group)
    consume.run(
        load_settings(_env_file=None),
        [
            "tests.workers.consume_targets.good:Reviews",
            "tests.workers.consume_targets.good:analytics",
        ],
        stopping,
        metrics_port=port,
    )

    assert sorted(group.group_id for group in built) == ["analytics", "reviews"]
    (page,) = pages
    reachable = 'marketplace_consumer_kafka_reachable{group="%s"} 1.0'
    assert reachable % "analytics" in page and reachable % "reviews" in page
    assert all(
        isinstance(group.consumer, MemoryConsumer) and group.consumer.closed for group in built
    )


def test_a_group_that_fails_for_good_stops_every_group_and_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def build_group(settings: Settings, members: list[object], *_: object) -> None:
        raise KafkaFatal("Kafka refused the consumer group reviews: SaslAuthenticationFailed")

    monkeypatch.setattr(consume, "build_group", build_group)
    stopping = threading.Event()

    with pytest.raises(KafkaFatal, match="SaslAuthenticationFailed"):
        consume.run(
            load_settings(_env_file=None), ["tests.workers.consume_targets.good:Reviews"], stopping
        )
    assert stopping.is_set()
