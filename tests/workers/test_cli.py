"""`marketplace`, the operator's command line, run as a user would (in-process)."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from sqlalchemy import create_engine, inspect

from marketplace.events import topics
from workers.cli import main

SPEC_TOPICS = {topic.name for topic in topics.ALL}


def test_topics_prints_the_18_topics_as_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["TOPIC", "DIRECTION", "SUBJECT"]
    assert {line.split()[0] for line in lines[1:]} == SPEC_TOPICS
    assert len(lines) == 19


def test_topics_json_is_for_machines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "--json"]) == 0

    rows = json.loads(capsys.readouterr().out)
    assert {row["topic"] for row in rows} == SPEC_TOPICS
    assert sum(row["direction"] == "produced" for row in rows) == 12


def test_schemas_writes_one_json_schema_per_event_type(tmp_path: Path) -> None:
    assert main(["schemas", "--out", str(tmp_path / "schemas")]) == 0

    written = {path.name.removesuffix(".schema.json") for path in (tmp_path / "schemas").iterdir()}
    assert written == SPEC_TOPICS
    payment = json.loads(
        (tmp_path / "schemas" / f"{topics.PAYMENT_COMPLETED.name}.schema.json").read_text()
    )
    assert set(payment["required"]) == {"id", "orderId", "amount", "currency"}


def test_a_bad_setting_stops_the_command_with_one_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "TLS")

    assert main(["topics", "create"]) == 2
    assert "KAFKA_SECURITY_PROTOCOL" in capsys.readouterr().err


def test_the_bridge_refuses_to_start_with_kafka_disabled(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_ENABLED", "false")

    assert main(["bridge"]) == 2
    assert "KAFKA_ENABLED" in capsys.readouterr().err


def test_db_upgrade_migrates_the_configured_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'marketplace.db'}"
    monkeypatch.setenv("DATABASE_URL", url)

    assert main(["db", "upgrade"]) == 0
    assert {"listings", "orders", "outbox", "inbox"} <= set(
        inspect(create_engine(url)).get_table_names()
    )


@pytest.mark.kafka
def test_topics_create_makes_every_topic_and_the_dead_letter_topic_once(
    kafka: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dlq = f"eventzr.marketplace.dlq.cli-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("KAFKA_DLQ_TOPIC", dlq)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka)  # the test stack's, not the default

    assert main(["topics", "create"]) == 0
    assert main(["topics", "create"]) == 0

    second_run = capsys.readouterr().out.splitlines()[-1]
    assert second_run == "0 topics created, 19 already present"
    admin = KafkaAdminClient(bootstrap_servers=kafka)
    try:
        assert SPEC_TOPICS | {dlq} <= set(admin.list_topics())
        admin.delete_topics([dlq])
    finally:
        admin.close()


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["dlq", "list", "--since", "yesterday"], "30m, 2h, 7d"),
        (["dlq", "show", "1:x"], "<partition>:<offset>"),
        (["dlq", "replay", "--until", "1w"], "ISO 8601"),
    ],
)
def test_dlq_refuses_a_criterion_it_cannot_read_naming_what_it_accepts(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    assert problem in capsys.readouterr().err


@pytest.mark.parametrize("command", ["bridge", "consume"])
@pytest.mark.parametrize("port", ["0", "65536", "-1", "http", ""])
def test_a_metrics_port_that_is_no_port_is_refused_before_anything_starts(
    command: str, port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, "--metrics-port", port] + (["pkg.mod:Handler"] if command == "consume" else [])
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    assert "not a TCP port (1-65535)" in capsys.readouterr().err


def test_a_bridge_whose_metrics_port_is_taken_says_so_and_exits_2_before_waiting_for_kafka(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_ENABLED", "true")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")  # nothing there: never asked
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        assert main(["bridge", "--metrics-port", str(port)]) == 2

    error = capsys.readouterr().err
    assert f"cannot serve /metrics on 127.0.0.1:{port}" in error
    assert "its own --metrics-port" in error


def test_dlq_needs_kafka(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_ENABLED", "false")

    assert main(["dlq", "list"]) == 2
    assert "KAFKA_ENABLED is false" in capsys.readouterr().err


def test_status_exits_1_naming_every_part_that_is_down(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    closed = _closed_port()
    monkeypatch.setenv("KAFKA_ENABLED", "true")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{closed}")
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed}/0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never-migrated.db'}")

    assert main(["status", "--json"]) == 1

    report = json.loads(capsys.readouterr().out)
    assert report["up"] is False
    states = {check["name"]: check["up"] for check in report["checks"]}
    assert states == {"kafka": False, "redis": False, "database": False, "workers": False}


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
