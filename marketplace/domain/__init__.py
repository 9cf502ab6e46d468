"""The marketplace's state and rules: SQLAlchemy models, one module per aggregate, the outbox.

Every operation takes a `Context` (a session the caller's transaction owns, the event source
and a clock), changes rows of one tenant, records the CloudEvents that change produces in the
outbox *in the same transaction*, flushes and returns the entity. Nothing is published here:
an event exists exactly when the change that caused it was committed.

Layout: `models/` (tables and their state machines), one module of operations per aggregate
(`listings`, `quotes`, `orders`, `disputes`, `rfps`, `sellers`, `reviews`, `payouts`,
`profiles`, `event_contexts`), `inbound` (consumed events, idempotent through the inbox),
`outbox` (claiming what to publish), `database` (engines, sessions, migrations).
"""
