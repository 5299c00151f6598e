"""A runner's bookkeeping per batch, counted: where its projections stand is read and
written in one statement each, however many projections it keeps (pathways.core.positions),
and each still ends exactly where it would alone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from nats.aio.client import Client
from pathways.core.positions import read_anchor, read_positions, write_position
from pathways.core.projection import Gap, Projection, Rows, Tables, apply_batch
from pathways.core.readmodels import make_engine
from pathways.jetstream.runner import ProjectionRunner
from pathways.runtime.host import ServiceHost
from pathways_registry.readmodel import ROSTER
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, event, select

from tests.conftest import CommandClient
from tests.test_cost_counting import counted, enrolled_events, enrolment_template


def counter(name: str, meta: MetaData) -> Projection:
    """A read model of the registry's context that counts its enrolments in a table of its own."""
    table = Table(f"bk_{name}", meta, Column("programme_id", String(64), primary_key=True), Column("n", Integer),
                  info={"accumulate": {"n": "sum"}})

    def enrolled(rows: Rows, t: Tables, _: Any, d: dict[str, Any], __: int) -> None:
        rows.accumulate(t[table.name], {"programme_id": d["programme_id"], "n": 1})

    return Projection(name=f"bk_{name}", tables=[table], handlers={"pathways.registry.ParticipantEnrolled": enrolled})


def engine_for(database: str, request: pytest.FixtureRequest, tmp_path: Any, name: str) -> Engine:
    url = request.getfixturevalue("fresh_postgres") if database == "postgres" else f"sqlite:///{tmp_path / f'{name}.db'}"
    return make_engine(url)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_runner_reads_and_writes_its_positions_in_one_statement_each_however_many_projections_it_keeps(
    registry: ServiceHost, client: CommandClient, nats_client: Client, request: pytest.FixtureRequest,
    tmp_path: Any, database: str,
) -> None:
    template = await enrolment_template(client, nats_client)
    events = enrolled_events(template, 30, 1)
    per_batch: dict[int, list[str]] = {}
    for kept in (1, 4):
        meta = MetaData()
        projections = [counter(f"{kept}_{i}", meta) for i in range(kept)]
        engine = engine_for(database, request, tmp_path, f"kept{kept}")
        runner = ProjectionRunner(projections, engine, None)
        runner.create_tables()
        statements = counted(engine)
        stored = runner._apply(events, 0)
        per_batch[kept] = list(statements)
        assert stored == {q.name: 30 for q in projections}
        with engine.connect() as conn:
            assert read_positions(conn, stored) == stored
            for q in projections:
                assert read_anchor(conn, q.name) == (30, events[-1].event.id)  # the last event, by its id
                assert conn.execute(select(q.tables[0].c.n)).scalar() == 30  # every event counted once
        # Idle: the consumer has looked through sequence 45 and nothing it reads came since.
        del statements[:]
        assert runner._apply([], 45) == {q.name: 45 for q in projections}
        idle = list(statements)
        # The same batch again (redelivered after a crash): nothing counted twice, nothing moved back.
        assert runner._apply(events, 0) == {q.name: 45 for q in projections}
        with engine.connect() as conn:
            assert read_positions(conn, stored) == {q.name: 45 for q in projections}
            assert all(conn.execute(select(q.tables[0].c.n)).scalar() == 30 for q in projections)
        assert len(idle) == 2, idle  # the positions read, then written; no anchor (no event read)
        engine.dispose()
    rows = [sql for sql in per_batch[4] if "bk_" in sql]
    bookkeeping = [sql for sql in per_batch[4] if "bk_" not in sql]
    assert len(rows) == 4  # one write per projection's table for the whole batch
    assert len(bookkeeping) == len([sql for sql in per_batch[1] if "bk_" not in sql]) == 3, bookkeeping


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_runner_of_several_projections_ends_where_each_ends_alone(
    registry: ServiceHost, client: CommandClient, nats_client: Client, request: pytest.FixtureRequest,
    tmp_path: Any, database: str,
) -> None:
    """Batches applied by a runner of the roster, two counters and a read model of another
    context (which reads none of these events), then an idle cover, leave each position,
    anchor and row as `apply_batch` and a cover leave them for one alone; and a position
    moved back behind the runner (a rebuild swapped in) is a Gap, not applied over."""
    template = await enrolment_template(client, nats_client)
    events = enrolled_events(template, 25, 1)
    meta = MetaData()
    elsewhere = Projection(name="bk_sessions", tables=[Table("bk_sessions", meta, Column("k", String(8), primary_key=True))],
                           handlers={"pathways.sessions.SessionScheduled": lambda *_: None})
    projections = [ROSTER, counter("a", meta), elsewhere, counter("b", meta)]
    engine = engine_for(database, request, tmp_path, "together")
    runner = ProjectionRunner(projections, engine, None)
    runner.create_tables()
    for start, end, looked in ((0, 7, 0), (7, 8, 0), (8, 25, 0), (25, 25, 31)):  # the last: idle, looked through 31
        runner._stored = runner._apply(events[start:end], looked)  # as its consumer loop keeps them
    with engine.connect() as conn:
        assert read_positions(conn, [q.name for q in projections]) == {q.name: 31 for q in projections}
        assert read_anchor(conn, elsewhere.name) is None  # it read no event
    for q in (ROSTER, projections[1], projections[3]):  # each alone, into copies of its tables in the same database
        copies = MetaData()
        alone = {t.name: t.to_metadata(copies, name=f"{t.name}_alone") for t in q.tables}
        copies.create_all(engine)
        with engine.begin() as conn:
            assert apply_batch(conn, q, alone, f"{q.name}_alone", events) == 25
        with engine.connect() as conn:
            assert read_anchor(conn, q.name) == read_anchor(conn, f"{q.name}_alone") == (25, events[-1].event.id)
            written = 0
            for table in q.tables:
                mine, theirs = (sorted(map(tuple, conn.execute(select(t)).all())) for t in (table, alone[table.name]))
                assert mine == theirs
                written += len(mine)
            assert written >= 1  # each wrote rows: the comparison compared something
    with engine.begin() as conn:
        write_position(conn, projections[1].name, 3)  # as a rebuild swapped in behind the runner would leave it
    with pytest.raises(Gap):
        runner._apply(enrolled_events(template, 2, 32), 0)
    with engine.connect() as conn:  # nothing of the refused batch was written, for any of them
        assert read_positions(conn, [q.name for q in projections]) == {q.name: 3 if q is projections[1] else 31
                                                                        for q in projections}
    engine.dispose()


