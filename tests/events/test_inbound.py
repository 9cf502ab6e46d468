"""What other services send us: every field the marketplace stores is refused, by name, when a
column could not hold it; nothing of that kind gets as far as a database."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from marketplace.events import inbound
from marketplace.events.fields import (
    COMMENT_LENGTH,
    EVENT_NAME_LENGTH,
    ID_LENGTH,
    MAX_BIGINT,
    MAX_INTEGER,
    MAX_SPONSORSHIP_TIERS,
    NAME_LENGTH,
    TIER_LENGTH,
    URL_LENGTH,
    InboundPayload,
)

TIER = {"name": "Gold", "price": 100, "currency": "USD"}
GOOD: dict[type[InboundPayload], dict[str, Any]] = {
    inbound.EventCreated: {
        "id": "e-1", "organizerId": "org-1", "name": "Expo", "startsAt": "2026-03-02T09:00:00Z",
        "endsAt": "2026-03-02T18:00:00Z", "exhibitorSlots": 3, "sponsorshipTiers": [TIER],
        "expectedAttendance": 500,
    },
    inbound.ReviewCreated: {
        "id": "r-1", "sellerId": "s-1", "rating": 4, "listingId": "l-1", "orderId": "o-1",
        "comment": "Great",
    },
    inbound.PaymentCompleted: {"id": "p-1", "orderId": "o-1", "amount": 100, "currency": "USD"},
    inbound.EscrowReleased: {
        "id": "x-1", "orderId": "o-1", "sellerId": "s-1", "amount": 100, "currency": "USD",
    },
    inbound.SubscriptionChanged: {
        "id": "sub-1", "userId": "u-1", "tier": "pro", "listingLimit": 7, "status": "active",
    },
    inbound.ProfileUpdated: {"userId": "u-1", "displayName": "Ada", "avatarUrl": "https://a/b"},
}  # fmt: skip
"""A valid payload of each consumed topic, every field the marketplace reads present."""

E, R, S, P = (
    inbound.EventCreated, inbound.ReviewCreated, inbound.SubscriptionChanged,
    inbound.ProfileUpdated,
)  # fmt: skip
TEXT_LIMITS: dict[tuple[type[InboundPayload], str], int] = {
    (E, "id"): ID_LENGTH, (E, "organizerId"): ID_LENGTH, (E, "name"): EVENT_NAME_LENGTH,
    (E, "sponsorshipTiers.0.name"): NAME_LENGTH,
    (R, "id"): ID_LENGTH, (R, "sellerId"): ID_LENGTH, (R, "listingId"): ID_LENGTH,
    (R, "orderId"): ID_LENGTH, (R, "comment"): COMMENT_LENGTH,
    (inbound.PaymentCompleted, "id"): ID_LENGTH, (inbound.PaymentCompleted, "orderId"): ID_LENGTH,
    (inbound.EscrowReleased, "id"): ID_LENGTH, (inbound.EscrowReleased, "orderId"): ID_LENGTH,
    (inbound.EscrowReleased, "sellerId"): ID_LENGTH,
    (S, "id"): ID_LENGTH, (S, "userId"): ID_LENGTH, (S, "tier"): TIER_LENGTH,
    (S, "status"): NAME_LENGTH,
    (P, "userId"): ID_LENGTH, (P, "displayName"): NAME_LENGTH, (P, "avatarUrl"): URL_LENGTH,
}  # fmt: skip
"""Every text field the marketplace reads, with its limit: what its column holds, or what
keeps the events that copy it small."""
TEXT_FIELDS = list(TEXT_LIMITS)
INTEGER_FIELDS = [
    (E, "expectedAttendance"),
    (E, "sponsorshipTiers.0.price"),
    (inbound.PaymentCompleted, "amount"),
    (inbound.EscrowReleased, "amount"),
    (S, "listingLimit"),
]


def name(value: tuple[type[InboundPayload], str]) -> str:
    return f"{value[0].__name__}.{value[1]}"


def changed(model: type[InboundPayload], field: str, value: object) -> dict[str, Any]:
    """The good payload of `model` with `field` (a dotted path) set to `value`."""
    data: Any = copy.deepcopy(GOOD[model])
    *path, last = field.split(".")
    target = data
    for part in path:
        target = target[int(part)] if part.isdigit() else target[part]
    target[last] = value
    return data


def refused_fields(model: type[InboundPayload], data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return {".".join(str(part) for part in e["loc"]): e["msg"] for e in caught.value.errors()}


@pytest.mark.parametrize("model", list(GOOD), ids=lambda model: model.__name__)
def test_the_good_payloads_are_accepted(model: type[InboundPayload]) -> None:
    model.model_validate(GOOD[model])


@pytest.mark.parametrize(("model", "field"), TEXT_FIELDS, ids=[name(f) for f in TEXT_FIELDS])
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("a\x00b", "NUL"),
        ("a\udc00b", "lone surrogate"),
    ],
    ids=["nul", "lone-surrogate"],
)
def test_text_no_database_can_store_is_refused_by_name(
    model: type[InboundPayload], field: str, bad: str, message: str
) -> None:
    problems = refused_fields(model, changed(model, field, bad))

    assert list(problems) == [field] and message in problems[field]


@pytest.mark.parametrize(("model", "field"), TEXT_FIELDS, ids=[name(f) for f in TEXT_FIELDS])
def test_text_is_accepted_up_to_its_limit_and_refused_beyond(
    model: type[InboundPayload], field: str
) -> None:
    limit = TEXT_LIMITS[model, field]
    model.model_validate(changed(model, field, "\U0001d11e" * limit))

    problems = refused_fields(model, changed(model, field, "x" * (limit + 1)))

    assert problems == {field: f"String should have at most {limit} characters"}


@pytest.mark.parametrize(("model", "field"), INTEGER_FIELDS, ids=[name(f) for f in INTEGER_FIELDS])
def test_an_integer_beyond_its_column_is_refused_by_name(
    model: type[InboundPayload], field: str
) -> None:
    biggest = MAX_INTEGER if field == "listingLimit" else MAX_BIGINT
    model.model_validate(changed(model, field, biggest))

    problems = refused_fields(model, changed(model, field, biggest + 1))

    assert problems == {field: f"Input should be less than or equal to {biggest}"}


def test_sponsorship_tiers_are_capped_like_exhibitor_slots() -> None:
    tiers = [{**TIER, "name": f"tier {n}"} for n in range(MAX_SPONSORSHIP_TIERS + 1)]
    inbound.EventCreated.model_validate(
        changed(inbound.EventCreated, "sponsorshipTiers", tiers[:-1])
    )

    problems = refused_fields(
        inbound.EventCreated, changed(inbound.EventCreated, "sponsorshipTiers", tiers)
    )

    assert problems == {
        "sponsorshipTiers": "List should have at most 1000 items after validation, not 1001"
    }


def test_every_text_field_of_an_inbound_payload_is_checked_here() -> None:
    """A text field added without an entry above would escape the checks of this module."""
    for model in GOOD:
        text = {f for f, spec in model.model_json_schema()["properties"].items()
                if "string" in {o.get("type") for o in spec.get("anyOf", [spec])}
                and f not in ("startsAt", "endsAt", "currency")}  # fmt: skip
        assert text <= {field for (owner, field) in TEXT_LIMITS if owner is model}, model


def test_every_list_of_an_inbound_payload_is_capped() -> None:
    """A list without a maximum would let one event create any number of rows."""
    for model in GOOD:
        schema = model.model_json_schema()
        for field, spec in schema["properties"].items():
            for option in spec.get("anyOf", [spec]):
                if option.get("type") == "array":
                    assert "maxItems" in option, f"{model.__name__}.{field} is not capped"


def test_a_huge_non_ascii_display_name_is_refused_before_it_can_make_an_event_too_large() -> None:
    problems = refused_fields(
        inbound.ProfileUpdated, {"userId": "u-1", "displayName": "é" * 350_000}
    )

    assert problems == {"displayName": f"String should have at most {NAME_LENGTH} characters"}
