"""The batch writer (pathways.core.rows) against the meaning of its writes: any sequence of
upserts, updates and inserts-if-absent, merged and sent per table through the driver, leaves
exactly the rows that the same writes leave when each is executed on its own through
SQLAlchemy — on SQLite and on PostgreSQL, with the column types read models use."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pathways.core.rows import Rows
from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Engine, Integer, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

KEYS = st.sampled_from(["a", "b", "c"])
# PostgreSQL text holds no NUL; no stored event holds a lone surrogate (the intake refuses one).
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
VALUES = {
    "label": st.one_of(st.none(), TEXT),
    "amount": st.one_of(st.none(), st.integers(-(2**31) + 1, 2**31 - 1)),
    "on": st.one_of(st.none(), st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))),
    "at": st.one_of(st.none(), st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1))),
    "flag": st.one_of(st.none(), st.booleans()),
    "extra": st.one_of(st.none(), st.dictionaries(TEXT, st.integers(0, 9), max_size=3)),
}


@st.composite
def a_write(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(["upsert", "update", "insert_if_absent"]))
    columns = draw(st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=len(VALUES), unique=True))
    row = {"programme": draw(st.sampled_from(["p1", "p2"])), "item": draw(KEYS)}
    return kind, row | {c: draw(VALUES[c]) for c in columns}


def table_in(meta: MetaData, name: str) -> Table:
    return Table(
        name, meta,
        Column("programme", String, primary_key=True), Column("item", String, primary_key=True),
        Column("label", String), Column("amount", Integer), Column("on", Date), Column("at", DateTime),
        Column("flag", Boolean), Column("extra", JSON),
    )


def one_by_one(conn: Any, table: Table, kind: str, row: dict[str, Any]) -> None:
    """Each write as its own statement: the meaning the batch must keep."""
    keys = {"programme": row["programme"], "item": row["item"]}
    rest = {k: v for k, v in row.items() if k not in keys}
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table).values(row)
    if kind == "upsert" and rest:
        conn.execute(insert.on_conflict_do_update(index_elements=list(keys), set_=rest))
    elif kind in ("insert_if_absent", "upsert"):  # an upsert of the key alone changes nothing of a row there
        conn.execute(insert.on_conflict_do_nothing(index_elements=list(keys)))
    else:
        conn.execute(table.update().where(*(table.c[k] == v for k, v in keys.items())).values(rest))


def rows_of(engine: Engine, table: Table) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return sorted((tuple(r) for r in conn.execute(select(table))), key=repr)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(a_write(), min_size=1, max_size=40))
def test_a_batch_leaves_the_rows_its_writes_leave_one_by_one(database: Engine, writes: list[tuple[str, dict[str, Any]]]) -> None:
    meta = MetaData()
    suffix = uuid.uuid4().hex[:8]
    batched, reference = table_in(meta, f"rows_batched_{suffix}"), table_in(meta, f"rows_reference_{suffix}")
    meta.create_all(database)
    try:
        with database.begin() as conn:
            rows = Rows(conn)
            for kind, row in writes:
                if kind == "upsert":
                    rows.upsert(batched, row, ["programme", "item"])
                elif kind == "insert_if_absent":
                    rows.insert_if_absent(batched, row)
                else:
                    keys = {"programme": row["programme"], "item": row["item"]}
                    rows.update(batched, keys, {k: v for k, v in row.items() if k not in keys})
            rows.flush()
            for kind, row in writes:
                one_by_one(conn, reference, kind, row)
        assert rows_of(database, batched) == rows_of(database, reference)
        assert rows.statements <= len(writes)  # merged, never more statements than writes
    finally:
        meta.drop_all(database)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(st.tuples(st.sampled_from("ab"), st.none() | st.integers(1, 9), st.none() | st.integers(0, 30),
                                 st.none() | st.dates(date(2025, 1, 1), date(2025, 12, 31)), st.booleans()),
                       min_size=1, max_size=40))
def test_accumulated_counters_are_what_the_writes_add_or_or_or_keep_least_in_one_batch_or_many(
    database: Engine, writes: list[tuple[str, int | None, int | None, date | None, bool]],
) -> None:
    """Writes that carry some of the counters only, merged within a batch and across the
    flushes a read forces: each counter ends as the sum, OR or least of what was written."""
    meta = MetaData()
    table = Table(f"acc_{uuid.uuid4().hex[:8]}", meta, Column("k", String(8), primary_key=True),
                  Column("n", Integer), Column("bits", Integer), Column("first", Date),
                  info={"accumulate": {"n": "sum", "bits": "or", "first": "min"}})
    meta.create_all(database)
    want: dict[str, dict[str, Any]] = {}
    with database.begin() as conn:
        rows = Rows(conn)
        for key, n, bit, first, read_after in writes:
            values: dict[str, Any] = {"k": key}
            held = want.setdefault(key, {"n": None, "bits": None, "first": None})
            for column, value, combine in (("n", n, lambda x, y: x + y), ("bits", 1 << bit if bit is not None else None,
                                                                            lambda x, y: x | y), ("first", first, min)):
                if value is not None:
                    values[column] = value
                    held[column] = value if held[column] is None else combine(held[column], value)
            if len(values) == 1:
                values["n"], held["n"] = 0, held["n"] or 0  # at least one counter per write
            rows.accumulate(table, values)
            if read_after:
                rows.execute(select(table))  # a read writes what is pending first
        rows.flush()
    got = {r.k: {"n": r.n, "bits": r.bits, "first": r.first} for r in rows_of_table(database, table)}
    assert got == want


def rows_of_table(engine: Engine, table: Table) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(table)))


def defaulted_table_in(meta: MetaData, name: str) -> Table:
    return Table(
        name, meta,
        Column("programme", String, primary_key=True), Column("item", String, primary_key=True),
        Column("label", String, default="new"), Column("flag", Boolean, nullable=False, default=False),
        Column("amount", Integer), Column("since", Date, default=date(2025, 1, 6)),  # a conversion on SQLite
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(st.tuples(st.sampled_from(["upsert", "insert_if_absent"]), st.sampled_from(["p1", "p2"]), KEYS,
                                 st.dictionaries(st.sampled_from(["label", "flag", "amount"]),
                                                 st.one_of(TEXT, st.booleans(), st.integers(0, 99)), max_size=3),
                                 st.booleans()),
                       min_size=1, max_size=30))
def test_rows_that_leave_out_a_column_with_a_constant_default_get_it_on_the_fast_path(
    database: Engine, writes: list[tuple[str, str, str, dict[str, Any], bool]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A column the rows leave out whose default is a constant is inserted with it, as
    SQLAlchemy inserts it, and an upsert of a row already there does not reset it to the
    default; all without SQLAlchemy's per-row path (which every roster enrolment took)."""
    slow: list[str] = []
    original = Rows._execute_through_sqlalchemy
    monkeypatch.setattr(Rows, "_execute_through_sqlalchemy",
                        lambda self, kind, table, *rest: slow.append(kind) or original(self, kind, table, *rest))
    meta = MetaData()
    tag = uuid.uuid4().hex[:8]
    batched, single = defaulted_table_in(meta, f"dflt_b_{tag}"), defaulted_table_in(meta, f"dflt_s_{tag}")
    meta.create_all(database)
    typed = {"label": lambda v: str(v), "flag": lambda v: bool(v), "amount": lambda v: v if type(v) is int else len(str(v))}
    with database.begin() as conn:
        rows = Rows(conn)
        for kind, programme, item, values, flush in writes:
            row = {"programme": programme, "item": item} | {k: typed[k](v) for k, v in values.items()}
            getattr(rows, kind)(batched, row, *([["programme", "item"]] if kind == "upsert" else []))
            if flush:  # otherwise merged with the writes after it, rows of several shapes in one flush
                rows.flush()
            one_by_one(conn, single, kind, row)
        rows.flush()
    try:
        assert [r[:] for r in rows_of(database, batched)] == [r[:] for r in rows_of(database, single)]
        assert slow == []
    finally:
        meta.drop_all(database)


