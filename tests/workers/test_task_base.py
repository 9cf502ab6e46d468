"""The failure policy every task runs under, on a task whose retry and dead letter are recorded."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from celery.exceptions import Retry

from marketplace.domain.errors import IllegalTransition, InvalidInput, NotFound, NotYetKnown
from marketplace.errors import GaveUp, PermanentError, TransientError
from workers import constants, runtime
from workers.celery_app import app
from workers.task_base import MarketplaceTask, _bind_log_context, _unbind_log_context


class RecordingTask(MarketplaceTask):  # type: ignore[misc]
    """Its body raises `failure`; it records the retries and the permanent failures it got."""

    name = "tests.recording"
    failure: BaseException
    retried: list[dict[str, Any]]
    dead_letter: Any

    def run(self) -> None:
        raise self.failure

    def retry(self, **options: Any) -> Retry:  # type: ignore[override]
        self.retried.append(options)
        return Retry("retry", when=options.get("countdown"))

    def on_permanent(self, error: BaseException, args: Any, kwargs: Any) -> None:
        self.dead_letter(error)


@pytest.fixture
def task() -> RecordingTask:
    instance = RecordingTask()
    instance.bind(app)
    instance.retried = []
    return instance


def run(
    task: RecordingTask,
    error: BaseException,
    *,
    retries: int = 0,
    headers: dict[str, Any] | None = None,
    dead_letter: Any = None,
) -> list[BaseException]:
    letters: list[BaseException] = []
    task.failure, task.dead_letter = error, dead_letter or letters.append
    task.push_request(retries=retries, headers=headers or {})
    try:
        task()
    finally:
        task.pop_request()
    return letters


def current_settings() -> Any:
    return runtime.current().settings


def test_a_transient_failure_is_retried_with_a_countdown_and_its_first_attempt_time(
    task: RecordingTask,
) -> None:
    with pytest.raises(Retry):
        run(task, TransientError("order not known yet"))

    (options,) = task.retried
    assert 0 < options["countdown"] <= constants.RETRY_BASE_SECONDS
    assert options["headers"][constants.HEADER_FIRST_ATTEMPT_AT] == pytest.approx(
        time.time(), abs=5
    )


def test_a_permanent_failure_is_dead_lettered_once_and_not_retried(task: RecordingTask) -> None:
    error = PermanentError("order o-1 is cancelled; cannot mark paid")

    with pytest.raises(PermanentError):
        run(task, error)

    assert task.retried == []


def test_the_dead_letter_receives_the_permanent_error(task: RecordingTask) -> None:
    letters: list[BaseException] = []
    error = PermanentError("amount mismatch")

    with pytest.raises(PermanentError):
        run(task, error, dead_letter=letters.append)

    assert letters == [error]


def test_a_transient_failure_that_ran_out_of_attempts_is_dead_lettered(task: RecordingTask) -> None:
    letters: list[BaseException] = []

    with pytest.raises(GaveUp, match="gave up after"):
        run(
            task,
            TransientError("still unknown"),
            retries=current_settings().task_max_retries,
            dead_letter=letters.append,
        )

    assert task.retried == [] and isinstance(letters[0], GaveUp)


def test_a_transient_failure_that_ran_out_of_time_is_dead_lettered(task: RecordingTask) -> None:
    old = time.time() - current_settings().task_max_age_seconds - 1
    letters: list[BaseException] = []

    with pytest.raises(GaveUp):
        run(
            task,
            TransientError("still unknown"),
            headers={constants.HEADER_FIRST_ATTEMPT_AT: old},
            dead_letter=letters.append,
        )

    assert len(letters) == 1


def test_an_unexpected_error_is_dead_lettered_rather_than_lost(task: RecordingTask) -> None:
    letters: list[BaseException] = []

    with pytest.raises(GaveUp, match="unexpected KeyError"):
        run(task, KeyError("bug"), dead_letter=letters.append)

    assert len(letters) == 1


def test_an_unexpected_error_is_logged_with_its_traceback(
    task: RecordingTask, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(GaveUp):
        run(task, KeyError("bug"))

    (logged,) = [record for record in caplog.records if record.exc_info]
    assert logged.exc_info is not None and isinstance(logged.exc_info[1], KeyError)


def test_a_cloudevent_replayed_by_hand_logs_under_its_own_id_and_tenant(
    task: RecordingTask,
) -> None:
    event = {"id": "event-1", "tenantid": "00000000-0000-0000-0000-000000000001"}
    task.push_request(id="random-task-id", args=[event], headers={})
    try:
        _bind_log_context(task)
        record = logging.getLogger("tests").makeRecord("tests", logging.INFO, "f", 1, "m", (), None)
        _unbind_log_context(task)
    finally:
        task.pop_request()

    assert (record.event_id, record.tenant_id) == ("event-1", event["tenantid"])


def test_when_the_dead_letter_cannot_be_stored_the_task_is_retried_not_dropped(
    task: RecordingTask,
) -> None:
    def kafka_down(error: BaseException) -> None:
        raise ConnectionError("kafka unreachable")

    with pytest.raises(Retry):
        run(task, PermanentError("bad"), dead_letter=kafka_down)

    assert len(task.retried) == 1


@pytest.mark.parametrize(
    "error",
    [
        NotFound("listing", "l-1", "publish"),
        InvalidInput("listing", None, "create", ["price: must be at least 0", "title: blank"]),
        IllegalTransition("order", "o-1", "cancelled", "mark paid", "payment came late"),
        NotYetKnown("order", "o-1", "mark paid", "is not known"),
    ],
)
def test_a_command_failure_reaches_its_caller_as_its_own_type(error: Exception) -> None:
    """Celery's result backend rebuilds an exception from its type and args for the caller."""
    backend = app.backend

    rebuilt = backend.exception_to_python(backend.prepare_exception(error))

    assert type(rebuilt) is type(error)
    assert str(rebuilt) == str(error)
