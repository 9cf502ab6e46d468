"""Statements over many rows whose text does not depend on how many there are, built once.

An `IN (…)` list or a multi-row `VALUES` is new SQL text for every number of rows: SQLAlchemy
renders it, psycopg parses it (it caches only short statements), PostgreSQL plans it afresh.
On PostgreSQL these take one array parameter per column instead, unnested in the statement,
so a batch of any size sends the same text, which psycopg parses once and PostgreSQL prepares.
SQLite, which has no arrays, gets an expanding `IN` and an executemany.

Building a statement and its cache key costs SQLAlchemy about a millisecond, more than
running it; so the statements here take their values as parameters, and the callers build
each statement once per dialect (`functools.cache`) and pass `among_values(…)` or
`rows(…)` at execution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, bindparam, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

POSTGRESQL = "postgresql"


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def among(dialect: str, columns: Sequence[Any], name: str = "among") -> ColumnElement[bool]:
    """`(columns) IN` the rows passed as `among_values(dialect, rows, name)`."""
    if dialect != POSTGRESQL:
        target = columns[0] if len(columns) == 1 else tuple_(*columns)
        return target.in_(bindparam(name, expanding=True))
    arrays = [_array(f"{name}_{n}", column.type) for n, column in enumerate(columns)]
    listed = func.unnest(*arrays).table_valued(*(f"v{n}" for n in range(len(columns))))
    return tuple_(*columns).in_(select(*listed.render_derived().c))


def among_values(
    dialect: str, rows: Sequence[tuple[Any, ...]], name: str = "among"
) -> dict[str, Any]:
    if dialect != POSTGRESQL:
        return {name: [row[0] if len(row) == 1 else row for row in rows]}
    return {f"{name}_{n}": list(column) for n, column in enumerate(zip(*rows, strict=True))}


def insert(
    dialect: str, table: sa.Table, names: Sequence[str], constants: Sequence[str] = ()
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of the rows `rows(dialect, …)` passes, ids (if any) in their order: on
    PostgreSQL a SELECT unnesting one array per column of `names` (each of `table`'s type) plus
    the `constants`; elsewhere a plain INSERT, run as an executemany. The dialect's own
    construct, so `on_conflict_do_nothing()` is there."""
    if dialect != POSTGRESQL:
        return sqlite.insert(table)
    arrays = [_array(f"rows_{column}", table.c[column].type) for column in names]
    listed = func.unnest(*arrays).table_valued(*names, with_ordinality="n").render_derived()
    fixed = [bindparam(f"rows_{column}", type_=table.c[column].type) for column in constants]
    in_order = select(*(listed.c[column] for column in names), *fixed).order_by(listed.c.n)
    return postgresql.insert(table).from_select([*names, *constants], in_order)


def rows(
    dialect: str, columns: Mapping[str, Sequence[Any]], constants: Mapping[str, Any]
) -> dict[str, Any] | list[dict[str, Any]]:
    """The parameters of an `insert(dialect, …)`: the rows given column by column, and the
    values every row shares."""
    if dialect == POSTGRESQL:
        return {f"rows_{column}": value for column, value in {**columns, **constants}.items()}
    return [
        {**dict(zip(columns, row, strict=True)), **constants}
        for row in zip(*columns.values(), strict=True)
    ]


def _array(name: str, item: Any) -> ColumnElement[Any]:
    array = ARRAY(item, dimensions=1)  # one dimension: a JSON item is a value, not a sub-array
    return sa.cast(bindparam(name, type_=array), array)
