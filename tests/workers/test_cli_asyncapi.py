"""`marketplace asyncapi`: the document it writes is valid AsyncAPI 3.0 and tells the truth.

Valid against the official AsyncAPI 3.0.0 JSON Schema (`tests.asyncapi_spec`: the npm package
`@asyncapi/specs`, pinned and checksummed); every catalog topic and the dead-letter topic in it,
with the marketplace's action; its payload schemas those of `marketplace schemas`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from marketplace.events import asyncapi, topics
from tests import asyncapi_spec
from tests.workers.test_dead_letter import every_kind_of_dead_letter
from workers.cli import main

Document = dict[str, Any]


@pytest.fixture
def official() -> Draft7Validator:
    return asyncapi_spec.validator()


@pytest.fixture
def written(tmp_path: Path) -> Document:
    """The document as `marketplace asyncapi --out FILE` writes it."""
    out = tmp_path / "contract" / "asyncapi.json"
    assert main(["asyncapi", "--out", str(out)]) == 0
    document: Document = json.loads(out.read_text(encoding="utf-8"))
    return document


def problems(validator: Draft7Validator, document: Document) -> list[str]:
    return [
        f"{error.json_path}: {error.message[:200]}" for error in validator.iter_errors(document)
    ]


def test_the_document_is_valid_asyncapi_3(official: Draft7Validator, written: Document) -> None:
    assert written["asyncapi"] == "3.0.0"
    assert problems(official, written) == []


BREAKAGES: dict[str, tuple[tuple[str, ...], str, Any]] = {
    "an AsyncAPI 2 action": (("operations", "send.deadLetters"), "action", "publish"),
    "a bad payload schema": (("components", "schemas", topics.ORDER_CREATED.name), "type", 5),
    "an unknown Kafka binding field": (
        ("components", "messageBindings", "tenantKey", "kafka"),
        "partitioner",
        "x",
    ),
    "a server without a host": (("servers", "production"), "host", None),
}
"""Where to change the document, what, and to what (None: remove it)."""


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_the_official_schema_sees_a_broken_document(
    official: Draft7Validator, written: Document, breakage: str
) -> None:
    path, key, value = BREAKAGES[breakage]
    broken = copy.deepcopy(written)
    node = broken
    for part in path:
        node = node[part]
    if value is None:
        del node[key]
    else:
        node[key] = value

    assert problems(official, broken) != []


def test_standard_output_gets_the_same_document(
    written: Document, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["asyncapi"]) == 0

    assert json.loads(capsys.readouterr().out) == written


def test_every_catalog_topic_and_the_dead_letters_are_in_it_with_the_marketplace_s_action(
    written: Document,
) -> None:
    actions = {
        written["channels"][op["channel"]["$ref"].removeprefix("#/channels/")]["address"]: op[
            "action"
        ]
        for op in written["operations"].values()
    }

    assert actions == {
        **{topic.name: "send" for topic in topics.PRODUCED},
        **{topic.name: "receive" for topic in topics.CONSUMED},
        "eventzr.marketplace.dlq.v1": "send",
    }
    assert len(actions) == 19


def test_its_payload_schemas_are_those_marketplace_schemas_writes(
    written: Document, tmp_path: Path
) -> None:
    assert main(["schemas", "--out", str(tmp_path / "schemas")]) == 0

    for topic in topics.ALL:
        file = json.loads((tmp_path / "schemas" / f"{topic.name}.schema.json").read_text())
        file.pop("$id")
        in_document = written["components"]["schemas"][topic.name]
        assert _resolved(in_document, written) == _resolved(file, file), topic.name


def test_it_names_the_configured_dead_letter_topic_group_and_broker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_DLQ_TOPIC", "team.dlq")
    monkeypatch.setenv("KAFKA_CONSUMER_GROUP", "marketplace-blue")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1.internal:9093,kafka-2.internal:9093")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")

    assert main(["asyncapi"]) == 0
    document = json.loads(capsys.readouterr().out)

    assert document["channels"]["deadLetters"]["address"] == "team.dlq"
    group = document["operations"][f"receive.{topics.PAYMENT_COMPLETED.name}"]["bindings"]
    assert group["kafka"]["groupId"]["enum"] == ["marketplace-blue"]
    configured = document["servers"]["configured"]
    assert (configured["host"], configured["protocol"]) == ("kafka-1.internal:9093", "kafka-secure")
    assert "security" not in configured


def test_on_the_production_broker_it_lists_that_broker_once_with_msk_iam(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", asyncapi.PRODUCTION.host)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "OAUTHBEARER")

    assert main(["asyncapi"]) == 0
    document = json.loads(capsys.readouterr().out)

    assert list(document["servers"]) == ["production"]
    production = document["servers"]["production"]
    assert production["security"] == [{"$ref": "#/components/securitySchemes/mskIam"}]
    assert document["components"]["securitySchemes"]["mskIam"]["x-sasl-mechanism"] == "OAUTHBEARER"


def test_every_dead_letter_fits_the_dead_letter_message(written: Document) -> None:
    headers_schema = written["components"]["messages"]["deadLetter"]["headers"]
    validator = Draft7Validator(headers_schema)

    for letter in every_kind_of_dead_letter():
        headers = {name: value.decode() for name, value in letter.headers}
        assert problems(validator, headers) == []
        assert {n for n in headers if n.startswith("dlq-")} <= set(headers_schema["properties"])


def _resolved(schema: Any, root: Any) -> Any:
    """`schema` with every local `$ref` replaced by what it points at in `root`."""
    if isinstance(schema, list):
        return [_resolved(item, root) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _resolved(target, root)
    return {key: _resolved(value, root) for key, value in schema.items() if key != "$defs"}
