"""Reordering: commands and inbound events delivered shuffled, with transient failures and
crashes retried, converge to the state and the outbound events of in-order delivery.

What "shuffled" may do: an inbound event can arrive at any moment (before the order it pays,
twice, after a newer profile); a command is only issued once what it refers to exists (its
client learnt the id from a previous answer), so commands keep their causal order. A delivery
that raises a `TransientError` is retried later; a "crash" runs a delivery and rolls it back.

What "the same outbound events" means: every event except `listing.created/updated`, by
type, subject and data, as a multiset. A listing's `created` and `updated` events are
compared by their net effect (the last value of each field), because what they say in between
depends on arrival order by nature (a listing created after its seller's profile arrived shows
the name at once, otherwise in an update). The quality score and the seller's avatar are left
out of that net effect (`listing.created` has no field for them): they are compared as part of
the stored state, and the last value announced must be the value stored.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from marketplace.domain import disputes, event_contexts, inbound, listings, orders, quotes, rfps
from marketplace.domain.context import Context
from marketplace.domain.models import Base, Listing, OutboxMessage
from marketplace.errors import TransientError
from marketplace.events import decoding, outbound, topics
from tests import factories
from tests.domain.conftest import NOW, Database, Market

SELLERS = ("s1", "s2")
BUYERS = ("b1", "b2")
LANES = ("catering", "venues")
FATES = ("open", "paid", "escrow", "complete", "cancel", "dispute", "resolved")
"""What becomes of a quote: left open, or accepted and its order paid, released, completed..."""
CRASH_RATE = 0.1


@dataclass(frozen=True)
class OrderOf:
    """The id of a quote's order, which depends on the tenant it is resolved in."""

    quote: str


@dataclass(frozen=True)
class Step:
    """One delivery: `call(ctx, tenant, *args, **kwargs)` in a transaction of its own."""

    name: str
    call: Callable[..., object]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    after: tuple[str, ...] = ()
    """Steps that must have succeeded first; only commands have any."""

    def run(self, market: Market, ctx: Context) -> object:
        args, kwargs = resolve(market, (self.args, self.kwargs))
        return self.call(ctx, market.tenant, *args, **kwargs)


def resolve(market: Market, value: Any) -> Any:
    if isinstance(value, OrderOf):
        return orders.order_id_for(market.tenant, value.quote)
    if isinstance(value, tuple | list):
        return type(value)(resolve(market, item) for item in value)
    if isinstance(value, dict):
        return {key: resolve(market, item) for key, item in value.items()}
    return value


def deliver(ctx: Context, tenant: str, topic: topics.Topic, data: dict[str, Any], *,
            event_id: str, seconds: int = 0) -> inbound.Applied:  # fmt: skip
    """The inbound CloudEvent `event_id`, as another service sent it `seconds` after NOW."""
    cloudevent = decoding.from_dict(factories.cloudevent(
        topic, tenant, data, event_id=event_id, source="other-svc",
        time=(NOW + timedelta(seconds=seconds)).isoformat(),
    ))  # fmt: skip
    return inbound.apply(ctx, cloudevent)


def event(name: str, topic: topics.Topic, data: dict[str, Any], seconds: int = 0) -> Step:
    return Step(name, deliver, (topic, data), {"event_id": f"ce-{name}", "seconds": seconds})


def listing_steps(draw: st.DrawFn, n: int) -> list[Step]:
    """Create, publish, maybe update a listing; then its quotes and what becomes of them."""
    listing, seller = f"L{n}", draw(st.sampled_from(SELLERS))
    created, published = f"create {listing}", f"publish {listing}"
    steps = [
        Step(created, listings.create_listing, kwargs=dict(
            seller_id=seller, title=f"Listing {n}", lane=draw(st.sampled_from(LANES)),
            price=1000, currency="USD", listing_id=listing)),
        Step(published, listings.publish_listing, (listing,), after=(created,)),
    ]  # fmt: skip
    if draw(st.booleans()):
        changes = {"title": f"Listing {n}, renamed", "price": 1200}
        steps.append(Step(f"update {listing}", listings.update_listing, (listing, changes),
                          after=(published,)))  # fmt: skip
    for q in range(draw(st.integers(0, 2))):
        steps += quote_steps(draw, listing, seller, f"{listing}Q{q}")
    return steps


