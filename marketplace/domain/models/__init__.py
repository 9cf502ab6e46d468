"""Every table of the marketplace; importing this package registers them all on `Base.metadata`."""

from marketplace.domain.models.base import Base
from marketplace.domain.models.command_run import CommandRun
from marketplace.domain.models.dispute import Dispute, DisputeOutcome, DisputeStatus
from marketplace.domain.models.event_context import EventContext
from marketplace.domain.models.inbox_entry import InboxEntry
from marketplace.domain.models.listing import Listing, ListingKind, ListingStatus
from marketplace.domain.models.order import Order, OrderStatus, RefundStatus
from marketplace.domain.models.outbox_message import OutboxMessage, OutboxStatus
from marketplace.domain.models.payout import Payout
from marketplace.domain.models.quote import Quote, QuoteStatus
from marketplace.domain.models.review import Review
from marketplace.domain.models.rfp import Rfp
from marketplace.domain.models.seller import Seller

__all__ = [
    "Base",
    "CommandRun",
    "Dispute",
    "DisputeOutcome",
    "DisputeStatus",
    "EventContext",
    "InboxEntry",
    "Listing",
    "ListingKind",
    "ListingStatus",
    "Order",
    "OrderStatus",
    "OutboxMessage",
    "OutboxStatus",
    "Payout",
    "Quote",
    "QuoteStatus",
    "RefundStatus",
    "Review",
    "Rfp",
    "Seller",
]