def test_sum_and_or_accumulates_take_the_fast_path(database: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The 0 of `coalesce(n, 0)` is written into the SQL: bound, it was a parameter the rows
    do not carry, and every day counter of the reporting read model went the slow way."""
    slow: list[str] = []
    monkeypatch.setattr(Rows, "_execute_through_sqlalchemy", lambda self, kind, *rest: slow.append(kind))
    meta = MetaData()
    table = Table(f"acc_{uuid.uuid4().hex[:8]}", meta, Column("k", String(8), primary_key=True),
                  Column("n", Integer), Column("bits", Integer),
                  Column("left_out", Integer, nullable=False, default=0),  # as reporting_survey_day's counters
                  info={"accumulate": {"n": "sum", "bits": "or", "left_out": "sum"}})
    meta.create_all(database)
    try:
        with database.begin() as conn:
            rows = Rows(conn)
            for _ in range(2):
                rows.accumulate(table, {"k": "a", "n": 2, "bits": 4})
                rows.flush()
            rows.accumulate(table, {"k": "a", "left_out": 3})
            rows.flush()
        assert slow == []
        assert [tuple(r) for r in rows_of_table(database, table)] == [("a", 4, 4, 3)]
    finally:
        meta.drop_all(database)


def test_defaults_computed_per_row_still_go_through_sqlalchemy_and_are_computed(
    database: Engine, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A default the batch cannot know as a constant (a Python callable, a SQL expression, an
    onupdate) is left to SQLAlchemy's per-row path, which computes it: the fast path must not
    insert the function itself, a NULL, or skip the onupdate."""
    from sqlalchemy import func, literal

    slow: list[str] = []
    original = Rows._execute_through_sqlalchemy
    monkeypatch.setattr(Rows, "_execute_through_sqlalchemy", lambda self, kind, table, *rest:
                        slow.append(f"{kind} {table.name}") or original(self, kind, table, *rest))
    calls = iter(range(1, 1000))
    meta = MetaData()
    tag = uuid.uuid4().hex[:8]
    callable_t = Table(f"dcall_{tag}", meta, Column("k", String(8), primary_key=True), Column("n", Integer),
                       Column("stamp", Integer, default=lambda: next(calls)))
    sql_t = Table(f"dsql_{tag}", meta, Column("k", String(8), primary_key=True), Column("n", Integer),
                  Column("label", String(16), default=func.lower(literal("CHOSEN BY SQL"))))
    touched_t = Table(f"dupd_{tag}", meta, Column("k", String(8), primary_key=True), Column("n", Integer),
                      Column("edits", Integer, default=0, onupdate=lambda: 7))
    constant_t = Table(f"dconst_{tag}", meta, Column("k", String(8), primary_key=True), Column("n", Integer),
                       Column("flag", Boolean, default=True))
    meta.create_all(database)
    try:
        with database.begin() as conn:
            rows = Rows(conn)
            for table in (callable_t, sql_t, touched_t, constant_t):
                rows.insert_if_absent(table, {"k": "a", "n": 1})
                rows.insert_if_absent(table, {"k": "b", "n": 2})
            rows.flush()
            rows.update(touched_t, {"k": "a"}, {"n": 5})
            rows.flush()
        assert sorted(tuple(r) for r in rows_of_table(database, callable_t)) == [("a", 1, 1), ("b", 2, 2)]
        assert sorted(tuple(r) for r in rows_of_table(database, sql_t)) == [("a", 1, "chosen by sql"), ("b", 2, "chosen by sql")]
        assert sorted(tuple(r) for r in rows_of_table(database, touched_t)) == [("a", 5, 7), ("b", 2, 0)]
        assert sorted(tuple(r) for r in rows_of_table(database, constant_t)) == [("a", 1, True), ("b", 2, True)]
        assert sorted(slow) == sorted([f"insert_if_absent {callable_t.name}", f"insert_if_absent {sql_t.name}",
                                       f"update {touched_t.name}"]), slow  # the constant one kept the fast path
    finally:
        meta.drop_all(database)
