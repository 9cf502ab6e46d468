"""The inbound ledger, on a real Redis: what is recorded comes back until it is settled."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.workers.fakes import payment_event
from workers import constants
from workers.celery_app import app
from workers.inbound_ledger import InboundLedger

pytestmark = pytest.mark.redis


@pytest.fixture
def ledger(redis_url: str) -> Iterator[InboundLedger]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield InboundLedger(client)
    client.flushdb()
    client.close()


def unreachable() -> InboundLedger:
    return InboundLedger(redis.Redis(port=1, retry=Retry(NoBackoff(), 0)))


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [event["id"] for event in events]


def test_a_recorded_event_is_unsettled_once_its_enqueue_time_has_passed(
    ledger: InboundLedger,
) -> None:
    event = payment_event()
    ledger.record([event], now=1000.0)

    assert ledger.unsettled_since(999.0, limit=10) == []
    assert ledger.unsettled_since(1000.0, limit=10) == [event]


def test_a_settled_event_is_gone_and_settling_twice_is_harmless(ledger: InboundLedger) -> None:
    kept, settled = payment_event("pay-1"), payment_event("pay-2")
    ledger.record([kept, settled], now=1000.0)

    ledger.settle(settled)
    ledger.settle(settled)

    assert ids(ledger.unsettled_since(2000.0, limit=10)) == [kept["id"]]
    assert ledger.size() == 1


def test_recording_again_restamps_the_event(ledger: InboundLedger) -> None:
    event = payment_event()
    ledger.record([event], now=1000.0)
    ledger.record([event], now=5000.0)

    assert ledger.unsettled_since(4999.0, limit=10) == []
    assert ledger.size() == 1


def test_the_oldest_come_first_up_to_the_limit(ledger: InboundLedger) -> None:
    events = [payment_event(f"pay-{number}") for number in range(5)]
    for at, event in enumerate(reversed(events)):
        ledger.record([event], now=1000.0 + at)

    assert ids(ledger.unsettled_since(2000.0, limit=2)) == ids(events[::-1][:2])


def test_the_same_id_from_two_sources_is_two_entries(ledger: InboundLedger) -> None:
    wallet = payment_event()
    other = {**wallet, "source": "other-svc"}
    ledger.record([wallet, other], now=1000.0)

    ledger.settle(wallet)

    assert ledger.unsettled_since(2000.0, limit=10) == [other]


def test_recording_without_redis_raises_so_the_bridge_enqueues_nothing() -> None:
    with pytest.raises(redis.ConnectionError):
        unreachable().record([payment_event()], now=1000.0)


def test_settling_without_redis_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        unreachable().settle(payment_event())

    assert "ledger entry not settled" in caplog.text


def test_beat_looks_for_lost_inbound_events_as_often_as_for_stale_outbox_rows() -> None:
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    app.loader.import_default_modules()  # what a worker or beat does at start

    assert schedule[constants.REDELIVER_TASK] == constants.SWEEP_INTERVAL_SECONDS
    assert constants.REDELIVER_TASK in app.tasks
