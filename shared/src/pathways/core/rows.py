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
- an accumulate after an accumulate adds (or ORs) the values into one;
- any other pair cannot be one statement, so what is pending is written first.

A batch can also watch a table (`watch`): it then notes the groups (values of some of its
columns) of every row it writes, before and after, so a summary of that table can be
recomputed for those groups only (`pathways.core.summaries`). And it can drop the writes to
some tables (`drop`): a rebuild's, to the summaries it fills whole at the end.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Dialect, Table, bindparam, case, func, literal_column, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeEngine

UPSERT, UPDATE, INSERT_IF_ABSENT, ACCUMULATE = "upsert", "update", "insert_if_absent", "accumulate"
WATCH_CHUNK = 5000  # row keys per lookup of a watched table's groups (SQLite and PostgreSQL take this many parameters)


@dataclass(slots=True)
class _Write:
    kind: str
    values: dict[str, Any]


class Rows:
    """A connection inside one batch's transaction, with the batch's writes pending on it.
    Anything else a handler does with it (`execute`) first writes what is pending, so a
    read sees every earlier write of the batch."""

    def __init__(self, conn: Connection, watch: Mapping[Table, tuple[str, ...]] | None = None,
                 drop: frozenset[Table] = frozenset()) -> None:
        self.connection = conn
        self.dialect = conn.dialect
        self._pending: dict[Table, dict[tuple[Any, ...], _Write]] = {}
        self.statements = 0  # executions sent to the database: what a test counts
        self._watch = dict(watch or {})
        self.touched: dict[Table, set[tuple[Any, ...]]] = {}  # watched table -> groups its rows were or are in
        self._drop = drop  # tables whose writes are not made (a rebuild fills them whole at the end)

    # -- what handlers call ----------------------------------------------------------

    def upsert(self, table: Table, values: Mapping[str, Any], keys: Sequence[str]) -> None:
        if not _is_primary_key(table, tuple(keys)):
            self.execute(_upsert_statement(self.dialect.name, table, tuple(values), tuple(keys)), dict(values))
            return
        self._merge(table, _Write(UPSERT, dict(values)))

    def update(self, table: Table, keys: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        if not _is_primary_key(table, tuple(keys)):
            params = {f"key_{k}": v for k, v in keys.items()} | {f"new_{k}": v for k, v in values.items()}
            self.execute(_update_statement(table, tuple(keys), tuple(values)), params)
            return
        self._merge(table, _Write(UPDATE, dict(keys) | dict(values)))

    def insert_if_absent(self, table: Table, values: Mapping[str, Any]) -> None:
        self._merge(table, _Write(INSERT_IF_ABSENT, dict(values)))

    def accumulate(self, table: Table, values: Mapping[str, Any]) -> None:
        self._merge(table, _Write(ACCUMULATE, dict(values)))

    def execute(self, statement: Any, parameters: Any = None) -> Any:
        self.flush()
        self.statements += 1
        return self.connection.execute(statement, parameters) if parameters is not None else self.connection.execute(statement)

    # -- merging and writing -------------------------------------------------------------

    def _merge(self, table: Table, write: _Write) -> None:
        if table in self._drop:
            return
        rows = self._pending.setdefault(table, {})
        key = _key_of(table)(write.values)
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
        elif held.kind == ACCUMULATE and write.kind == ACCUMULATE:
            spec = dict(_accumulated(table))
            for column, value in write.values.items():  # a write may carry some of the counters only
                if column in spec and column in held.values:
                    held.values[column] = _COMBINE[spec[column]](held.values[column], value)
                else:
                    held.values[column] = value
        else:
            self.flush()
            self._pending.setdefault(table, {})[key] = write

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for table, rows in pending.items():
            by = self._watch.get(table)
            if by is not None:
                self._note_groups(table, by, list(rows))  # the groups its rows leave
            groups: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}
            for write in rows.values():
                groups.setdefault((write.kind, tuple(write.values)), []).append(write.values)  # handlers build rows in one order
            for (kind, columns), values in groups.items():
                self.statements += 1
                prepared = _prepare(self.dialect, kind, table, columns)
                if prepared is None:  # a default computed per row: SQLAlchemy computes it
                    self._execute_through_sqlalchemy(kind, table, columns, values)
                else:
                    self.connection.exec_driver_sql(prepared.sql, prepared.parameters(values))
            if by is not None:
                self._note_groups(table, by, list(rows))  # and the groups they join

    def _note_groups(self, table: Table, by: tuple[str, ...], keys: list[Any]) -> None:
        lookup = _group_lookup(self.dialect, table, by)
        found = self.touched.setdefault(table, set())
        for start in range(0, len(keys), WATCH_CHUNK):
            self.statements += 1
            found.update(lookup.groups(self.connection, keys[start:start + WATCH_CHUNK]))

    def _execute_through_sqlalchemy(self, kind: str, table: Table, columns: tuple[str, ...],
                                    values: list[dict[str, Any]]) -> None:
        if kind == UPDATE:
            keys = _primary_key(table)
            changed = tuple(c for c in columns if c not in keys)
            values = [{f"key_{k}": v[k] for k in keys} | {f"new_{c}": v[c] for c in changed} for v in values]
        self.connection.execute(_statement(self.dialect.name, kind, table, columns), values)


