"""The redelivery beat task in-process: what the broker lost goes back on the inbound queue."""

from __future__ import annotations

import time

from tests.workers.conftest import Worker
from tests.workers.test_inbound_tasks import dead_letters, event_created
from workers import constants, redelivery_tasks


def test_events_unsettled_a_visibility_timeout_later_are_enqueued_again(worker: Worker) -> None:
    timeout = worker.runtime.settings.broker_visibility_timeout_seconds
    lost, recent = event_created("evt-lost"), event_created("evt-recent")
    worker.runtime.ledger.record([lost], now=time.time() - timeout - 1)
    worker.runtime.ledger.record([recent], now=time.time())

    assert redelivery_tasks.redeliver.apply().get() == 1

    (message,) = worker.queued(constants.INBOUND_QUEUE)
    assert message["headers"]["id"] == lost["id"]
    assert worker.runtime.ledger.size() == 2  # re-stamped, settled once applied


def test_an_event_no_task_here_applies_is_dead_lettered_and_settled(worker: Worker) -> None:
    foreign = {**event_created("evt-foreign"), "type": "eventzr.other.thing.v1"}
    worker.runtime.ledger.record([foreign], now=0)

    assert redelivery_tasks.redeliver.apply().get() == 0

    (letter,) = dead_letters(worker)
    assert letter["dlq-stage"] == constants.REDELIVER_TASK
    assert worker.runtime.ledger.size() == 0
