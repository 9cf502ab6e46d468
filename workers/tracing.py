"""One trace per event across the pipeline's hops (OpenTelemetry); off unless configured.

    inbound record ── `bridge <topic>`        (bridge: continues the CloudEvent's `traceparent`,
                      │                        or starts a trace; ends once Redis has the task)
                      └─ `apply <topic>`      (worker: the event applied in its batch)
                         └─ `publish <topic>` (worker: each outbound CloudEvent it recorded,
                                               ended when Kafka acknowledged it)

A task carries many events of many traces, so the bridge sends each event's context in the
task's `trace_contexts` header (event id → W3C carrier), never inside the CloudEvent, which
reaches the worker, the inbox and any dead letter as its producer wrote it. An outbound
CloudEvent carries the Distributed Tracing extension (`traceparent`, `tracestate`) of the span
that recorded it, stored with it in the outbox, so it leaves in the same trace whenever it is
published. The Celery instrumentation adds each task's own span (`run/<task>`, linked from
the events it applied). SQL statements get no spans of their own: the SQLAlchemy
instrumentation supports SQLAlchemy < 2.1 only (and needs greenlet); an `apply` span covers its
event's statements, and the task's span its batch's commit.

On when `Settings.traces_exporter` says so (the standard `OTEL_*` variables); otherwise no span
is made and nothing is added to tasks or events. Malformed or oversized trace contexts from
other services are ignored: the event then starts a trace of its own.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "Carrier",
    "Span",
    "SpanKind",
    "Status",
    "StatusCode",
    "carrier_of",
    "cloudevent_context",
    "cloudevent_extensions",
    "configure",
    "contexts_header",
    "current",
    "enabled",
    "event_attributes",
    "event_context",
    "fail",
    "install",
    "parents_from_header",
    "shutdown",
    "spans",
    "start",
]

from marketplace.events.envelope import InboundEvent
from workers import constants
from workers.settings import Settings, TracesExporter

logger = logging.getLogger(__name__)

TRACE_ATTRIBUTES = ("traceparent", "tracestate")
MAX_CONTEXT_CHARS = 512
"""Longer `traceparent`/`tracestate` values are not parsed (W3C: tracestate ≤ 512 chars)."""

Carrier = dict[str, str]
W3C = TraceContextTextMapPropagator()
"""The CloudEvents extension is W3C Trace Context whatever `OTEL_PROPAGATORS` says."""
_provider: Any = None
"""This process's TracerProvider once `configure` made it (or a test `install`ed one)."""


def enabled() -> bool:
    return _provider is not None


def configure(settings: Settings, *, service: str, celery: bool = False) -> bool:
    """Install this process's tracer provider if tracing is on; idempotent. `service` is the
    default `service.name` (`OTEL_SERVICE_NAME` wins). `celery`: also instrument task runs."""
    global _provider
    exporter_kind = settings.traces_exporter
    if _provider is not None or exporter_kind is TracesExporter.NONE:
        return _provider is not None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

    exporter: SpanExporter
    if exporter_kind is TracesExporter.OTLP:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
    else:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        exporter = ConsoleSpanExporter()
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if celery:
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        CeleryInstrumentor().instrument(tracer_provider=provider)
    install(provider)
    logger.info("tracing on: %s spans of %s", exporter_kind, resource.attributes[SERVICE_NAME])
    return True


def install(provider: Any) -> Any:
    """Make `provider` the one this module's spans come from (None: tracing off); returns the
    previous one. `configure` does this for a process; tests give one that exports in memory."""
    global _provider
    previous, _provider = _provider, provider
    return previous


def shutdown() -> None:
    """Export what is still buffered (a pool process about to exit)."""
    if _provider is not None:
        _provider.shutdown()


def cloudevent_context(cloudevent: Mapping[str, Any]) -> Carrier:
    """The Distributed Tracing extension of another service's CloudEvent, if it is usable."""
    return {
        name: value
        for name in TRACE_ATTRIBUTES
        if isinstance(value := cloudevent.get(name), str) and len(value) <= MAX_CONTEXT_CHARS
    }


def event_context(event: InboundEvent) -> Carrier:
    """The trace context another service's event carries, if it is usable."""
    return cloudevent_context(
        {name: event.cloudevent.get_extension(name) for name in TRACE_ATTRIBUTES}
    )


def cloudevent_extensions() -> Carrier:
    """`traceparent` (and `tracestate`) for a CloudEvent recorded now: the current span's, so
    the event continues the trace of whatever caused it; nothing when tracing is off."""
    if not enabled():
        return {}
    carrier: Carrier = {}
    W3C.inject(carrier)
    return {name: carrier[name] for name in TRACE_ATTRIBUTES if name in carrier}


def carrier_of(span: Span) -> Carrier:
    carrier: Carrier = {}
    W3C.inject(carrier, context=trace.set_span_in_context(span))
    return carrier


def start(
    name: str,
    parent: Mapping[str, str] | None,
    *,
    kind: SpanKind,
    attributes: Mapping[str, Any] | None = None,
    link_current: bool = False,
) -> Span:
    """A span under the trace context `parent` (a new trace if it has none that parses);
    `link_current` links it to the span current here (a task's, serving many traces)."""
    tracer = _provider.get_tracer("marketplace")
    links = []
    if link_current and (current := trace.get_current_span().get_span_context()).is_valid:
        links.append(Link(current))
    parent_context = W3C.extract(dict(parent or {}), context=otel_context.Context())
    return tracer.start_span(
        name, context=parent_context, kind=kind, attributes=attributes, links=links
    )


@contextlib.contextmanager
def spans(started: Iterable[Span]) -> Iterator[list[Span]]:
    """End every span when the block ends; an exception marks them all failed."""
    ending = list(started)
    try:
        yield ending
    except BaseException as error:
        for span in ending:
            fail(span, error)
        raise
    finally:
        for span in ending:
            span.end()


def fail(span: Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


@contextlib.contextmanager
def current(span: Span) -> Iterator[None]:
    """`span` current for the block, ended after it (failed if the block raises)."""
    with trace.use_span(span, end_on_exit=True):
        yield


def event_attributes(topic: str, event_id: str, tenant_id: str | None) -> dict[str, Any]:
    """The messaging conventions' names, plus the CloudEvents id and the tenant."""
    attributes = {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.message.id": event_id,
        "cloudevents.event_id": event_id,
        "cloudevents.event_type": topic,
    }
    if tenant_id:
        attributes["marketplace.tenant_id"] = tenant_id
    return attributes


def contexts_header(carriers: Mapping[str, Carrier], event_ids: Sequence[str]) -> dict[str, Any]:
    """The task header carrying these events' contexts; empty when none is known."""
    known = {event_id: carriers[event_id] for event_id in event_ids if event_id in carriers}
    return {constants.HEADER_TRACE_CONTEXTS: known} if known else {}


def parents_from_header(value: Any) -> dict[str, Carrier]:
    """The contexts a task's header holds, ignoring anything malformed (a hand-made task)."""
    if not isinstance(value, dict):
        return {}
    return {
        event_id: cloudevent_context(carrier)
        for event_id, carrier in value.items()
        if isinstance(event_id, str) and isinstance(carrier, dict)
    }
