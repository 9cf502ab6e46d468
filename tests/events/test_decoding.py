"""Decoding consumed records and task arguments: what other services send us, what we refuse."""

from __future__ import annotations

import json

import pytest

from marketplace.events import decoding, envelope, inbound, topics
from tests.events.conftest import PAYMENT_COMPLETED, STRUCTURED, TENANT, assert_names

PAYMENT_DATA = PAYMENT_COMPLETED["data"]

# What other services send us


def test_a_structured_record_decodes_to_a_typed_event(structured_record, decode, inbound_envelope):
    event = decode(structured_record(inbound_envelope()))

    assert event.topic is topics.PAYMENT_COMPLETED
    assert event.id == "7d1f0b5e-3c1a-4d0e-9a55-2f6f1f0c9b01"
    assert event.source == "wallet-svc"
    assert event.tenant_id == TENANT
    assert event.payload == inbound.PaymentCompleted(
        id="payment-1", order_id="order-1", amount=5000, currency="USD"
    )
    assert event.to_dict() == inbound_envelope()


def test_a_binary_record_decodes_to_the_same_event_as_its_structured_twin(
    structured_record, binary_record, decode, inbound_envelope
):
    structured = decode(structured_record(inbound_envelope()))
    binary = decode(binary_record(inbound_envelope()))

    assert binary.to_dict() == structured.to_dict()
    assert binary.payload == structured.payload


def test_an_inbound_time_with_an_offset_is_read_as_the_same_instant_in_utc(
    structured_record, decode, inbound_envelope
):
    event = decode(structured_record(inbound_envelope(time="2026-03-02T14:00:00.000+02:00")))

    assert event.to_dict()["time"] == "2026-03-02T12:00:00.000Z"


def test_an_upper_case_tenant_is_read_as_the_canonical_uuid(
    structured_record, decode, inbound_envelope
):
    event = decode(structured_record(inbound_envelope(tenantid=TENANT.upper().replace("-", ""))))

    assert event.tenant_id == TENANT


def test_unknown_fields_from_another_service_are_kept(structured_record, decode, inbound_envelope):
    data = {**inbound_envelope()["data"], "walletRef": "w-9"}

    event = decode(structured_record(inbound_envelope(data=data)))

    assert event.to_dict()["data"]["walletRef"] == "w-9"
    assert event.payload.to_data()["walletRef"] == "w-9"


def test_headers_besides_the_content_type_are_ignored(structured_record, decode, inbound_envelope):
    headers = (
        *STRUCTURED,
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    )

    event = decode(structured_record(inbound_envelope(), headers=headers))

    assert event.to_dict() == inbound_envelope()


def test_a_task_argument_decodes_with_from_dict(inbound_envelope):
    event = decoding.from_dict(inbound_envelope())

    assert event.topic is topics.PAYMENT_COMPLETED
    assert event.payload == inbound.PaymentCompleted(
        id="payment-1", order_id="order-1", amount=5000, currency="USD"
    )


def test_a_bad_task_argument_names_every_problem(inbound_envelope):
    bad = inbound_envelope(
        drop=("source",), tenantid="tenant-1", data={"id": "p-1"}, time="last tuesday"
    )

    with pytest.raises(envelope.EnvelopeError) as caught:
        decoding.from_dict(bad)

    assert caught.value.record is None
    assert "time" in bad, "the caller's dict is left as it was"
    assert_names(
        caught.value,
        "time: 'last tuesday' is not an RFC 3339 timestamp",
        "source: missing",
        "tenantid: 'tenant-1' is not a UUID",
        "data.orderId",
        "data.amount",
        "data.currency",
    )


def test_from_dict_accepts_only_consumed_types_unless_told_otherwise(spec_example):
    with pytest.raises(envelope.EnvelopeError, match="not accepted here"):
        decoding.from_dict(spec_example)

    assert decoding.from_dict(spec_example, accepted=topics.ALL).topic is topics.LISTING_CREATED


# What we refuse


