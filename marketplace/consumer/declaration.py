"""Declaring a consumer: `@KafkaConsumer(group_id=…)` on a class, `@on_message(topic)` on its
handlers, checked when the module is imported.

The Python counterpart of the spec's `@KafkaConsumer({groupId})` / `@OnMessage(topic)`:

    @KafkaConsumer(group_id="review-svc-marketplace-consumer")
    class MarketplaceEventHandler:
        @on_message("eventzr.marketplace.order.completed.v1")
        def order_completed(self, event: CloudEvent[OrderCompleted]) -> None: ...

Plain functions are declared on a `KafkaConsumer` object instead (`reviews =
KafkaConsumer(group_id=…)`, then `@reviews.on_message(topic)`). A handler takes the event, and
may take the raw record too (a parameter annotated `RawRecord`, or named `record`); it may be
`async def`. What is wrong (a topic not in the catalog, an annotation that is not the topic's
model, two handlers for one topic in one class, …) raises `DeclarationError` at import, naming
every problem. The decorated class is returned unchanged, so it stays importable and testable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from marketplace.consumer.errors import DeclarationError
from marketplace.consumer.handlers import Handler, make_handler, topic_problem
from marketplace.consumer.idempotency import IdempotencyStore
from marketplace.consumer.policy import AT_LEAST_ONCE, DeliveryPolicy
from marketplace.events import topics

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)

MARK = "__marketplace_on_message__"
"""On a function: the topics `on_message` subscribed it to."""
DECLARATION = "__marketplace_consumer__"
"""On a decorated class: its `Declaration`."""
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


@dataclass(frozen=True)
class Subscription:
    topic: str
    outside_catalog: bool


@dataclass(frozen=True)
class Declaration:
    """Everything a consumer group is: read by `ConsumerGroup` and the test harness."""

    group_id: str
    handlers: tuple[Handler, ...]
    policy: DeliveryPolicy
    retry_on: tuple[type[BaseException], ...]
    idempotency: IdempotencyStore | None
    dead_letter_topic: str
    owner: type | None
    """The decorated class (None: a `KafkaConsumer` of functions)."""

    @property
    def topics(self) -> list[str]:
        return sorted({handler.topic for handler in self.handlers})


def on_message(topic: str | topics.Topic, *, outside_catalog: bool = False) -> Callable[[F], F]:
    """Subscribe a method of a `@KafkaConsumer` class to `topic` (a name, or a catalog entry).
    A topic outside the marketplace's catalog needs `outside_catalog=True` (its `data` is a
    dict), so that a typo cannot subscribe to nothing."""
    name = topic.name if isinstance(topic, topics.Topic) else topic
    problem = topic_problem(name, outside_catalog)
    if problem is not None:
        raise DeclarationError([problem])

    def mark(function: F) -> F:
        if not callable(function):
            raise DeclarationError([f"@on_message({name!r}) decorates a function"])
        marks = getattr(function, MARK, ())
        setattr(function, MARK, (*marks, Subscription(name, outside_catalog)))
        return function

    return mark


class KafkaConsumer:
    """A consumer group: decorates a class whose `on_message` methods are its handlers, or
    collects plain functions (`@consumer.on_message(topic)`).

    `policy`: when offsets are committed and how failures are retried (`AT_LEAST_ONCE`);
    `retry_on`: exceptions retried like the `TransientError` family; `idempotency`: a store
    that makes each handler run once per event (`source` + `id`); `dead_letter_topic`: where
    records that cannot be handled go, `<group_id>.dlq` unless given.
    """

    def __init__(
        self,
        group_id: str,
        *,
        policy: DeliveryPolicy = AT_LEAST_ONCE,
        retry_on: Iterable[type[BaseException]] = (),
        idempotency: IdempotencyStore | None = None,
        dead_letter_topic: str | None = None,
    ) -> None:
        self.group_id = group_id
        self.policy = policy
        self.retry_on = tuple(retry_on)
        self.idempotency = idempotency
        self.dead_letter_topic = (
            dead_letter_topic if dead_letter_topic is not None else f"{group_id}.dlq"
        )
        self._functions: list[Handler] = []
        problems = _group_problems(self)
        if problems:
            raise DeclarationError(problems)

    def __call__(self, cls: C) -> C:
        if not isinstance(cls, type):
            raise DeclarationError(
                [
                    f"@KafkaConsumer(group_id={self.group_id!r}) decorates a class; declare "
                    "plain functions with consumer = KafkaConsumer(…), @consumer.on_message(topic)"
                ]
            )
        problems: list[str] = []
        handlers = []
        for function, subscription in _marked_methods(cls):
            handler, wrong = make_handler(function, subscription.topic, owner=cls)
            problems += wrong
            handlers.append(handler)
        if not handlers:
            problems.append(f"{cls.__qualname__} declares no @on_message handler")
        problems += _duplicates(cls.__qualname__, handlers)
        if problems:
            raise DeclarationError(problems)
        setattr(cls, DECLARATION, self._declaration(handlers, owner=cls))
        return cls

    def on_message(
        self, topic: str | topics.Topic, *, outside_catalog: bool = False
    ) -> Callable[[F], F]:
        """Subscribe a plain function of this group to `topic`."""
        name = topic.name if isinstance(topic, topics.Topic) else topic
        problem = topic_problem(name, outside_catalog)
        if problem is not None:
            raise DeclarationError([problem])

        def register(function: F) -> F:
            handler, problems = make_handler(function, name, owner=None)
            problems += _duplicates(f"group {self.group_id}", [*self._functions, handler])
            if problems:
                raise DeclarationError(problems)
            self._functions.append(handler)
            return function

        return register

    @property
    def declaration(self) -> Declaration:
        """The group of the functions declared on it so far."""
        if not self._functions:
            raise DeclarationError([f"group {self.group_id} declares no on_message handler"])
        return self._declaration(self._functions, owner=None)

    def _declaration(self, handlers: Sequence[Handler], owner: type | None) -> Declaration:
        return Declaration(
            self.group_id,
            tuple(handlers),
            self.policy,
            self.retry_on,
            self.idempotency,
            self.dead_letter_topic,
            owner,
        )


def declaration_of(target: object) -> Declaration:
    """The declaration of a decorated class (or one of its instances) or a `KafkaConsumer`."""
    if isinstance(target, KafkaConsumer):
        return target.declaration
    declared = getattr(target if isinstance(target, type) else type(target), DECLARATION, None)
    if not isinstance(declared, Declaration):
        raise DeclarationError(
            [f"{target!r} is neither a @KafkaConsumer class nor a KafkaConsumer of functions"]
        )
    return declared


def _marked_methods(cls: type) -> list[tuple[Callable[..., Any], Subscription]]:
    """Every (method, subscription) of the class and its bases; a subclass's method of the
    same name replaces its base's."""
    methods: dict[str, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if callable(value) and getattr(value, MARK, None):
                methods[name] = value
    return [(method, mark) for method in methods.values() for mark in getattr(method, MARK)]


def _duplicates(owner: str, handlers: Sequence[Handler]) -> list[str]:
    by_topic: dict[str, list[str]] = {}
    for handler in handlers:
        by_topic.setdefault(handler.topic, []).append(handler.function.__name__)
    return [
        f"{owner} has {len(names)} handlers for {topic} ({', '.join(names)}); one topic takes "
        "one handler per consumer (several consumers may each have one)"
        for topic, names in by_topic.items()
        if len(names) > 1
    ]


def _group_problems(group: KafkaConsumer) -> list[str]:
    problems = []
    if not isinstance(group.group_id, str) or not group.group_id.strip():
        problems.append(f"group_id must be a non-empty string, got {group.group_id!r}")
    if not isinstance(group.policy, DeliveryPolicy):
        problems.append(f"policy must be a DeliveryPolicy, got {group.policy!r}")
    else:
        problems += [f"policy {group.policy.name!r}: {p}" for p in group.policy.problems()]
    problems += [
        f"retry_on: {kind!r} is not an exception class"
        for kind in group.retry_on
        if not (isinstance(kind, type) and issubclass(kind, BaseException))
    ]
    store = group.idempotency
    if store is not None and not (
        callable(getattr(store, "seen", None)) and callable(getattr(store, "remember", None))
    ):
        problems.append(f"idempotency: {store!r} has no seen(key) and remember(key)")
    if not isinstance(group.dead_letter_topic, str) or not _TOPIC_NAME.match(
        group.dead_letter_topic
    ):
        problems.append(
            f"dead-letter topic {group.dead_letter_topic!r} is not a Kafka topic name "
            "(1-249 of A-Z a-z 0-9 . _ -); pass dead_letter_topic="
        )
    return problems
