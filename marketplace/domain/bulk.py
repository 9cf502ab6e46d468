"""Statements over many rows whose text does not depend on how many there are.

An `IN (…)` list or a multi-row `VALUES` is new SQL text for every number of rows: SQLAlchemy
renders it, psycopg parses it (it caches only short statements), PostgreSQL plans it afresh.
On PostgreSQL these take one array parameter per column instead, unnested in the statement,
so a batch of any size sends the same text, which psycopg parses once and PostgreSQL prepares.
SQLite, which has no arrays, gets the plain forms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, func, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def among(
    session: Session, columns: tuple[Any, ...], values: Sequence[tuple[Any, ...]]
) -> ColumnElement[bool]:
    """`(columns) IN values`."""
    if session.get_bind().dialect.name != "postgresql":
        if len(columns) == 1:
            return columns[0].in_([value for (value,) in values])
        return tuple_(*columns).in_(values)
    arrays = [
        sa.cast(list(column_values), ARRAY(column.type))
        for column, column_values in zip(columns, zip(*values, strict=True), strict=True)
    ]
    names = [f"v{n}" for n in range(len(columns))]
    listed = func.unnest(*arrays).table_valued(*names).render_derived()
    return tuple_(*columns).in_(select(*listed.c))


def unnested(
    table: sa.Table, columns: Mapping[str, Sequence[Any]], *, constants: Mapping[str, Any]
) -> tuple[list[str], Select[Any]]:
    """PostgreSQL: the rows given column by column (`columns`, each of `table`'s type) plus
    `constants`, as a SELECT yielding them in the order given, for `INSERT … FROM SELECT`; and
    the column names it yields, in order."""
    arrays = [
        sa.cast(list(values), ARRAY(table.c[name].type, dimensions=1))  # a JSON item is one
        for name, values in columns.items()
    ]
    rows = func.unnest(*arrays).table_valued(*columns, with_ordinality="n").render_derived()
    fixed = [sa.literal(value, table.c[name].type) for name, value in constants.items()]
    query = select(*(rows.c[name] for name in columns), *fixed).order_by(rows.c.n)
    return [*columns, *constants], query


def as_rows(
    columns: Mapping[str, Sequence[Any]], constants: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The same rows, one dict each, for an executemany (SQLite)."""
    return [
        {**dict(zip(columns, row, strict=True)), **constants}
        for row in zip(*columns.values(), strict=True)
    ]