def test_a_rejected_record_is_kept_whole_for_the_dead_letter_topic(rejected):
    headers = (("content-type", b"application/cloudevents+json"), ("traceparent", b"00-1"))
    raw = envelope.RawRecord(
        topics.PAYMENT_COMPLETED.name, b"{oops", b"tenant-key", headers, 4, 1234
    )

    error = rejected(raw)

    assert error.record is raw
    assert error.record.topic == topics.PAYMENT_COMPLETED.name
    assert error.record.partition == 4
    assert error.record.offset == 1234
    assert error.record.key == b"tenant-key"
    assert error.record.headers == headers
    assert error.record.value == b"{oops"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (b"{not json", "value is not JSON"),
        (b"\xff\xfe{}", "value is not UTF-8 text"),
        (b"[1, 2, 3]", "value is not a JSON object"),
        (b'"an event"', "value is not a JSON object"),
        (b"null", "value is not a JSON object"),
    ],
    ids=["not-json", "not-utf8", "array", "string", "null"],
)
def test_a_value_that_is_not_a_json_object_is_refused(structured_record, rejected, value, problem):
    error = rejected(structured_record(value))

    assert_names(error, problem)


STRUCTURED_CASES = [
    pytest.param({"drop": ("specversion",)}, ["specversion: missing"], id="no-specversion"),
    pytest.param(
        {"specversion": "0.3"}, ["specversion: '0.3', expected '1.0'"], id="specversion-0.3"
    ),
    pytest.param({"drop": ("id",)}, ["id: missing"], id="no-id"),
    pytest.param({"id": ""}, ["id: missing"], id="empty-id"),
    pytest.param({"drop": ("source",)}, ["source: missing"], id="no-source"),
    pytest.param({"drop": ("type",)}, ["type: missing"], id="no-type"),
    pytest.param({"drop": ("tenantid",)}, ["tenantid: missing"], id="no-tenantid"),
    pytest.param(
        {"tenantid": "tenant-1"}, ["tenantid: 'tenant-1' is not a UUID"], id="tenant-not-uuid"
    ),
    pytest.param(
        {"type": "eventzr.wallet.payment.refunded.v1"},
        ["'eventzr.wallet.payment.refunded.v1' is not in the topic catalog"],
        id="type-not-in-catalog",
    ),
    pytest.param(
        {"type": topics.LISTING_CREATED.name},
        [f"'{topics.LISTING_CREATED.name}' is not accepted here"],
        id="produced-type",
    ),
    pytest.param(
        {"type": topics.ESCROW_RELEASED.name},
        [
            f"does not match topic '{topics.PAYMENT_COMPLETED.name}'",
            "data.sellerId: Field required",
        ],
        id="type-not-the-topic",
    ),
    pytest.param(
        {"data": {"id": "payment-1", "amount": "5000", "currency": "USD"}},
        ["data.orderId: Field required", "data.amount: Input should be a valid integer"],
        id="data-not-the-model",
    ),
    pytest.param({"data": "paid"}, ["data: expected a JSON object"], id="data-a-string"),
    pytest.param({"drop": ("data",)}, ["data: expected a JSON object"], id="no-data"),
    pytest.param(
        {"time": "yesterday"},
        ["time: 'yesterday' is not an RFC 3339 timestamp"],
        id="time-not-rfc3339",
    ),
    pytest.param({"time": 5}, ["time: 5 is not an RFC 3339 timestamp string"], id="time-a-number"),
    pytest.param(
        {"time": "yesterday", "drop": ("id",), "tenantid": "x"},
        ["time: 'yesterday'", "id: missing", "tenantid: 'x' is not a UUID"],
        id="time-and-the-rest-at-once",
    ),
    pytest.param({"time": "2026-03-02T12:00:00"}, ["time:"], id="time-naive"),
    pytest.param(
        {"drop": ("data",), "data_base64": "abc"},
        ["data_base64: not base64"],
        id="data-base64-broken",
    ),
    pytest.param(
        {
            "drop": ("id",),
            "specversion": "0.3",
            "tenantid": "x",
            "data": {"id": "payment-1", "orderId": "order-1", "amount": -1, "currency": "usd"},
        },
        [
            "specversion: '0.3'",
            "id: missing",
            "tenantid: 'x' is not a UUID",
            "data.amount: Input should be greater than or equal to 0",
            "data.currency",
        ],
        id="several-at-once",
    ),
]


