"""The manual triggers: every domain operation as a named Celery task with JSON kwargs.

`celery -A workers call marketplace.listings.create --kwargs '{"tenant_id": …}'`

Each task checks its kwargs against the operation's signature (every bad or unknown argument
is named at once, as a permanent error), runs the operation in one transaction, asks for the
outbox to be published, and returns the entity as a dict.

Delivery is at least once, so a command may be delivered again after a worker died between
its commit and its acknowledgement. The task id is the command id: its result is recorded in
the command's transaction (`marketplace.domain.command_runs`) and a repeat returns it without
running again. Commands that create something also use it as the new entity's id, so the id
Flower shows for the task is the entity's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_type_hints

from celery import Task
from pydantic import ConfigDict, Field, ValidationError, create_model

from marketplace import validation
from marketplace.domain import command_runs, disputes, listings, orders, quotes, rfps
from marketplace.domain.context import Context
from marketplace.domain.inputs import Description, Lane, Message, ReasonText, Requirements, Title
from marketplace.errors import PermanentError
from marketplace.events.fields import (
    Currency,
    EntityId,
    Instant,
    MinorUnits,
    Money,
    TenantId,
)
from workers import runtime
from workers.celery_app import app
from workers.publish_tasks import request_publish

COMMAND_ID = "command_id"
"""An operation taking this keyword receives the task id, as an idempotency key."""


class InvalidArguments(PermanentError, ValueError):
    """A command was sent with arguments it cannot run with."""


def command(name: str) -> Callable[[Callable[..., Any]], Task]:
    """Declare `operation(ctx, **kwargs)` as the task `name`, taking only JSON kwargs; returns
    the task (`create_listing.delay(...)`)."""

    def register(operation: Callable[..., Any]) -> Task:
        hints = get_type_hints(operation, include_extras=True)
        signature = inspect.signature(operation)
        parameters = [p for p in list(signature.parameters.values())[1:] if p.name != COMMAND_ID]
        takes_id = COMMAND_ID in signature.parameters
        fields: dict[str, Any] = {
            p.name: (hints[p.name], ... if p.default is p.empty else p.default) for p in parameters
        }
        arguments_model = create_model(
            f"{name}.kwargs", __config__=ConfigDict(extra="forbid", strict=False), **fields
        )

        def run(self: Task, *args: Any, **kwargs: Any) -> dict[str, Any]:
            if args:
                expected = ", ".join(arguments_model.model_fields)
                raise InvalidArguments(
                    f"{name} takes keyword arguments only (--kwargs '{{...}}': {expected}); "
                    f"got {len(args)} positional"
                )
            try:
                arguments = arguments_model.model_validate(kwargs)
            except ValidationError as error:
                problems = "; ".join(validation.problems(error))
                raise InvalidArguments(f"{name}: {problems}") from None
            values = dict(arguments)
            identity = {COMMAND_ID: self.request.id} if takes_id else {}
            with runtime.current().transaction() as ctx:
                ran = command_runs.run_once(
                    ctx,
                    values["tenant_id"],
                    self.request.id,
                    name,
                    lambda: operation(ctx, **values, **identity),
                )
            # A repeat may follow a crash between the first run's commit and its request.
            if ctx.recorded or ran.repeated:
                request_publish(redelivered=ran.repeated)
            return ran.result

        return app.task(run, name=name, bind=True, ignore_result=False, __doc__=operation.__doc__)

    return register


@command("marketplace.listings.create")
def create_listing(
    ctx: Context,
    tenant_id: TenantId,
    seller_id: EntityId,
    title: Title,
    lane: Lane,
    price: MinorUnits,
    currency: Currency,
    description: Description | None = None,
    *,
    command_id: str,
) -> Any:
    """Create a draft listing (emits listing.created)."""
    return listings.create_listing(
        ctx,
        tenant_id,
        listing_id=command_id,
        seller_id=seller_id,
        title=title,
        lane=lane,
        price=price,
        currency=currency,
        description=description,
    )


@command("marketplace.listings.publish")
def publish_listing(ctx: Context, tenant_id: TenantId, listing_id: EntityId) -> Any:
    """Publish a draft listing within the seller's listing limit (emits listing.published)."""
    return listings.publish_listing(ctx, tenant_id, listing_id)


