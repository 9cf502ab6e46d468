"""Payload building blocks: camelCase on the wire, integer money, ISO currencies, aware instants,
text a database can store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from marketplace.events import inbound, outbound
from marketplace.events.fields import (
    MAX_BIGINT,
    EventTime,
    InstantOutOfRange,
    Money,
    TenantId,
    Text,
)

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def quote():
    """`quote(**changes)`: a submitted quote, as the marketplace builds it (snake_case)."""

    def make(**changes: object) -> outbound.QuoteSubmitted:
        fields: dict[str, object] = {
            "id": "quote-1",
            "listing_id": "listing-1",
            "buyer_id": "buyer-1",
            "seller_id": "seller-1",
            "amount": 4800,
            "currency": "USD",
            "message": "Can you do 80 guests?",
            "submitted_at": AT,
        }
        return outbound.QuoteSubmitted(**{**fields, **changes})

    return make


def error_fields(error: ValidationError) -> set[str]:
    return {".".join(str(part) for part in item["loc"]) for item in error.errors()}


# camelCase


def test_a_payload_writes_camel_case_and_reads_it_back(quote):
    data = quote().to_data()

    assert data == {
        "id": "quote-1",
        "listingId": "listing-1",
        "buyerId": "buyer-1",
        "sellerId": "seller-1",
        "amount": 4800,
        "currency": "USD",
        "message": "Can you do 80 guests?",
        "submittedAt": "2026-03-02T12:00:00.000Z",
    }
    assert outbound.QuoteSubmitted.model_validate(data) == quote()


def test_a_payload_names_a_bad_field_by_its_wire_name():
    with pytest.raises(ValidationError) as caught:
        outbound.QuoteAccepted.model_validate(
            {"id": "quote-1", "listingId": "listing-1", "amount": 1, "currency": "USD"}
        )

    assert error_fields(caught.value) == {"acceptedAt"}


def test_a_partial_update_writes_only_the_fields_that_were_set():
    update = outbound.ListingUpdated(
        id="listing-1", seller_id="seller-1", updated_at=AT, price=5500
    )

    assert update.to_data() == {
        "id": "listing-1",
        "sellerId": "seller-1",
        "updatedAt": "2026-03-02T12:00:00.000Z",
        "price": 5500,
    }


def test_a_payload_is_immutable(quote):
    with pytest.raises(ValidationError):
        quote().amount = 1  # type: ignore[misc]


# Money


@pytest.mark.parametrize("amount", [0, 5000, 10**12, MAX_BIGINT])
def test_money_is_a_non_negative_integer_of_minor_units(amount):
    assert Money(amount=amount, currency="USD").amount == amount


@pytest.mark.parametrize(
    "amount",
    [50.5, 5000.0, "5000", -1, True, None],
    ids=["fraction", "float", "string", "negative", "bool", "null"],
)
def test_money_refuses_anything_but_a_non_negative_integer(amount):
    with pytest.raises(ValidationError) as caught:
        Money.model_validate({"amount": amount, "currency": "USD"})

    assert error_fields(caught.value) == {"amount"}


@pytest.mark.parametrize("amount", [2**63, 10**30], ids=["2**63", "10**30"])
def test_money_a_bigint_column_cannot_hold_is_refused(amount):
    with pytest.raises(ValidationError) as caught:
        Money.model_validate({"amount": amount, "currency": "USD"})

    assert error_fields(caught.value) == {"amount"}
    assert "less than or equal to 9223372036854775807" in str(caught.value)


def test_a_payload_refuses_money_that_is_not_an_integer(quote):
    with pytest.raises(ValidationError) as caught:
        quote(amount=48.5)

    assert error_fields(caught.value) == {"amount"}


@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY"])
def test_a_currency_is_three_upper_case_letters(currency):
    assert Money(amount=1, currency=currency).currency == currency


@pytest.mark.parametrize("currency", ["usd", "US", "USDX", "US1", "USD\n", " USD", "ÜSD", ""])
def test_anything_else_is_not_a_currency(currency):
    with pytest.raises(ValidationError) as caught:
        Money(amount=1, currency=currency)

    assert error_fields(caught.value) == {"currency"}


# Unknown fields


def test_an_inbound_payload_keeps_fields_it_does_not_know():
    payment = inbound.PaymentCompleted.model_validate(
        {
            "id": "p-1",
            "orderId": "o-1",
            "amount": 100,
            "currency": "USD",
            "walletRef": {"id": "w-9"},
        }
    )

    assert payment.model_extra == {"walletRef": {"id": "w-9"}}
    assert payment.to_data()["walletRef"] == {"id": "w-9"}


def test_an_inbound_component_keeps_fields_it_does_not_know_too():
    event = inbound.EventCreated.model_validate(
        {
            "id": "e-1",
            "organizerId": "org-1",
            "name": "Expo",
            "startsAt": "2026-03-02T09:00:00Z",
            "endsAt": "2026-03-02T18:00:00Z",
            "sponsorshipTiers": [
                {"name": "gold", "price": 100000, "currency": "USD", "perks": ["logo"]}
            ],
        }
    )

    assert event.to_data()["sponsorshipTiers"][0]["perks"] == ["logo"]


def test_an_outbound_payload_refuses_fields_it_does_not_define(quote):
    data = {**quote().to_data(), "discount": 10}

    with pytest.raises(ValidationError) as caught:
        outbound.QuoteSubmitted.model_validate(data)

    assert error_fields(caught.value) == {"discount"}


# Instants


@pytest.mark.parametrize(
    "moment", ["2026-03-02T12:00:00", datetime(2026, 3, 2, 12, 0)], ids=["text", "datetime"]
)
def test_a_naive_instant_is_refused(quote, moment):
    with pytest.raises(ValidationError) as caught:
        outbound.QuoteSubmitted.model_validate({**quote().to_data(), "submittedAt": moment})

    assert error_fields(caught.value) == {"submittedAt"}
    assert "timezone" in str(caught.value)


def test_an_instant_with_an_offset_is_written_in_utc(quote):
    in_new_york = datetime(2026, 3, 2, 7, 0, tzinfo=timezone(timedelta(hours=-5)))

    assert quote(submitted_at=in_new_york).to_data()["submittedAt"] == "2026-03-02T12:00:00.000Z"


EDGES_OF_TIME = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
"""Instants that parse, but that UTC cannot express: their offset pushes them past year 1
or year 9999."""


@pytest.mark.parametrize("moment", EDGES_OF_TIME)
def test_an_inbound_instant_beyond_the_calendar_in_utc_is_a_bad_field(moment):
    data = {"id": "e-1", "organizerId": "org-1", "name": "Expo", "startsAt": moment,
            "endsAt": "2026-03-02T18:00:00Z"}  # fmt: skip

    with pytest.raises(ValidationError) as caught:
        inbound.EventCreated.model_validate(data)

    assert error_fields(caught.value) == {"startsAt"}
    assert "outside years 0001 to 9999 once converted to UTC" in str(caught.value)


@pytest.mark.parametrize("moment", EDGES_OF_TIME)
def test_an_outbound_instant_beyond_the_calendar_in_utc_is_a_bad_field(quote, moment):
    with pytest.raises(ValidationError) as caught:
        outbound.QuoteSubmitted.model_validate({**quote().to_data(), "submittedAt": moment})

    assert error_fields(caught.value) == {"submittedAt"}


@pytest.mark.parametrize("moment", EDGES_OF_TIME)
def test_event_time_says_an_instant_is_out_of_range_as_both_errors_it_resembles(moment):
    with pytest.raises(InstantOutOfRange) as caught:
        EventTime.of(datetime.fromisoformat(moment))

    assert isinstance(caught.value, ValueError) and isinstance(caught.value, OverflowError)
    assert moment in str(caught.value)


@pytest.mark.parametrize(
    ("moment", "utc"),
    [
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
        ("0001-01-01T10:00:00+10:00", "0001-01-01T00:00:00.000Z"),
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
        ("9999-12-31T09:59:59-14:00", "9999-12-31T23:59:59.000Z"),
    ],
)
def test_event_time_keeps_the_first_and_last_instants_of_the_calendar(moment, utc):
    assert EventTime.of(datetime.fromisoformat(moment)).isoformat() == utc


def test_event_time_prints_milliseconds_and_z():
    assert EventTime.of(AT).isoformat() == "2026-03-02T12:00:00.000Z"
    assert EventTime.of(AT.replace(microsecond=123000)).isoformat() == "2026-03-02T12:00:00.123Z"


def test_event_time_converts_to_utc():
    in_tokyo = datetime(2026, 3, 2, 21, 0, tzinfo=timezone(timedelta(hours=9)))

    moment = EventTime.of(in_tokyo)

    assert moment == AT
    assert moment.utcoffset() == timedelta(0)
    assert moment.isoformat() == "2026-03-02T12:00:00.000Z"


def test_event_time_keeps_sub_millisecond_precision_rather_than_dropping_it():
    assert EventTime.of(AT.replace(microsecond=123456)).isoformat() == "2026-03-02T12:00:00.123456Z"


def test_event_time_now_is_whole_milliseconds_in_utc():
    before = datetime.now(UTC)

    now = EventTime.now()

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now.isoformat())
    assert now.microsecond % 1000 == 0
    assert before - timedelta(milliseconds=1) <= now <= datetime.now(UTC)


def test_event_time_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="naive"):
        EventTime.of(datetime(2026, 3, 2, 12, 0))


# Text


class Note(BaseModel):
    text: Annotated[str, Text(5)]
    typed: Annotated[str, Text(5, strip=True)] = "x"
    optional: Annotated[str, Text(5, min_length=0)] = ""


def note_error(**fields: object) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        Note.model_validate({"text": "fine", **fields})
    [item] = caught.value.errors()
    return ".".join(str(part) for part in item["loc"]), item["msg"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a\x00b", "must not contain NUL (\\x00) characters"),
        ("ab\ud800", "holds a lone surrogate at position 2, which is not Unicode text"),
        ("é\udfffz", "holds a lone surrogate at position 1, which is not Unicode text"),
        ("abcdef", "String should have at most 5 characters"),
        ("", "String should have at least 1 character"),
    ],
    ids=["nul", "high-surrogate", "low-surrogate", "too-long", "empty"],
)
def test_text_a_database_cannot_store_is_refused_in_words(value, message):
    assert note_error(text=value) == ("text", message)


def test_text_counts_characters_not_bytes():
    assert Note(text="\U0001d11e" * 5).text == "\U0001d11e" * 5


def test_text_typed_by_a_person_is_trimmed_before_it_is_measured():
    assert Note(text="fine", typed="  abcde  ").typed == "abcde"
    assert note_error(typed="   ") == ("typed", "String should have at least 1 character")


def test_text_from_a_payload_is_kept_exactly_as_sent():
    assert Note(text=" a b ").text == " a b "


def test_text_may_be_allowed_to_be_empty():
    assert Note(text="fine", optional="").optional == ""


def test_text_is_described_with_its_limits():
    schema = Note.model_json_schema()["properties"]["text"]

    assert (schema["type"], schema["minLength"], schema["maxLength"]) == ("string", 1, 5)


# Tenants


def test_a_tenant_is_written_as_a_canonical_uuid():
    adapter = TypeAdapter(TenantId)

    assert adapter.validate_python("00000000-0000-0000-0000-00000000000A") == (
        "00000000-0000-0000-0000-00000000000a"
    )
    assert adapter.validate_python("0000000000000000000000000000000a") == (
        "00000000-0000-0000-0000-00000000000a"
    )


def test_a_tenant_that_is_not_a_uuid_is_refused():
    with pytest.raises(ValidationError):
        TypeAdapter(TenantId).validate_python("tenant-1")