BINARY_CASES = [
    pytest.param({"drop": ("specversion",)}, ["specversion: missing"], id="no-specversion"),
    pytest.param(
        {"specversion": "0.3"}, ["specversion: '0.3', expected '1.0'"], id="specversion-0.3"
    ),
    pytest.param({"drop": ("tenantid",)}, ["tenantid: missing"], id="no-tenantid"),
    pytest.param(
        {"type": topics.ESCROW_RELEASED.name},
        ["does not match topic", "data.sellerId: Field required"],
        id="type-not-the-topic",
    ),
    pytest.param(
        {"data": {"id": "payment-1", "amount": 50.5, "currency": "USD"}},
        ["data.orderId: Field required", "data.amount: Input should be a valid integer"],
        id="data-not-the-model",
    ),
    pytest.param(
        {"drop": ("id", "source"), "tenantid": "x", "data": {}},
        [
            "id: missing",
            "source: missing",
            "tenantid: 'x' is not a UUID",
            "data.id",
            "data.orderId",
            "data.amount",
            "data.currency",
        ],
        id="several-at-once",
    ),
    pytest.param(
        {"time": "yesterday", "drop": ("source",)},
        ["time: 'yesterday' is not an RFC 3339 timestamp", "source: missing"],
        id="time-and-the-rest-at-once",
    ),
]


BAD_ENVELOPES = [
    pytest.param(mode, *case.values, id=f"{mode}-{case.id}")
    for mode, cases in (("structured", STRUCTURED_CASES), ("binary", BINARY_CASES))
    for case in cases
]


@pytest.mark.parametrize(("mode", "changes", "problems"), BAD_ENVELOPES)
def test_a_bad_envelope_is_refused_naming_its_problems(
    request, rejected, inbound_envelope, mode, changes, problems
):
    record = request.getfixturevalue(f"{mode}_record")
    given = record(inbound_envelope(**changes), topic=topics.PAYMENT_COMPLETED.name)

    error = rejected(given)

    assert_names(error, *problems)


def test_a_binary_value_that_is_not_json_is_refused_as_data(
    binary_record, rejected, inbound_envelope
):
    error = rejected(binary_record(inbound_envelope(), value=b"paid in full"))

    assert_names(error, "data: expected a JSON object")


def test_a_header_that_is_not_utf8_is_named_with_the_other_problems(
    binary_record, rejected, inbound_envelope
):
    given = binary_record(inbound_envelope(drop=("source",)))
    given = envelope.RawRecord(
        given.topic, given.value, given.key, (*given.headers, ("traceparent", b"\xff\xfe")), 0, 7
    )

    error = rejected(given)

    assert_names(error, "header 'traceparent' is not UTF-8 text", "source: missing")


def test_a_record_over_the_size_limit_is_refused_before_it_is_parsed(structured_record, rejected):
    given = structured_record(b"x" * 2048)

    error = rejected(given, max_bytes=1024)

    assert_names(error, f"record is {given.size} bytes, over the 1024-byte limit")


def test_the_size_limit_counts_key_and_headers_and_admits_a_record_of_exactly_the_limit(
    structured_record, decode, rejected, inbound_envelope
):
    given = structured_record(inbound_envelope())
    assert given.size == len(given.value) + len(TENANT) + len("content-type") + len(
        STRUCTURED[0][1]
    )

    assert decode(given, max_bytes=given.size).id == inbound_envelope()["id"]
    assert_names(rejected(given, max_bytes=given.size - 1), "over the")


def test_a_tombstone_is_refused(rejected):
    error = rejected(envelope.RawRecord(topics.PAYMENT_COMPLETED.name, None, TENANT.encode()))

    assert_names(error, "record has no value")