def quote_steps(draw: st.DrawFn, listing: str, seller: str, quote: str) -> list[Step]:
    buyer, amount, fate = draw(st.sampled_from(BUYERS)), draw(st.integers(100, 10_000)), draw(
        st.sampled_from(FATES))  # fmt: skip
    submitted, accepted, paid = f"submit {quote}", f"accept {quote}", f"pay {quote}"
    steps = [Step(submitted, quotes.submit_quote, kwargs=dict(
        listing_id=listing, buyer_id=buyer, amount=amount, currency="USD", quote_id=quote),
        after=(f"publish {listing}",))]  # fmt: skip
    if fate == "open":
        return steps
    order = OrderOf(quote)
    steps.append(Step(accepted, quotes.accept_quote, (quote,), after=(submitted,)))
    if fate == "cancel":
        return [*steps, Step(f"cancel {quote}", orders.cancel_order, (order, "changed plans"),
                             after=(accepted,))]  # fmt: skip
    payment = {"id": f"payment-{quote}", "orderId": order, "amount": amount, "currency": "USD"}
    steps.append(event(paid, topics.PAYMENT_COMPLETED, payment))
    if fate == "escrow":
        steps.append(event(f"release {quote}", topics.ESCROW_RELEASED, {
            "id": f"release-{quote}", "orderId": order, "sellerId": seller, "amount": amount,
            "currency": "USD"}))  # fmt: skip
    elif fate == "complete":
        steps.append(Step(f"complete {quote}", orders.complete_order, (order,), after=(paid,)))
    elif fate in ("dispute", "resolved"):
        dispute, opened = f"D-{quote}", f"dispute {quote}"
        steps.append(Step(opened, disputes.open_dispute, kwargs=dict(
            order_id=order, opened_by=buyer, reason="Late", evidence=["mail.txt"],
            dispute_id=dispute), after=(paid,)))  # fmt: skip
        if fate == "resolved":
            resolution = dict(outcome="split", notes="Half each")
            steps.append(Step(f"resolve {quote}", disputes.resolve_dispute, (dispute,),
                              resolution, after=(opened,)))  # fmt: skip
    return steps


def fact_steps(draw: st.DrawFn) -> list[Step]:
    """Reviews, profiles, subscriptions and an event: facts owned by other services, with
    event times rising in the order they happened."""
    facts: list[Step] = []
    kinds = ("review", "profile", "subscription", "event")
    for n, kind in enumerate(draw(st.lists(st.sampled_from(kinds), max_size=7)), start=1):
        seller = draw(st.sampled_from(SELLERS))
        if kind == "review":
            review = {"id": f"R{n}", "sellerId": seller, "rating": draw(st.integers(1, 5))}
            facts.append(event(f"review R{n}", topics.REVIEW_CREATED, review))
        elif kind == "profile":
            fields = draw(st.fixed_dictionaries({}, optional={
                "displayName": st.sampled_from(("Anna", "Ben", None)),
                "avatarUrl": st.sampled_from(("a.png", "b.png"))}))  # fmt: skip
            facts.append(event(f"profile P{n}", topics.PROFILE_UPDATED,
                               {"userId": seller} | fields, seconds=n))  # fmt: skip
        elif kind == "subscription":
            tier = draw(st.sampled_from(("free", "basic", "pro", "enterprise")))
            limit = {"listingLimit": draw(st.sampled_from((3, 20)))} if draw(st.booleans()) else {}
            facts.append(event(f"subscription S{n}", topics.SUBSCRIPTION_CHANGED,
                               {"id": f"sub-{n}", "userId": seller, "tier": tier} | limit,
                               seconds=n))  # fmt: skip
        elif not any(step.name == "event E1" for step in facts):
            tiers = draw(st.sampled_from(({}, {"sponsorshipTiers": []})))
            facts.append(event("event E1", topics.EVENT_CREATED, {
                "id": "E1", "organizerId": seller, "name": "Fair",
                "exhibitorSlots": draw(st.integers(0, 2)), "startsAt": "2026-05-01T09:00:00Z",
                "endsAt": "2026-05-01T18:00:00Z"} | tiers))  # fmt: skip
    reviews = [step for step in facts if step.name.startswith("review")]
    if reviews and draw(st.booleans()):  # reviews-svc sends a review again, as a new event
        facts.append(event("review re-sent", topics.REVIEW_CREATED, reviews[0].args[1]))
    return facts


@st.composite
def histories(draw: st.DrawFn) -> list[Step]:
    """A valid in-order history: listings and their quotes, maybe an RFP once all are
    published, maybe closing listings once all else about them happened; facts from other
    services mixed in; some inbound events delivered a second time at the end."""
    chains: list[Step] = []
    for n in range(draw(st.integers(1, 3))):
        chains += listing_steps(draw, n)
    if draw(st.booleans()):
        published = tuple(step.name for step in chains if step.name.startswith("publish"))
        chains.append(Step("rfp", rfps.broadcast_rfp, kwargs=dict(
            buyer_id="b1", title="Gala", requirements="200 guests", target_lanes=list(LANES),
            deadline=NOW + timedelta(days=7), rfp_id="rfp-1"), after=published))  # fmt: skip
    for listing in sorted(
        {step.name[len("create ") :] for step in chains if step.name.startswith("create")}
    ):
        if draw(st.booleans()):
            before = tuple(
                step.name for step in chains if listing in step.name or step.name == "rfp"
            )
            chains.append(Step(f"close {listing}", listings.close_listing, (listing, "season over"),
                               after=before))  # fmt: skip
    facts = fact_steps(draw)
    merged: list[Step] = []
    while chains or facts:
        merged.append((chains if chains and (not facts or draw(st.booleans())) else facts).pop(0))
    inbound_steps = [step for step in merged if step.call is deliver]
    return merged + [replace(step, name=f"{step.name} (again)") for step in inbound_steps
                     if draw(st.booleans())]  # fmt: skip


