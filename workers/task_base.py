"""The failure policy every marketplace task runs under.

- a retryable failure (see `retry_policy`) is retried with backoff until the attempts or the
  age run out; then it is treated as permanent;
- a permanent failure is handed to the task's `on_permanent` once (inbound tasks dead-letter
  their CloudEvent; commands fail with the reason) and the task fails without a traceback: it
  is expected, not a bug (`Task.throws`);
- anything else is a bug: logged with its traceback, then treated as permanent.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.exceptions import Retry
from celery.signals import task_postrun, task_prerun

from marketplace.errors import GaveUp, PermanentError
from workers import constants, log_context, retry_policy, runtime

logger = logging.getLogger(__name__)


class MarketplaceTask(Task):
    """The base of every marketplace task (`workers.celery_app.task`): the failure policy wraps
    the task's body, so a body holds only its work."""

    throws = (PermanentError,)
    max_retries = None  # counted by `retry_policy.exhausted`, which also bounds age
    typing = False  # arguments are checked by the task itself, naming every bad one

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Not `super().__call__`: that pushes a request of its own, hiding the worker's
        # (retries, headers) from the policy.
        try:
            return self.run(*args, **kwargs)
        except Exception as error:
            raise self._settle(error, args, kwargs) from error

    def on_permanent(
        self, error: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Called once when the task fails for good; inbound tasks dead-letter their event."""

    def _settle(
        self, error: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> BaseException:
        """The exception the task ends with: a retry, or the permanent failure."""
        if isinstance(error, Retry):  # the body asked for a retry itself
            return error
        attempt = int(self.request.retries or 0)
        first_attempt_at = enqueued_at(self.request)
        age = time.time() - first_attempt_at
        if retry_policy.is_retryable(error):
            settings = runtime.current().settings
            if not retry_policy.exhausted(
                attempt + 1,
                age,
                max_attempts=settings.task_max_retries + 1,
                max_age_seconds=settings.task_max_age_seconds,
            ):
                return self._retry(error, attempt, first_attempt_at)
            final: BaseException = GaveUp(
                f"gave up after {attempt + 1} attempts in {age:.0f}s: {error!r}"
            )
        else:
            final = permanent(error)
        try:
            self.on_permanent(final, args, kwargs)
        except Exception as unstored:
            # The dead letter is not stored: failing now would lose the event.
            logger.warning("could not store the dead letter, will retry: %r", unstored)
            return self._retry(unstored, attempt, first_attempt_at)
        return final

    def _retry(self, error: BaseException, attempt: int, first_attempt_at: float) -> BaseException:
        countdown = retry_policy.backoff_seconds(
            attempt,
            visibility_timeout=runtime.current().settings.broker_visibility_timeout_seconds,
        )
        logger.info("attempt %d failed, retrying in %.1fs: %r", attempt + 1, countdown, error)
        headers = {
            **(self.request.headers or {}),
            constants.HEADER_FIRST_ATTEMPT_AT: first_attempt_at,
        }
        return self.retry(exc=error, countdown=countdown, headers=headers, throw=False)


def permanent(error: Exception) -> BaseException:
    """A failure not worth retrying, as the task ends with it: a `PermanentError` as it is; a
    bug logged with its traceback (failing as "expected", `Task.throws`, would hide it)."""
    if isinstance(error, PermanentError):
        return error
    logger.exception("unexpected error", exc_info=error)
    return GaveUp(f"unexpected {type(error).__name__}: {error}")


def enqueued_at(request: Any) -> float:
    """When the task's first attempt was enqueued (now, for one sent without the header)."""
    return float(header(request, constants.HEADER_FIRST_ATTEMPT_AT) or time.time())


def header(request: Any, name: str) -> Any:
    """A custom message header: Celery keeps it in `headers` or lifts it onto the request."""
    return (request.headers or {}).get(name, getattr(request, name, None))


@task_prerun.connect
def _bind_log_context(task: Task, **_: Any) -> None:
    request = task.request
    kwargs = request.kwargs if isinstance(request.kwargs, dict) else {}
    # An inbound event replayed by hand has no headers, but its CloudEvent is the argument.
    args = request.args if isinstance(request.args, list | tuple) else ()
    cloudevent = args[0] if len(args) == 1 and isinstance(args[0], dict) else {}
    tenant = (
        header(request, constants.HEADER_TENANT_ID)
        or kwargs.get("tenant_id")
        or cloudevent.get("tenantid")
    )
    event_id = header(request, constants.HEADER_EVENT_ID) or cloudevent.get("id") or request.id
    request.log_context = log_context.bind(event_id, tenant)


@task_postrun.connect
def _unbind_log_context(task: Task, **_: Any) -> None:
    bound = getattr(task.request, "log_context", None)
    if bound is not None:
        log_context.unbind(bound)