# What the pipeline accepts: every poison record gets a named problem, never another exception


def nested(levels: int) -> dict[str, object]:
    """`data` whose innermost object is `levels` deep (the object itself is level 1)."""
    inner: dict[str, object] = {}
    for _ in range(levels - 1):
        inner = {"x": inner}
    return inner


POISON_ENVELOPES = {
    "time overflowing UTC (east)": ({"time": "0001-01-01T00:00:00+14:00"}, "out of range"),
    "time overflowing UTC (west)": ({"time": "9999-12-31T23:59:59-14:00"}, "out of range"),
    "data nested past the limit": (
        {"data": {**PAYMENT_DATA, "extra": nested(decoding.MAX_DATA_DEPTH)}},
        f"nested more than {decoding.MAX_DATA_DEPTH} levels",
    ),
    "data that is not JSON by its content type": (
        {"datacontenttype": "text/plain"},
        "datacontenttype: 'text/plain' is not JSON",
    ),
    "an extension holding an object": ({"traceinfo": {"a": 1}}, "traceinfo: a JSON object"),
    "a source with a lone surrogate": ({"source": "wallet\udcff"}, "lone surrogate"),
    "an id with a NUL": ({"id": "a\x00b"}, "NUL"),
    "an id longer than the inbox holds": ({"id": "i" * 501}, "501 characters, at most 500"),
    "an integer extension past 32 bits": ({"sequence": 2**31}, "32-bit"),
}


TEXT_ONLY_IN_BINARY_MODE = {
    "an extension holding an object",
    "an integer extension past 32 bits",
    "a source with a lone surrogate",  # a header is bytes: there it is "not UTF-8 text"
}
CASES = [(name, "structured") for name in POISON_ENVELOPES] + [
    (name, "binary") for name in POISON_ENVELOPES if name not in TEXT_ONLY_IN_BINARY_MODE
]


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_a_poison_envelope_is_refused_with_its_reason(
    name, mode, structured_record, binary_record, rejected, inbound_envelope
):
    changes, fragment = POISON_ENVELOPES[name]
    make = structured_record if mode == "structured" else binary_record

    error = rejected(make(inbound_envelope(**changes)))

    assert any(fragment in problem for problem in error.problems), error.problems


def test_data_exactly_at_the_depth_limit_is_accepted(structured_record, decode, inbound_envelope):
    data = {**PAYMENT_DATA, "extra": nested(decoding.MAX_DATA_DEPTH - 1)}

    assert decode(structured_record(inbound_envelope(data=data))).payload.to_data()["extra"]


def test_json_nested_past_what_python_can_parse_is_refused(structured_record, rejected):
    error = rejected(structured_record(b"[" * 100_000 + b"]" * 100_000))

    assert error.problems == ["value is nested too deeply to read"]


def test_an_integer_too_long_to_read_is_named_as_such_not_as_a_bad_time(
    structured_record, rejected, inbound_envelope
):
    value = json.dumps(inbound_envelope()).replace("5000", "9" * 5000).encode()

    error = rejected(structured_record(value))

    assert error.problems == ["value holds an integer too long to read (over 4300 digits)"]


def test_a_header_without_a_value_is_named(structured_record, rejected, inbound_envelope):
    error = rejected(
        structured_record(inbound_envelope(), headers=(*STRUCTURED, ("x-null", None)))  # type: ignore[arg-type]
    )

    assert_names(error, "header 'x-null' has no value")


@pytest.mark.parametrize("argument", [None, "x", [None], 5])
def test_a_task_argument_that_is_not_an_object_is_refused_as_such(argument):
    with pytest.raises(envelope.EnvelopeError, match="expected a structured CloudEvent object"):
        decoding.from_dict(argument)


def test_a_wrong_attribute_type_is_worded_for_a_person(inbound_envelope):
    with pytest.raises(envelope.EnvelopeError) as caught:
        decoding.from_dict(inbound_envelope(subject=5))

    assert caught.value.problems == ["subject: Attribute 'subject' must be a string"]