@functools.cache
def _primary_key(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.primary_key.columns)


@functools.lru_cache(maxsize=1024)
def _is_primary_key(table: Table, keys: tuple[str, ...]) -> bool:
    return set(keys) == set(_primary_key(table))


@functools.cache
def _key_of(table: Table) -> Callable[[dict[str, Any]], Any]:
    return operator.itemgetter(*_primary_key(table))


_COMBINE: dict[str, Callable[[Any, Any], Any]] = {"sum": operator.add, "or": operator.or_, "min": min}


@functools.cache
def _accumulated(table: Table) -> tuple[tuple[str, str], ...]:
    """The columns an accumulate adds into, and how: `Table(..., info={"accumulate": {"n": "sum", "days": "or"}})`
    ("min" keeps the least, e.g. the earliest day)."""
    spec: dict[str, str] = table.info.get("accumulate", {})
    if not spec or any(how not in _COMBINE for how in spec.values()):
        raise ValueError(f"{table.name}: accumulate needs info={{'accumulate': {{column: 'sum' | 'or'}}}}")
    return tuple(spec.items())


def _statement(dialect: str, kind: str, table: Table, columns: tuple[str, ...]) -> Any:
    if kind == ACCUMULATE:
        return _accumulate_statement(dialect, table, columns)
    if kind == UPSERT:
        return _upsert_statement(dialect, table, columns, _primary_key(table))
    if kind == INSERT_IF_ABSENT:
        return _insert_if_absent_statement(dialect, table, columns)
    keys = _primary_key(table)
    return _update_statement(table, keys, tuple(c for c in columns if c not in keys))


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A batch statement compiled once for its dialect, with the order of its parameters
    and each column type's conversion: a batch then costs the driver's `executemany` and
    one tuple per row. (SQLAlchemy's own executemany re-processes every parameter dict
    through the compiled statement, which cost more than SQLite spent storing the rows.)"""

    sql: str
    sources: tuple[str, ...]  # the row's column behind each parameter, in the statement's order
    names: tuple[str, ...]  # the parameters' names, for drivers that take named parameters
    convert: tuple[tuple[int, Callable[[Any], Any]], ...]  # (parameter index, conversion) where one is needed
    positional: bool
    defaults: dict[str, Any]  # columns the rows leave out, with the constant default each is inserted with

    def parameters(self, rows: list[dict[str, Any]]) -> list[Any]:
        if self.defaults:
            rows = [self.defaults | r for r in rows]
        get = operator.itemgetter(*self.sources)
        one = len(self.sources) == 1
        if not self.convert and self.positional:
            return [(get(r),) for r in rows] if one else [get(r) for r in rows]
        out: list[Any] = []
        for r in rows:
            values = [get(r)] if one else list(get(r))
            for i, f in self.convert:
                values[i] = f(values[i])
            out.append(tuple(values) if self.positional else dict(zip(self.names, values, strict=True)))
        return out


@dataclass(frozen=True, slots=True)
class _GroupLookup:
    """The groups (values of the `by` columns) of the rows with these keys, as one SQL
    string sent to the driver. SQLAlchemy's `key.in_(keys)` renders an expanding parameter
    per key on every execution: for a batch of a register import that was a quarter of the
    reporting service's CPU (py-spy, 50 of 210 samples), more than the batch's writes."""

    select: str  # SELECT DISTINCT <by> FROM <table> WHERE <key> IN (
    one_key: str  # a key's placeholder: `?` or `(?, ?)`
    composite: bool
    convert: tuple[Callable[[Any], Any] | None, ...]  # each key column's conversion for the driver
    result: tuple[Callable[[Any], Any] | None, ...]  # each `by` column's conversion from the driver

    def groups(self, connection: Connection, keys: list[Any]) -> set[tuple[Any, ...]]:
        if self.composite and not any(self.convert):
            params = list(itertools.chain.from_iterable(keys))
        elif self.composite:
            params = [f(v) if f else v for key in keys for f, v in zip(self.convert, key, strict=True)]
        else:
            f = self.convert[0]
            params = [f(k) for k in keys] if f else list(keys)
        sql = self.select + ", ".join([self.one_key] * len(keys)) + ")"
        rows = connection.exec_driver_sql(sql, tuple(params))
        if not any(self.result):
            return {tuple(r) for r in rows}
        return {tuple(f(v) if f else v for f, v in zip(self.result, r, strict=True)) for r in rows}


@functools.lru_cache(maxsize=1024)
def _group_lookup(dialect: Dialect, table: Table, by: tuple[str, ...]) -> _GroupLookup:
    quote = dialect.identifier_preparer.quote
    primary = _primary_key(table)
    mark = "?" if dialect.paramstyle == "qmark" else "%s"  # SQLite, or psycopg's positional style
    key = f"({', '.join(quote(k) for k in primary)})" if len(primary) > 1 else quote(primary[0])
    select_ = (f"SELECT DISTINCT {', '.join(quote(b) for b in by)} FROM {dialect.identifier_preparer.format_table(table)} "
               # a composite key as row values, written as SQLAlchemy writes them for the dialect
               # (SQLite takes a list of them only as VALUES)
               f"WHERE {key} IN ({'VALUES ' if len(primary) > 1 and dialect.tuple_in_values else ''}")
    one = f"({', '.join([mark] * len(primary))})" if len(primary) > 1 else mark
    convert = tuple(_conversion(table.c[k].type, dialect) for k in primary)
    result = tuple(table.c[b].type.dialect_impl(dialect).result_processor(dialect, None) for b in by)
    return _GroupLookup(select_, one, len(primary) > 1, convert, result)


def _conversion(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    process: Callable[[Any], Any] | None = column_type.dialect_impl(dialect).bind_processor(dialect)
    if process is None or dialect.name != "sqlite":
        return process
    # SQLite keeps dates as ISO text; SQLAlchemy's formatter is the same text, made slower.
    if isinstance(column_type, sqltypes.Date) and not isinstance(column_type, sqltypes.DateTime):
        return lambda v: v.isoformat() if type(v) is date else process(v)
    return process


@functools.lru_cache(maxsize=1024)
def _prepare(dialect: Dialect, kind: str, table: Table, columns: tuple[str, ...]) -> _Prepared | None:
    keys = _primary_key(table)
    defaults: dict[str, Any] = {}
    if kind == UPDATE:
        changed = tuple(c for c in columns if c not in keys)
        column_of = {f"key_{k}": k for k in keys} | {f"new_{c}": c for c in changed}
    else:
        # A column the rows leave out whose default is a constant (a flag that starts False)
        # is inserted with that constant here, as SQLAlchemy would insert it, so the table
        # keeps the fast path; only the insert carries it, never an upsert's update of a row
        # already there (the statement's SET names the rows' own columns). A default computed
        # per row (a callable, SQL) still goes through SQLAlchemy. Seen: every enrolment's
        # roster row went the slow way in the registry under load (py-spy, 8 % of its samples).
        for column in table.columns:
            if column.name not in columns and column.default is not None:
                if not getattr(column.default, "is_scalar", False):
                    return None
                defaults[column.name] = column.default.arg  # type: ignore[attr-defined]
        column_of = {c: c for c in (*columns, *defaults)}
    compiled = _statement(dialect.name, kind, table, columns).compile(dialect=dialect, column_keys=list(column_of))
    if compiled.insert_prefetch or compiled.update_prefetch or compiled.escaped_bind_names:
        return None
    positional = compiled.positiontup is not None
    names = tuple(compiled.positiontup) if compiled.positiontup is not None else tuple(compiled.binds)
    if set(names) != set(column_of):
        return None  # a parameter the rows do not carry: leave it to SQLAlchemy
    sources = tuple(column_of[n] for n in names)
    conversions = ((i, _conversion(compiled.binds[n].type, dialect)) for i, n in enumerate(names))
    convert = tuple((i, f) for i, f in conversions if f is not None)
    return _Prepared(compiled.string, sources, names, convert, positional, defaults)


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


def _combined(how: str, held: Any, new: Any) -> Any:
    """A counter as stored (NULL when no write has carried it yet) combined with a new value."""
    # The 0 is written into the SQL, not bound: a bound literal is a parameter the rows do
    # not carry, which sent every sum and OR accumulate down SQLAlchemy's slow path.
    zero: Any = literal_column("0")
    if how == "sum":
        return func.coalesce(held, zero) + new
    if how == "or":
        return func.coalesce(held, zero).op("|")(new)
    return case((or_(held.is_(None), new < held), new), else_=held)  # min, on SQLite and PostgreSQL alike


@functools.lru_cache(maxsize=1024)
def _accumulate_statement(dialect: str, table: Table, columns: tuple[str, ...]) -> Any:
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    updates = {c: _combined(how, table.c[c], stmt.excluded[c]) for c, how in _accumulated(table) if c in columns}
    return stmt.on_conflict_do_update(index_elements=list(_primary_key(table)), set_=updates)


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


def accumulate(rows: Rows, table: Table, values: Mapping[str, Any]) -> None:
    """Add into a row of counters (or OR into a mask), inserting it if it is not there: a
    summary a fact only ever adds to. Not idempotent by itself, as a sum is not; the
    projection's position applies each event once."""
    rows.accumulate(table, values)


def update(rows: Rows, table: Table, keys: Mapping[str, Any], **values: Any) -> None:
    """Change the row with these key values (the other half of `upsert`: an event that
    moves a fact on, such as a session delivered or a claim approved)."""
    rows.update(table, keys, values)