class Crash(Exception):
    """The worker died after doing the work, before committing it."""


def attempt(market: Market, step: Step, *, crash: bool = False) -> bool:
    """Deliver `step` once; False if it must be retried."""
    with market.db.sessions() as session:
        try:
            with session.begin():
                step.run(market, market.context(session))
                if crash:
                    raise Crash
        except (TransientError, Crash):
            return False
    return True


def deliver_in_order(market: Market, steps: list[Step]) -> None:
    for step in steps:
        assert attempt(market, step), f"in order, {step.name} should succeed at once"


def deliver_shuffled(market: Market, steps: list[Step], rnd: random.Random) -> int:
    """Any ready step next; failed and crashed ones go back in the queue (a step crashes at
    most once). Returns the number of retries."""
    pending, done, crashed, retries = list(steps), set(), set(), 0
    while pending:
        ready = [step for step in pending if all(name in done for name in step.after)]
        step = rnd.choice(ready)
        crash = step.name not in crashed and rnd.random() < CRASH_RATE
        crashed |= {step.name} if crash else set()
        if attempt(market, step, crash=crash):
            pending.remove(step)
            done.add(step.name)
        else:
            retries += 1
            assert retries < 20 * len(steps), f"{step.name} never succeeds"
    return retries


def derived_ids(market: Market) -> dict[str, str]:
    """The ids the domain derives from the tenant (orders, event listings), by what they are
    derived from: two tenants are compared, and their derived ids differ by design."""
    quotes_ = [f"L{n}Q{q}" for n in range(3) for q in range(2)]
    slots = ["exhibitor_slot/1", "exhibitor_slot/2", "sponsorship/Gold", "sponsorship/Silver",
             "sponsorship/Bronze"]  # fmt: skip
    return {orders.order_id_for(market.tenant, quote): f"order-of-{quote}" for quote in quotes_} | {
        event_contexts.listing_id_for(market.tenant, "E1", slot): f"E1/{slot}" for slot in slots
    }


def tenant_free(market: Market, value: Any) -> Any:
    text = json.dumps(value, sort_keys=True)
    for derived, name in derived_ids(market).items():
        text = text.replace(derived, name)
    return json.loads(text)


def state(market: Market) -> dict[str, list[Any]]:
    """Every row of the tenant (the outbox aside), without the tenant."""
    snapshot = {}
    with market.db.sessions() as session:
        for mapper in Base.registry.mappers:
            model = mapper.class_
            if model is OutboxMessage:
                continue
            rows = session.scalars(select(model).where(model.tenant_id == market.tenant))
            dicts = tenant_free(market, [row.as_dict() | {"tenantId": None} for row in rows])
            snapshot[model.__tablename__] = sorted(
                dicts, key=lambda row: json.dumps(row, sort_keys=True)
            )
    return snapshot


def _aliases(model: type[Any]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


UNANNOUNCED_AT_CREATION = (
    _aliases(outbound.ListingUpdated) - _aliases(outbound.ListingCreated) - {"updatedAt"}
)
"""Listing fields `listing.created` has no place for (quality score, seller avatar)."""


def outbound_view(market: Market) -> tuple[Any, Any]:
    """All events but a listing's created/updated as a multiset; those as their net effect.

    Fields `listing.created` cannot carry are checked against the stored listing instead:
    the last value announced must be the value stored."""
    plain: Counter[tuple[str, str, str]] = Counter()
    net: dict[str, dict[str, Any]] = {}
    announced: dict[str, dict[str, Any]] = {}
    for cloudevent in market.events():
        kind, subject, data = cloudevent["type"], cloudevent["subject"], dict(cloudevent["data"])
        if kind not in (topics.LISTING_CREATED.name, topics.LISTING_UPDATED.name):
            plain[(kind, subject, json.dumps(data, sort_keys=True))] += 1
            continue
        if kind == topics.LISTING_CREATED.name:
            plain[(kind, subject, "")] += 1
        data.pop("updatedAt", None)
        for name in UNANNOUNCED_AT_CREATION & data.keys():
            announced.setdefault(data["id"], {})[name] = data.pop(name)
        net.setdefault(subject, {}).update(data)
    for listing_id, fields in announced.items():
        stored = market.get(Listing, listing_id)
        assert stored is not None and fields.items() <= stored.as_dict().items()
    return sorted(tenant_free(market, list(plain.items()))), tenant_free(market, net)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=histories(), rnd=st.randoms(use_true_random=True))
def test_shuffled_delivery_converges_to_in_order_delivery(
    db: Database, steps: list[Step], rnd: random.Random
) -> None:
    in_order = Market(db, str(uuid.uuid4()))
    shuffled = Market(db, str(uuid.uuid4()))

    deliver_in_order(in_order, steps)
    deliver_shuffled(shuffled, steps, rnd)

    assert state(shuffled) == state(in_order)
    assert outbound_view(shuffled) == outbound_view(in_order)
