"""`marketplace consume`: what it is pointed at, and how it refuses what it cannot run (the
real runs: tests/integration/test_consumer_kit.py)."""

from __future__ import annotations

import pytest

from tests.workers.consume_targets import good
from workers import consume
from workers.cli import main


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
