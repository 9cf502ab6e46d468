"""Tracing in-process: the bridge, the batch task and the publisher as they run, with spans
exported in memory. One event's trace must run bridge → apply → outbound CloudEvent → publish;
other services' malformed trace contexts must never stop a record; untraced, nothing is added.
(Across real processes, with spans exported over OTLP: tests/integration/test_tracing.py.)"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import TopicPartition
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from marketplace.events import topics
from tests.workers.conftest import Worker
from tests.workers.fakes import TENANT, FakeConsumer, FakeDeadLetters, Record
from tests.workers.test_inbound_tasks import an_order, escrow_release, payment
from workers import constants, tracing
from workers.bridge import Bridge
from workers.celery_app import app
from workers.task_sender import TaskSender

ORIGIN_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ORIGIN_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{ORIGIN_TRACE}-{ORIGIN_SPAN}-01"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Tracing on, for this test, with every span exported in memory as it ends."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.install(previous)


def bridged(worker: Worker, *cloudevents: dict[str, Any]) -> FakeDeadLetters:
    """The bridge handles one poll of these events (each on its own topic's partition 0); the
    dead letters it stored."""
    batch: dict[TopicPartition, list[Record]] = {}
    for offset, cloudevent in enumerate(cloudevents):
        partition = TopicPartition(cloudevent["type"], 0)
        body = json.dumps(cloudevent).encode()
        headers = [("content-type", b"application/cloudevents+json")]
        record = Record(partition.topic, 0, offset, TENANT.encode(), body, headers)
        batch.setdefault(partition, []).append(record)
    sender, dead_letters = TaskSender(app, worker.runtime.ledger), FakeDeadLetters([])
    Bridge(FakeConsumer(), sender, dead_letters, max_record_bytes=1 << 20).handle(batch)  # type: ignore[arg-type]
    return dead_letters


def named(exporter: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name.startswith(prefix)]


def ids(span: ReadableSpan) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def parent_id(span: ReadableSpan) -> str | None:
    return format(span.parent.span_id, "016x") if span.parent else None


def traced(cloudevent: dict[str, Any], traceparent: Any = TRACEPARENT) -> dict[str, Any]:
    return {**cloudevent, "traceparent": traceparent}


def test_one_trace_runs_from_the_inbound_event_through_bridge_and_worker_to_the_outbound_event(
    worker: Worker, exported: InMemorySpanExporter
) -> None:
    order = an_order(worker)
    exported.clear()  # the commands' own spans
    release = traced(escrow_release(order))
    bridged(worker, payment(order), release)
    worker.run_queued()

    bridge_spans = {
        span.attributes["cloudevents.event_id"]: span for span in named(exported, "bridge ")
    }
    apply_spans = {
        span.attributes["cloudevents.event_id"]: span for span in named(exported, "apply ")
    }
    (publish_span,) = named(exported, f"publish {topics.ORDER_COMPLETED.name}")
    (completed,) = worker.producer.events(topics.ORDER_COMPLETED.name)

    bridge_span, apply_span = bridge_spans[release["id"]], apply_spans[release["id"]]
    assert ids(bridge_span)[0] == ORIGIN_TRACE and parent_id(bridge_span) == ORIGIN_SPAN
    assert ids(apply_span)[0] == ORIGIN_TRACE and parent_id(apply_span) == ids(bridge_span)[1]
    assert completed["traceparent"] == f"00-{ORIGIN_TRACE}-{ids(apply_span)[1]}-01"
    assert ids(publish_span)[0] == ORIGIN_TRACE and parent_id(publish_span) == ids(apply_span)[1]
    # The payment carried no context: a trace of its own, started by the bridge.
    payment_bridge = next(span for key, span in bridge_spans.items() if key != release["id"])
    assert payment_bridge.parent is None and ids(payment_bridge)[0] != ORIGIN_TRACE


def test_an_event_sent_as_a_task_by_hand_continues_the_trace_it_carries(
    worker: Worker, exported: InMemorySpanExporter
) -> None:
    order = an_order(worker)
    worker.apply(payment(order))
    worker.apply(traced(escrow_release(order)))

    (apply_span,) = named(exported, f"apply {topics.ESCROW_RELEASED.name}")
    assert ids(apply_span)[0] == ORIGIN_TRACE and parent_id(apply_span) == ORIGIN_SPAN
    (completed,) = worker.producer.events(topics.ORDER_COMPLETED.name)
    assert completed["traceparent"].split("-")[1] == ORIGIN_TRACE


def test_an_event_retried_alone_keeps_the_bridge_span_as_its_parent(
    worker: Worker, exported: InMemorySpanExporter
) -> None:
    early = traced(payment("order-not-yet"))
    bridged(worker, early)
    worker.run_queued()  # the batch: not applied now, sent on as its topic's task

    (retry,) = worker.queued(constants.INBOUND_QUEUE)
    (bridge_span,) = named(exported, "bridge ")
    carrier = retry["headers"][constants.HEADER_TRACE_CONTEXTS][early["id"]]
    assert carrier["traceparent"] == f"00-{ORIGIN_TRACE}-{ids(bridge_span)[1]}-01"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    traceparent=st.one_of(
        st.text(max_size=80),
        st.integers(),
        st.booleans(),
        st.just(f"00-{'0' * 32}-{ORIGIN_SPAN}-01"),  # the invalid all-zero trace id
        st.just(TRACEPARENT + "-" + "x" * 5000),  # oversized
        st.just("ff-" + TRACEPARENT[3:]),  # the forbidden version
    ),
    tracestate=st.one_of(st.none(), st.text(max_size=40), st.just("a=" + "b" * 5000)),
)
def test_a_malformed_trace_context_never_stops_a_record_and_starts_a_trace_of_its_own(
    worker: Worker, exported: InMemorySpanExporter, traceparent: Any, tracestate: Any
) -> None:
    exported.clear()
    worker.queued(constants.INBOUND_QUEUE)
    event = traced(payment("order-1"), traceparent)
    if tracestate is not None:
        event["tracestate"] = tracestate

    dead_letters = bridged(worker, event)

    queued = worker.queued(constants.INBOUND_QUEUE)
    if dead_letters.letters:  # not a CloudEvent at all (an integer out of range, a NUL)
        assert not queued and "trace" in str(dead_letters.letters[0].error)
        return
    (bridge_span,) = named(exported, "bridge ")
    assert len(queued) == 1, "enqueued whatever its trace context"
    if bridge_span.parent is not None:  # only a context that parses is continued
        assert traceparent == TRACEPARENT and ids(bridge_span)[0] == ORIGIN_TRACE


def test_a_row_kafka_refuses_ends_its_publish_span_in_error(
    worker: Worker, exported: InMemorySpanExporter
) -> None:
    from kafka.errors import MessageSizeTooLargeError

    order = an_order(worker)
    worker.producer.refused[topics.ORDER_COMPLETED.name] = MessageSizeTooLargeError("too large")
    worker.apply(payment(order))
    worker.apply(escrow_release(order))

    (publish_span,) = named(exported, f"publish {topics.ORDER_COMPLETED.name}")
    assert publish_span.status.status_code is StatusCode.ERROR


def test_untraced_no_task_header_and_no_trace_attribute_is_added(worker: Worker) -> None:
    assert not tracing.enabled()
    order = an_order(worker)
    bridged(worker, payment(order), traced(escrow_release(order)))

    messages = worker.queued(constants.INBOUND_QUEUE)
    assert all(constants.HEADER_TRACE_CONTEXTS not in m["headers"] for m in messages)
    for message in messages:
        args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        app.tasks[message["headers"]["task"]].apply(args=args, kwargs=kwargs).get()
    (completed,) = worker.producer.events(topics.ORDER_COMPLETED.name)
    assert "traceparent" not in completed and "tracestate" not in completed


CONFIGURE = f"""
from workers import tracing
from workers.settings import load_settings
on = tracing.configure(load_settings(_env_file=None), service="marketplace-bridge")
print("configured", on, tracing.enabled())
if on:
    tracing.start("probe", {{"traceparent": {TRACEPARENT!r}}}, kind=tracing.SpanKind.CONSUMER).end()
    tracing.shutdown()
"""


def configured(**variables: str) -> str:
    """What a fresh process prints after `configure` with only these OTEL_* variables."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    completed = subprocess.run(
        [sys.executable, "-c", CONFIGURE],
        env={**environment, **variables},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout


def test_a_process_configured_with_the_console_exporter_prints_its_spans_under_its_name() -> None:
    printed = configured(OTEL_TRACES_EXPORTER="console")

    assert "configured True True" in printed
    assert '"service.name": "marketplace-bridge"' in printed
    assert (
        f'"trace_id": "0x{ORIGIN_TRACE}"' in printed
        and f'"parent_id": "0x{ORIGIN_SPAN}"' in printed
    )


def test_otel_service_name_wins_and_without_otel_variables_nothing_is_configured() -> None:
    assert '"service.name": "billing"' in configured(
        OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="billing"
    )
    assert configured().strip() == "configured False False"
