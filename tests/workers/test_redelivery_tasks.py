"""The redelivery beat task in-process: what the broker lost goes back on the inbound queue."""

from __future__ import annotations

import base64
import json
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

    assert worker.queued_events() == [lost]
    assert worker.runtime.ledger.size() == 2  # re-stamped, settled once applied


def test_an_event_no_task_here_applies_is_dead_lettered_and_settled(worker: Worker) -> None:
    foreign = {**event_created("evt-foreign"), "type": "eventzr.other.thing.v1"}
    worker.runtime.ledger.record([foreign], now=0)

    assert redelivery_tasks.redeliver.apply().get() == 0

    (letter,) = dead_letters(worker)
    assert letter["dlq-stage"] == constants.REDELIVER_TASK
    assert worker.runtime.ledger.size() == 0


def test_redelivered_events_are_sent_in_tasks_of_the_configured_batch_size(worker: Worker) -> None:
    worker.runtime.settings = worker.runtime.settings.model_copy(update={"inbound_batch_size": 2})
    lost = [event_created(f"evt-{number}") for number in range(3)]
    worker.runtime.ledger.record(lost, now=0)

    assert redelivery_tasks.redeliver.apply().get() == 3

    bodies = [json.loads(base64.b64decode(m["body"])) for m in worker.queued("inbound")]
    assert [len(arguments[0]) for (arguments, _kwargs, _embed) in bodies] == [2, 1]