def two_counters(prefix: str) -> list[Projection]:
    meta = MetaData()
    return [counter(f"{prefix}_{n}", meta) for n in ("a", "b")]


def two_engines(request: pytest.FixtureRequest, database: str, tmp_path: Any) -> tuple[Engine, Engine]:
    """Two engines on one database, as two writers (replicas, or a runner and a rebuild) have."""
    url = request.getfixturevalue("fresh_postgres") if database == "postgres" else f"sqlite:///{tmp_path / 'shared.db'}"
    return make_engine(url), make_engine(url)


def between_read_and_write(engine: Engine, other: Callable[[], Any]) -> tuple[list[bool], list[threading.Thread]]:
    """Starts `other` in a thread of its own (another connection, as a second runner or a
    rebuild's swap would use) right after `engine` has read its positions, and notes whether
    it was still waiting a second later, as it must be while the reader holds them."""
    waited: list[bool] = []
    threads: list[threading.Thread] = []

    def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM projection_position" in statement and not threads:
            threads.append(threading.Thread(target=other))
            threads[0].start()
            threads[0].join(1.0)
            waited.append(threads[0].is_alive())

    event.listen(engine, "after_cursor_execute", after)
    return waited, threads


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_another_writer_between_a_runners_read_and_write_waits_and_nothing_is_applied_twice(
    registry: ServiceHost, client: CommandClient, nats_client: Client, request: pytest.FixtureRequest,
    tmp_path: Any, database: str,
) -> None:
    """Two runners of the same read models on one database (two replicas), the second
    applying events 1-10 while the first is between reading its positions and writing its
    batch of 1-5: the second waits, then applies only what the first had not; every event is
    counted once and no position goes back. (On SQLite the positions were read before the
    driver's transaction began, and the first runner wrote 5 over 10 and counted 1-5 twice.)"""
    events = enrolled_events(await enrolment_template(client, nats_client), 10, 1)
    projections, (first, second) = two_counters("twice"), two_engines(request, database, tmp_path)
    one, two = ProjectionRunner(projections, first, None), ProjectionRunner(projections, second, None)
    one.create_tables()
    two.create_tables()
    waited, threads = between_read_and_write(first, lambda: two._apply(events, 0))
    one._stored = one._apply(events[:5], 0)
    threads[0].join(60)
    assert waited == [True]  # the second runner waited for the first to commit
    with first.connect() as conn:
        assert read_positions(conn, [q.name for q in projections]) == {q.name: 10 for q in projections}
        assert [conn.execute(select(q.tables[0].c.n)).scalar() for q in projections] == [10, 10]
    first.dispose()
    second.dispose()


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_swap_between_a_runners_read_and_write_waits_and_the_runner_then_finds_the_gap(
    registry: ServiceHost, client: CommandClient, nats_client: Client, request: pytest.FixtureRequest,
    tmp_path: Any, database: str,
) -> None:
    """A rebuild's swap putting a position back (to 3) while a runner is between reading its
    positions and writing them: the swap waits for the runner's batch, its position then
    stands, and the runner's next batch is a Gap, not applied over it."""
    events = enrolled_events(await enrolment_template(client, nats_client), 30, 1)
    projections, (runner_engine, swap_engine) = two_counters("swap"), two_engines(request, database, tmp_path)
    runner = ProjectionRunner(projections, runner_engine, None)
    runner.create_tables()
    runner._stored = runner._apply(events[:10], 0)

    def swap() -> None:
        with swap_engine.begin() as conn:
            read_positions(conn, [projections[0].name], for_update=True)
            write_position(conn, projections[0].name, 3)

    waited, threads = between_read_and_write(runner_engine, swap)
    runner._stored = runner._apply(events[10:20], 0)
    threads[0].join(60)
    assert waited == [True]  # the swap waited for the runner's batch
    with runner_engine.connect() as conn:
        assert read_positions(conn, [q.name for q in projections]) == {projections[0].name: 3, projections[1].name: 20}
    with pytest.raises(Gap):
        runner._apply(events[20:30], 0)
    runner_engine.dispose()
    swap_engine.dispose()
