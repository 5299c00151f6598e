"""The writes of one projection batch, gathered and sent per table.

Handlers say what a fact does to a row (`upsert`, `update`, `insert_if_absent`), and the
batch writer keeps at most one pending write per row, merged where two writes compose into
one. When the batch is done (or a handler reads, or runs a statement of its own) the pending
writes go out as one `executemany` per table and shape of row: the statements a batch costs
grow with the tables it touches, not with the events in it (measured in bench/reporting.py:
one statement per row cost more than SQLite spent storing the rows).

Merging keeps the meaning of the writes in their order. Per row key:
- an upsert or an update after an upsert is one upsert of the columns of both;
- an update after an update is one update;
- an insert-if-absent after an upsert or an insert-if-absent changes nothing;
- any other pair cannot be one statement, so what is pending is written first.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite

UPSERT, UPDATE, INSERT_IF_ABSENT = "upsert", "update", "insert_if_absent"


@dataclass(slots=True)
class _Write:
    kind: str
    values: dict[str, Any]


class Rows:
    """A connection inside one batch's transaction, with the batch's writes pending on it.
    Anything else a handler does with it (`execute`) first writes what is pending, so a
    read sees every earlier write of the batch."""

    def __init__(self, conn: Connection) -> None:
        self.connection = conn
        self.dialect = conn.dialect
        self._pending: dict[Table, dict[tuple[Any, ...], _Write]] = {}
        self.statements = 0  # executions sent to the database: what a test counts

    # -- what handlers call ----------------------------------------------------------

    def upsert(self, table: Table, values: Mapping[str, Any], keys: Sequence[str]) -> None:
        if set(keys) != set(_primary_key(table)):
            self.execute(_upsert_statement(self.dialect.name, table, tuple(values), tuple(keys)), dict(values))
            return
        self._merge(table, _Write(UPSERT, dict(values)))

    def update(self, table: Table, keys: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        if set(keys) != set(_primary_key(table)):
            params = {f"key_{k}": v for k, v in keys.items()} | {f"new_{k}": v for k, v in values.items()}
            self.execute(_update_statement(table, tuple(keys), tuple(values)), params)
            return
        self._merge(table, _Write(UPDATE, dict(keys) | dict(values)))

    def insert_if_absent(self, table: Table, values: Mapping[str, Any]) -> None:
        self._merge(table, _Write(INSERT_IF_ABSENT, dict(values)))

    def execute(self, statement: Any, parameters: Any = None) -> Any:
        self.flush()
        self.statements += 1
        return self.connection.execute(statement, parameters) if parameters is not None else self.connection.execute(statement)

    # -- merging and writing -------------------------------------------------------------

    def _merge(self, table: Table, write: _Write) -> None:
        rows = self._pending.setdefault(table, {})
        key = tuple(write.values[c] for c in _primary_key(table))
        held = rows.get(key)
        if held is None:
            rows[key] = write
            return
        if held.kind == UPSERT and write.kind in (UPSERT, UPDATE):
            held.values.update(write.values)
        elif held.kind == UPDATE and write.kind == UPDATE:
            held.values.update(write.values)
        elif write.kind == INSERT_IF_ABSENT and held.kind in (UPSERT, INSERT_IF_ABSENT):
            pass
        else:
            self.flush()
            self._pending.setdefault(table, {})[key] = write

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for table, rows in pending.items():
            groups: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}
            for write in rows.values():
                groups.setdefault((write.kind, tuple(sorted(write.values))), []).append(write.values)
            for (kind, columns), values in groups.items():
                self.statements += 1
                if kind == UPSERT:
                    self.connection.execute(_upsert_statement(self.dialect.name, table, columns, _primary_key(table)), values)
                elif kind == INSERT_IF_ABSENT:
                    self.connection.execute(_insert_if_absent_statement(self.dialect.name, table, columns), values)
                else:
                    keys = _primary_key(table)
                    changed = tuple(c for c in columns if c not in keys)
                    params = [{f"key_{k}": v[k] for k in keys} | {f"new_{c}": v[c] for c in changed} for v in values]
                    self.connection.execute(_update_statement(table, keys, changed), params)


@functools.cache
def _primary_key(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.primary_key.columns)


# One statement per table and shape of row, built once and executed with parameters.
@functools.lru_cache(maxsize=1024)
def _upsert_statement(dialect: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> Any:
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    updates = {c: stmt.excluded[c] for c in columns if c not in keys}
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates) if updates else stmt.on_conflict_do_nothing()


@functools.lru_cache(maxsize=1024)
def _insert_if_absent_statement(dialect: str, table: Table, columns: tuple[str, ...]) -> Any:
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return stmt.on_conflict_do_nothing(index_elements=list(_primary_key(table)))


@functools.lru_cache(maxsize=1024)
def _update_statement(table: Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    where = (table.c[k] == bindparam(f"key_{k}") for k in keys)
    return table.update().where(*where).values({c: bindparam(f"new_{c}") for c in columns})


# The handlers' vocabulary, as functions of the batch (their first argument).
def upsert(rows: Rows, table: Table, values: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Insert a row or update it in place: the one write a replayed event needs, on
    SQLite and PostgreSQL alike."""
    rows.upsert(table, values, keys)


def insert_if_absent(rows: Rows, table: Table, values: Mapping[str, Any]) -> None:
    """Insert a row unless one with the same primary key is there: the first fact of its kind wins."""
    rows.insert_if_absent(table, values)


def update(rows: Rows, table: Table, keys: Mapping[str, Any], **values: Any) -> None:
    """Change the row with these key values (the other half of `upsert`: an event that
    moves a fact on, such as a session delivered or a claim approved)."""
    rows.update(table, keys, values)