@command("marketplace.listings.update")
def update_listing(
    ctx: Context, tenant_id: TenantId, listing_id: EntityId, changes: dict[str, Any]
) -> Any:
    """Change title, description, lane, price or currency (emits listing.updated)."""
    return listings.update_listing(ctx, tenant_id, listing_id, changes)


@command("marketplace.listings.close")
def close_listing(
    ctx: Context, tenant_id: TenantId, listing_id: EntityId, reason: ReasonText
) -> Any:
    """Close a listing (emits listing.closed with its final statistics)."""
    return listings.close_listing(ctx, tenant_id, listing_id, reason)


@command("marketplace.quotes.submit")
def submit_quote(
    ctx: Context,
    tenant_id: TenantId,
    listing_id: EntityId,
    buyer_id: EntityId,
    amount: MinorUnits,
    currency: Currency,
    message: Message = "",
    *,
    command_id: str,
) -> Any:
    """A buyer's quote on a published listing (emits quote.submitted)."""
    return quotes.submit_quote(
        ctx,
        tenant_id,
        quote_id=command_id,
        listing_id=listing_id,
        buyer_id=buyer_id,
        amount=amount,
        currency=currency,
        message=message,
    )


@command("marketplace.quotes.accept")
def accept_quote(ctx: Context, tenant_id: TenantId, quote_id: EntityId) -> Any:
    """Accept a quote and create its order (emits quote.accepted, then order.created)."""
    return quotes.accept_quote(ctx, tenant_id, quote_id)


@command("marketplace.orders.create")
def create_order(ctx: Context, tenant_id: TenantId, quote_id: EntityId) -> Any:
    """The order of an accepted quote, created once (emits order.created the first time)."""
    return orders.create_order(ctx, tenant_id, quote_id)


@command("marketplace.orders.complete")
def complete_order(ctx: Context, tenant_id: TenantId, order_id: EntityId) -> Any:
    """Complete a paid order (emits order.completed)."""
    return orders.complete_order(ctx, tenant_id, order_id)


@command("marketplace.orders.cancel")
def cancel_order(ctx: Context, tenant_id: TenantId, order_id: EntityId, reason: ReasonText) -> Any:
    """Cancel a created or paid order (emits order.cancelled)."""
    return orders.cancel_order(ctx, tenant_id, order_id, reason)


@command("marketplace.disputes.open")
def open_dispute(
    ctx: Context,
    tenant_id: TenantId,
    order_id: EntityId,
    opened_by: EntityId,
    reason: ReasonText,
    evidence: list[str] | None = None,
    *,
    command_id: str,
) -> Any:
    """Open a dispute on a paid or completed order (emits dispute.opened)."""
    return disputes.open_dispute(
        ctx,
        tenant_id,
        dispute_id=command_id,
        order_id=order_id,
        opened_by=opened_by,
        reason=reason,
        evidence=evidence or [],
    )


@command("marketplace.disputes.resolve")
def resolve_dispute(
    ctx: Context,
    tenant_id: TenantId,
    dispute_id: EntityId,
    outcome: Literal["refund_buyer", "release_to_seller", "split"],
    notes: str = "",
) -> Any:
    """Resolve an open dispute (emits dispute.resolved)."""
    return disputes.resolve_dispute(ctx, tenant_id, dispute_id, outcome=outcome, notes=notes)


@command("marketplace.rfps.broadcast")
def broadcast_rfp(
    ctx: Context,
    tenant_id: TenantId,
    buyer_id: EntityId,
    title: Title,
    requirements: Requirements,
    target_lanes: Annotated[list[Lane], Field(min_length=1)],
    deadline: Instant,
    budget: Money | None = None,
    *,
    command_id: str,
) -> Any:
    """Broadcast an RFP to sellers with published listings in its lanes (emits rfp.broadcast)."""
    return rfps.broadcast_rfp(
        ctx,
        tenant_id,
        rfp_id=command_id,
        buyer_id=buyer_id,
        title=title,
        requirements=requirements,
        target_lanes=target_lanes,
        deadline=deadline,
        budget=budget,
    )
