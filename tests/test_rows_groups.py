"""A watched table's groups (pathways.core.rows: the groups a batch's rows leave and join,
which pathways.core.summaries recomputes) are found by a statement sent to the driver, not
by SQLAlchemy's expanding IN. Against the oracle, SQLAlchemy's own select of the same
columns before and after the writes, over random rows and batches: keys of one column and
of several, dates in the key and in the group (SQLite keeps them as text), keys not in the
table, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pathways.core import rows as rows_module
from pathways.core.rows import Rows
from sqlalchemy import Column, Date, Engine, Integer, MetaData, String, Table, select, tuple_

DAYS = st.dates(min_value=date(2024, 1, 1), max_value=date(2024, 1, 9))
IDS = st.sampled_from(["a", "B", "c-1", "é", "a b"])
# Each kind of table a summary watches: (key columns, group columns).
SHAPES = {
    "two_text_keys": (("programme", "item"), ("programme", "on")),
    "one_date_key": (("on",), ("label", "n")),
    "text_and_date_key": (("programme", "on"), ("on", "label")),
}


def table_for(meta: MetaData, shape: str) -> Table:
    keys, _ = SHAPES[shape]
    types = {"programme": String, "item": String, "on": Date, "label": String, "n": Integer}
    return Table(f"groups_{shape}_{uuid.uuid4().hex[:8]}", meta,
                 *(Column(name, kind, primary_key=name in keys) for name, kind in types.items()))


@st.composite
def a_row(draw: st.DrawFn) -> dict[str, Any]:
    return {"programme": draw(IDS), "item": draw(IDS), "on": draw(DAYS), "label": draw(st.sampled_from(["x", "y", "Z"])),
            "n": draw(st.integers(0, 3))}


def groups_through_sqlalchemy(conn: Any, table: Table, keys: tuple[str, ...], by: tuple[str, ...],
                              written: list[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    key = tuple_(*(table.c[k] for k in keys)) if len(keys) > 1 else table.c[keys[0]]
    wanted = written if len(keys) > 1 else [w[0] for w in written]
    return {tuple(r) for r in conn.execute(select(*(table.c[b] for b in by)).distinct().where(key.in_(wanted)))}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.sampled_from(sorted(SHAPES)), there=st.lists(a_row(), max_size=12),
       batch=st.lists(a_row(), min_size=1, max_size=12),
       chunk=st.sampled_from([1, 2, 5000]))
def test_the_groups_a_batch_touches_are_those_sqlalchemy_finds_before_and_after(
    database: Engine, monkeypatch: pytest.MonkeyPatch, shape: str, there: list[dict[str, Any]],
    batch: list[dict[str, Any]], chunk: int,
) -> None:
    keys, by = SHAPES[shape]
    meta = MetaData()
    table = table_for(meta, shape)
    meta.create_all(database)
    monkeypatch.setattr(rows_module, "WATCH_CHUNK", chunk)  # a batch's keys in several lookups, too
    try:
        with database.begin() as conn:
            seed = Rows(conn)
            for row in there:
                seed.upsert(table, row, keys)
            seed.flush()
        with database.begin() as conn:
            written = list(dict.fromkeys(tuple(r[k] for k in keys) for r in batch))
            expected = groups_through_sqlalchemy(conn, table, keys, by, written)  # the groups the rows leave
            writer = Rows(conn, watch={table: by})
            for row in batch:
                writer.upsert(table, row, keys)
            writer.flush()
            expected |= groups_through_sqlalchemy(conn, table, keys, by, written)  # and the groups they join
            assert writer.touched[table] == expected
            # The same values and types as SQLAlchemy gives (a day is a date, not SQLite's text).
            assert {tuple(map(type, g)) for g in writer.touched[table]} == {tuple(map(type, g)) for g in expected}
    finally:
        meta.drop_all(database)


def test_a_watched_batch_costs_two_lookups_per_table_whatever_its_rows(database: Engine) -> None:
    meta = MetaData()
    table = table_for(meta, "two_text_keys")
    meta.create_all(database)
    try:
        counts = []
        for size in (10, 1000):
            with database.begin() as conn:
                writer = Rows(conn, watch={table: SHAPES["two_text_keys"][1]})
                for i in range(size):
                    writer.upsert(table, {"programme": "p", "item": f"{size}-{i}", "on": date(2024, 1, 1 + i % 9),
                                          "label": "x", "n": i}, ("programme", "item"))
                writer.flush()
                counts.append(writer.statements)
                assert len(writer.touched[table]) == min(size, 9)
        assert counts[0] == counts[1] == 3  # the groups before, the upsert, the groups after
    finally:
        meta.drop_all(database)
