"""One handler: the function, the topic it takes, and what its signature asks for, checked.

A handler's first parameter (after `self`) is the event, annotated `CloudEvent[Model]` with the
catalog's model of a typed topic, `CloudEvent[dict[str, Any]]` for any other topic, or left
bare (`CloudEvent`, no annotation). It may also ask for the raw record (`RawRecord`, or a
parameter named `record`); any other parameter must have a default.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from marketplace.consumer.event import CloudEvent
from marketplace.consumer.reading import TYPED
from marketplace.events import topics
from marketplace.events.envelope import RawRecord
from marketplace.events.fields import Payload


@dataclass(frozen=True)
class Handler:
    topic: str
    function: Callable[..., Any]
    owner: type | None
    """The class whose method it is (None: a plain function)."""
    passes_record: bool = False
    is_async: bool = False

    @property
    def name(self) -> str:
        """`module:Class.method`: how logs and dead letters (`dlq-stage`) name it."""
        return f"{self.function.__module__}:{self.function.__qualname__}"

    @property
    def model(self) -> type[Payload] | None:
        """The model of the events' `data` (None: a dict)."""
        return TYPED.get(self.topic)

    def bind(self, instance: object | None) -> Callable[..., Any]:
        if self.owner is None:
            return self.function
        bound: Callable[..., Any] = self.function.__get__(instance, self.owner)
        return bound


def topic_problem(name: object, outside_catalog: bool) -> str | None:
    if not isinstance(name, str) or not name:
        return f"a topic is a non-empty string, got {name!r}"
    if outside_catalog or topics.by_name(name) is not None:
        return None
    close = difflib.get_close_matches(name, [topic.name for topic in topics.ALL], n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return (
        f"topic {name!r} is not in the marketplace's topic catalog{hint}; "
        "pass outside_catalog=True to subscribe to another service's topic"
    )


def make_handler(
    function: Callable[..., Any], topic: str, *, owner: type | None
) -> tuple[Handler, list[str]]:
    """The handler, and what is wrong with its signature for `topic`."""
    where = f"{function.__qualname__}"
    problems: list[str] = []
    parameters = list(inspect.signature(function).parameters.values())
    if owner is not None:
        parameters = parameters[1:]  # self
    try:
        hints = typing.get_type_hints(function)
    except Exception as error:  # a name the annotations use is not importable here
        hints = {}
        problems.append(f"{where}: its annotations cannot be resolved ({error})")
    if not parameters:
        problems.append(f"{where} takes no event: its first parameter receives the CloudEvent")
        return Handler(topic, function, owner), problems
    event, *others = parameters
    problems += _event_problems(where, topic, hints.get(event.name))
    records = [p for p in others if hints.get(p.name) is RawRecord or p.name == "record"]
    if len(records) > 1:
        problems.append(f"{where} asks for the raw record twice")
    for parameter in others:
        if parameter not in records and parameter.default is inspect.Parameter.empty:
            problems.append(
                f"{where}: parameter {parameter.name!r} is neither the event nor the raw record "
                "(annotate it RawRecord) and has no default"
            )
    handler = Handler(
        topic,
        function,
        owner,
        passes_record=bool(records),
        is_async=inspect.iscoroutinefunction(function),
    )
    return handler, problems


def _event_problems(where: str, topic: str, annotation: Any) -> list[str]:
    model = TYPED.get(topic)
    expected = f"CloudEvent[{model.__name__ if model else 'dict[str, Any]'}]"
    if annotation is None or annotation is Any or annotation is CloudEvent:
        return []
    if get_origin(annotation) is not CloudEvent:
        return [f"{where}: annotate the event {expected}, not {_name(annotation)}"]
    (data,) = get_args(annotation)
    if data is Any:
        return []
    if model is not None:
        if isinstance(data, type) and issubclass(model, data):
            return []
        return [
            f"{where}: {topic} carries {model.__name__}, but the handler is annotated "
            f"CloudEvent[{_name(data)}]"
        ]
    if data in (dict, Mapping) or get_origin(data) in (dict, Mapping):
        return []
    return [
        f"{where}: the data of {topic} arrives as a dict (only the topics the marketplace "
        f"produces are typed); annotate it {expected}, not CloudEvent[{_name(data)}]"
    ]


def _name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)
