"""`marketplace`: the operator's command line.

marketplace topics [--json]      the topic catalog
marketplace topics create        create the 18 topics and the dead-letter topic
marketplace schemas --out DIR    one JSON Schema per event type
marketplace asyncapi [--out FILE]  the AsyncAPI 3.0 document of every topic
marketplace db upgrade           apply the database migrations
marketplace bridge               run the Kafka → Celery bridge
marketplace consume MOD:NAME…    run consumer groups declared with marketplace.consumer
marketplace dlq list|show [REF…]  browse the dead letters (filters: see --help)
marketplace dlq replay [REF…]     send dead letters back (--dry-run first)
marketplace status [--json]      one screen of health; exit 1 when something is down
marketplace metrics              serve that health and the backlog as Prometheus metrics
marketplace flower               run Flower behind basic auth (FLOWER_PASSWORD)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from marketplace.errors import MarketplaceError
from marketplace.events import topics
from workers.settings import SecurityProtocol, Settings, load_settings

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)  # its INFO is one line per socket event
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin
    try:
        return int(args.run(args) or 0)
    except MarketplaceError as error:
        print(f"marketplace: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketplace", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    topics_cmd = commands.add_parser("topics", help="list the topic catalog, or create the topics")
    topics_cmd.add_argument("action", nargs="?", choices=["list", "create"], default="list")
    topics_cmd.add_argument("--json", action="store_true", help="machine-readable output")
    topics_cmd.set_defaults(run=_topics)

    schemas = commands.add_parser("schemas", help="write one JSON Schema per event type")
    schemas.add_argument("--out", type=Path, required=True, help="directory to write to")
    schemas.set_defaults(run=_schemas)

    asyncapi_cmd = commands.add_parser(
        "asyncapi", help="write the AsyncAPI 3.0 document of every topic and the dead letters"
    )
    asyncapi_cmd.add_argument("--out", type=Path, help="file to write (default: standard output)")
    asyncapi_cmd.set_defaults(run=_asyncapi)

    db = commands.add_parser("db", help="database administration")
    db.add_argument("action", choices=["upgrade"])
    db.set_defaults(run=_db)

    bridge = commands.add_parser("bridge", help="run the Kafka → Celery bridge")
    _metrics_port_option(bridge)
    bridge.set_defaults(run=_bridge)

    consume = commands.add_parser(
        "consume", help="run @KafkaConsumer classes (marketplace.consumer) until SIGTERM"
    )
    consume.add_argument(
        "targets", nargs="+", metavar="MODULE:NAME", help="e.g. reviews.consumers:Handler"
    )
    _metrics_port_option(consume)
    consume.set_defaults(run=_consume)

    dlq = commands.add_parser("dlq", help="browse and replay the dead letters")
    dlq_commands = dlq.add_subparsers(required=True, metavar="ACTION")
    for action, text in (
        ("list", "a table of the selected dead letters"),
        ("show", "everything the selected dead letters hold"),
        ("replay", "send the selected dead letters back to their topic or task"),
    ):
        sub = dlq_commands.add_parser(action, help=text)
        _dlq_selection_arguments(sub)
        if action == "replay":
            sub.add_argument("--dry-run", action="store_true", help="show what would be sent")
        sub.set_defaults(run=_dlq, action=action)

    status = commands.add_parser("status", help="health of every part; exit 1 if one is down")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(run=_status)

    flower = commands.add_parser("flower", help="run Flower behind basic auth (FLOWER_PASSWORD)")
    flower.add_argument("--address", default="127.0.0.1", help="default: %(default)s")
    flower.add_argument("--port", type=int, default=5555, help="default: %(default)s")
    flower.set_defaults(run=_flower)

    metrics = commands.add_parser(
        "metrics", help="serve the system's backlog and health as Prometheus metrics"
    )
    metrics.set_defaults(run=_metrics)
    return parser


def _dlq_selection_arguments(parser: argparse.ArgumentParser) -> None:
    from workers.dlq.selection import parse_moment, parse_ref

    def parsed(parse: Callable[[str], object]) -> Callable[[str], object]:
        def convert(text: str) -> object:
            try:
                return parse(text)
            except ValueError as error:
                raise argparse.ArgumentTypeError(str(error)) from None

        return convert

    parser.add_argument(
        "refs", nargs="*", type=parsed(parse_ref), metavar="REF", help="<partition>:<offset>"
    )
    parser.add_argument("--topic", action="append", default=[], help="original topic")
    parser.add_argument("--type", action="append", default=[], help="CloudEvent type")
    parser.add_argument("--tenant", action="append", default=[], help="tenant id")
    parser.add_argument("--stage", action="append", default=[], help="`bridge` or a task name")
    parser.add_argument("--error", action="append", default=[], help="error class")
    parser.add_argument(
        "--since", type=parsed(parse_moment), help="failed at or after: 30m, 2h, 7d or ISO 8601"
    )
    parser.add_argument("--until", type=parsed(parse_moment), help="failed before (same forms)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _topics(args: argparse.Namespace) -> int:
    if args.action == "create":
        return _create_topics(load_settings())
    rows = [
        {
            "topic": topic.name,
            "direction": topic.direction.value,
            "subject": f"{topic.subject_prefix}:<id>" if topic.subject_prefix else "",
            "from": topic.source_service or "marketplace-svc",
            "payload": topic.payload.__name__,
            "description": topic.description,
        }
        for topic in topics.ALL
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    columns = ["topic", "direction", "subject", "from", "payload", "description"]
    widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip())
    return 0


def _create_topics(settings: Settings) -> int:
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from workers.kafka_clients import make_admin

    names = [topic.name for topic in topics.ALL] + [settings.kafka_dlq_topic]
    dlq_config = dead_letter_topic_config(settings)
    admin = make_admin(settings)
    try:
        existing = set(admin.list_topics())
        missing = [name for name in names if name not in existing]
        for name in missing:
            new_topic = NewTopic(
                name,
                settings.kafka_topic_partitions,
                settings.kafka_topic_replication,
                topic_configs=dlq_config if name == settings.kafka_dlq_topic else {},
            )
            # Created meanwhile by someone else: the goal is met all the same.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([new_topic])
    finally:
        admin.close()
    print(f"{len(missing)} topics created, {len(names) - len(missing)} already present")
    return 0


def dead_letter_topic_config(settings: Settings) -> dict[str, str]:
    """A dead letter is a record of up to the limit plus its `dlq-*` headers."""
    from marketplace.consumer.dead_letter import METADATA_ALLOWANCE_BYTES

    return {"max.message.bytes": str(settings.kafka_max_record_bytes + METADATA_ALLOWANCE_BYTES)}


def _schemas(args: argparse.Namespace) -> int:
    from marketplace.events.json_schema import payload_schema

    args.out.mkdir(parents=True, exist_ok=True)
    for topic in topics.ALL:
        schema = payload_schema(topic)
        schema["$id"] = f"{topic.name}.schema.json"
        (args.out / f"{topic.name}.schema.json").write_text(json.dumps(schema, indent=2) + "\n")
    print(f"wrote {len(topics.ALL)} schemas to {args.out}")
    return 0


def _asyncapi(args: argparse.Namespace) -> int:
    text = json.dumps(asyncapi_document(load_settings()), indent=2, ensure_ascii=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(
        f"wrote the AsyncAPI document of {len(topics.ALL)} topics and the dead letters "
        f"to {args.out}"
    )
    return 0


def asyncapi_document(settings: Settings) -> dict[str, Any]:
    """The contract for these settings: their dead-letter topic, group and broker."""
    from importlib.metadata import version

    from marketplace.consumer.dead_letter import HEADER_PREFIX, NOTES, OCCASIONAL_NOTES
    from marketplace.events import asyncapi

    servers = {"production": asyncapi.PRODUCTION}
    if settings.bootstrap_servers[0] != asyncapi.PRODUCTION.host:
        servers["configured"] = asyncapi.Broker(
            settings.bootstrap_servers[0],
            f"The broker of the settings this document was written with "
            f"(KAFKA_BOOTSTRAP_SERVERS={settings.kafka_bootstrap_servers}, "
            f"KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol.value}).",
            tls=settings.kafka_security_protocol is not SecurityProtocol.PLAINTEXT,
            msk_iam=settings.uses_msk_iam,
        )
    dead_letter = asyncapi.DeadLetterTopic(
        settings.kafka_dlq_topic,
        {HEADER_PREFIX + name: meaning for name, meaning in NOTES.items()},
        frozenset(HEADER_PREFIX + name for name in NOTES.keys() - OCCASIONAL_NOTES),
    )
    return asyncapi.document(
        version=version("marketplace-event-pipeline"),
        consumer_group=settings.kafka_consumer_group,
        dead_letter=dead_letter,
        servers=servers,
    )


def _db(args: argparse.Namespace) -> int:
    from marketplace.domain.database import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    print(f"database at {_safe_url(settings.database_url)} is up to date")
    return 0


def _needs_kafka(settings: Settings, what: str) -> bool:
    if settings.kafka_enabled:
        return False
    print(
        f"marketplace: {what} needs Kafka, and KAFKA_ENABLED is false; "
        "set KAFKA_ENABLED=true (and KAFKA_BOOTSTRAP_SERVERS) to run it",
        file=sys.stderr,
    )
    return True


def _metrics_port_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-port",
        type=_port,
        metavar="PORT",
        help="serve its Prometheus /metrics on this port (at METRICS_ADDRESS); off if not given",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (1-65535): {text!r}")
    return port


def _stopping_on_signals() -> threading.Event:
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    return stopping


def _consume(args: argparse.Namespace) -> int:
    from workers import consume

    settings = load_settings()
    if _needs_kafka(settings, "marketplace consume"):
        return 2
    consume.run(settings, args.targets, _stopping_on_signals(), metrics_port=args.metrics_port)
    return 0


def _bridge(args: argparse.Namespace) -> int:
    settings = load_settings()
    if _needs_kafka(settings, "the bridge"):
        return 2

    from marketplace.consumer.metrics import ConsumerMetrics
    from marketplace.consumer.probes import serving
    from workers import gc_pauses, tracing
    from workers.bridge import Bridge
    from workers.celery_app import app
    from workers.inbound_ledger import InboundLedger
    from workers.kafka_clients import BRIDGE_FETCH, connect_reader
    from workers.runtime import Runtime
    from workers.task_sender import TaskSender

    tracing.configure(settings, service="marketplace-bridge")
    metrics = ConsumerMetrics()
    with serving(metrics, settings.metrics_address, args.metrics_port):
        stopping = _stopping_on_signals()
        clients = connect_reader(
            settings,
            what="the bridge",
            stopping=stopping,
            dead_letter_topic=settings.kafka_dlq_topic,
            **BRIDGE_FETCH,
        )
        if clients is None:
            return 0
        consumer, dead_letters = clients
        ledger = InboundLedger(Runtime(settings).redis)
        bridge = Bridge(
            consumer,
            TaskSender(app, ledger, batch_size=settings.inbound_batch_size),
            dead_letters,
            max_record_bytes=settings.kafka_max_record_bytes,
            stopping=stopping,
            metrics=metrics.of(settings.kafka_consumer_group),
        )
        gc_pauses.freeze_startup_objects()
        bridge.run()
    return 0


def _dlq(args: argparse.Namespace) -> int:
    from workers.dlq import commands
    from workers.dlq.selection import Selection

    settings = load_settings()
    selection = Selection(
        topics=args.topic,
        types=args.type,
        tenants=args.tenant,
        stages=args.stage,
        errors=args.error,
        since=args.since,
        until=args.until,
    )
    if args.action == "replay":
        return commands.replay_letters(
            settings, selection, args.refs, as_json=args.json, dry_run=args.dry_run
        )
    show = commands.list_letters if args.action == "list" else commands.show_letters
    return show(settings, selection, args.refs, as_json=args.json)


def _status(args: argparse.Namespace) -> int:
    from rich.console import Console

    from workers import status
    from workers.celery_client import client_app

    settings = load_settings()
    app = client_app(settings)
    try:
        checks = status.collect(settings, app=app)
    finally:
        app.close()
    if args.json:
        print(json.dumps(status.as_json(checks), indent=2))
    else:
        status.print_checks(Console(), checks)
    return 0 if all(check.up for check in checks) else 1


def _flower(args: argparse.Namespace) -> int:
    from workers import flower_launcher

    flower_launcher.run(load_settings(), args.address, args.port)
    return 0  # not reached: Flower replaced this process


def _metrics(_args: argparse.Namespace) -> int:
    from workers import metrics_exporter

    metrics_exporter.serve(load_settings())
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
