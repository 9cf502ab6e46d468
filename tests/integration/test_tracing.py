"""One trace across the real processes: an inbound CloudEvent with a known `traceparent` goes
through the bridge and a prefork worker to Kafka; the outbound CloudEvent carries the same
trace, and the spans both processes export over OTLP/HTTP (to a collector in this test) form
one tree: the sender's span → bridge → apply → publish, with the task's own span linked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from marketplace.events import topics
from tests import services
from tests.integration.flows import (
    an_order,
    escrow_release,
    of_tenant,
    payment,
    value_of,
    wait_until_paid,
)
from tests.integration.system import (
    System,
    TopicReader,
    celery_client_of,
    outbound_topic_names,
    private_pipeline,
    session_maker,
    wait_for,
)
from workers import constants

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.postgres]

ORIGIN_TRACE = "5bf92f3577b34da6a3ce929d0e0e4736"
ORIGIN_SPAN = "10f067aa0ba902b7"
TENANT = "7a1c0de5-0000-4000-8000-00000000007a"


class Collector:
    """An OTLP/HTTP trace receiver: every span exported to it, by span id."""

    def __init__(self) -> None:
        self.spans: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        collector = self

        class Receive(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                collector.add(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receive)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, request: ExportTraceServiceRequest) -> None:
        with self.lock:
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                )
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans[span.span_id.hex()] = {
                            "name": span.name,
                            "service": service,
                            "trace": span.trace_id.hex(),
                            "parent": span.parent_span_id.hex() or None,
                            "links": [link.span_id.hex() for link in span.links],
                            "attributes": {a.key: a.value for a in span.attributes},
                        }

    def of_trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {"id": key, **span} for key, span in self.spans.items() if span["trace"] == trace_id
            ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    collector = Collector()
    yield collector
    collector.close()


@pytest.fixture(scope="module")
def traced(collector: Collector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """A pipeline whose bridge and worker export their spans to `collector` every 100 ms."""
    for service in (services.KAFKA, services.REDIS, services.POSTGRES):
        services.require(service)
    log_dir: Path = tmp_path_factory.mktemp("tracing-logs")
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    with private_pipeline(services.redis_url("tracing"), log_dir, env=otel) as system:
        yield system


def test_an_inbound_traceparent_reaches_the_outbound_event_and_every_hop_is_one_tree(
    traced: System, collector: Collector
) -> None:
    client = celery_client_of(traced)
    order = an_order(client, TENANT)
    reader = TopicReader(outbound_topic_names())
    try:
        traced.produce_structured(payment(TENANT, order))
        with session_maker(traced.database_url) as db:
            wait_until_paid(db, TENANT, order["id"])
        release = escrow_release(TENANT, order, release_id="rel-traced")
        traced.produce_structured({**release, "traceparent": f"00-{ORIGIN_TRACE}-{ORIGIN_SPAN}-01"})
        (record,) = reader.read(of_tenant(TENANT, topics.ORDER_COMPLETED), timeout=60)
    finally:
        reader.close()

    completed = value_of(record)
    version, trace_id, recorded_by, flags = completed["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", ORIGIN_TRACE, "01")

    def hops() -> dict[str, dict[str, Any]] | None:
        spans = {span["name"].split(" ")[0]: span for span in collector.of_trace(ORIGIN_TRACE)}
        return spans if {"bridge", "apply", "publish"} <= spans.keys() else None

    spans = wait_for(hops, timeout=30, what="the bridge's and the worker's spans exported")
    bridge, apply, publish = spans["bridge"], spans["apply"], spans["publish"]
    assert bridge["service"] == "marketplace-bridge" and bridge["parent"] == ORIGIN_SPAN
    assert bridge["name"] == f"bridge {topics.ESCROW_RELEASED.name}"
    assert apply["service"] == "marketplace-worker" and apply["parent"] == bridge["id"]
    assert apply["id"] == recorded_by, "the outbound event names the span that recorded it"
    assert publish["name"] == f"publish {topics.ORDER_COMPLETED.name}"
    assert publish["parent"] == apply["id"]
    # The batch task's own span (Celery instrumentation), linked from the event it applied.
    (task_span_id,) = apply["links"]
    task_span = wait_for(lambda: collector.spans.get(task_span_id), what="the task's span")
    assert task_span["name"] == f"run/{constants.APPLY_BATCH_TASK}"
    assert task_span["service"] == "marketplace-worker"
