"""Two versions of a service on one read-model database (a rolling upgrade): the newer one
does not tear down tables the older one is still writing, the older one does not tear down
the newer one's, and once the other has gone quiet the tables are taken over and rebuilt
once. Without the guard they would be dropped back and forth for as long as both ran."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client
from pathways.core.projection import Projection, read_position, write_position
from pathways.core.readmodel_tables import WRITER_TIMEOUT, AnotherVersionWrites, ProjectionWriter, beat, prepare_tables, shape
from pathways.core.readmodels import make_engine
from pathways.jetstream.runner import ProjectionRunner
from pathways.runtime.service import discover
from pathways.testing.servers import NatsEndpoint
from sqlalchemy import Column, Engine, Index, Integer, MetaData, String, Table, create_engine, insert, inspect, select, text
from sqlalchemy.engine import make_url


def version(columns: list[str]) -> Projection:
    table = Table("attendance_by_partner", MetaData(), Column("partner", String, primary_key=True),
                  *(Column(c, Integer) for c in columns))
    return Projection("sessions_attendance", [table], {})


OLD, NEW = version(["sessions"]), version(["sessions", "attendances"])


def columns(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {c["name"] for c in inspect(conn).get_columns("attendance_by_partner")}


def test_neither_version_drops_the_tables_the_other_is_writing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    with engine.begin() as conn:
        prepare_tables(conn, [OLD], now=1000.0)
        conn.execute(insert(OLD.tables[0]).values(partner="archery-together", sessions=12))
        write_position(conn, OLD.name, 40)
    with pytest.raises(AnotherVersionWrites), engine.begin() as conn:  # the old one beat 5 s ago
        prepare_tables(conn, [NEW], now=1005.0)
    assert columns(engine) == {"partner", "sessions"}
    with engine.begin() as conn:  # the old one restarting keeps its tables and rows
        prepare_tables(conn, [OLD], now=1010.0)
        assert conn.execute(select(OLD.tables[0].c.sessions)).scalar() == 12
        assert read_position(conn, OLD.name) == 40
    with engine.begin() as conn:  # quiet for longer than the timeout: taken over, rebuilt from the start
        prepare_tables(conn, [NEW], now=1010.0 + WRITER_TIMEOUT + 1)
        assert read_position(conn, NEW.name) == 0
    assert columns(engine) == {"partner", "sessions", "attendances"}
    with pytest.raises(AnotherVersionWrites), engine.begin() as conn:  # and the old one leaves the new one's alone
        prepare_tables(conn, [OLD], now=1010.0 + WRITER_TIMEOUT + 2)
    assert columns(engine) == {"partner", "sessions", "attendances"}


async def test_a_runner_waits_while_another_version_writes_instead_of_rebuilding(
    nats_client: Client, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    with engine.begin() as conn:
        prepare_tables(conn, [OLD])  # the old version, beating now
    newer = ProjectionRunner(NEW, engine, nats_client)
    stop = asyncio.Event()
    running = asyncio.create_task(newer.run(stop))
    await asyncio.sleep(1.0)
    assert not running.done()  # waiting, not crashed
    assert columns(engine) == {"partner", "sessions"} and newer.position == 0
    stop.set()
    await asyncio.wait_for(running, 15)


def test_an_older_version_beating_after_the_takeover_does_not_claim_the_tables_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    with engine.begin() as conn:
        prepare_tables(conn, [OLD], now=1000.0)
    with engine.begin() as conn:  # the old one went quiet; the new one took the tables over
        prepare_tables(conn, [NEW], now=1000.0 + WRITER_TIMEOUT + 1)
    with engine.begin() as conn:  # the old one wakes up and beats once more before its writes fail
        beat(conn, [OLD], now=1000.0 + WRITER_TIMEOUT + 5)
    with pytest.raises(AnotherVersionWrites), engine.begin() as conn:  # restarted, it leaves the new one's alone
        prepare_tables(conn, [OLD], now=1000.0 + WRITER_TIMEOUT + 6)
    assert columns(engine) == {"partner", "sessions", "attendances"}
    with engine.connect() as conn:
        assert conn.execute(select(ProjectionWriter.shape)).scalar() == shape(NEW)  # type: ignore[call-overload]


def test_no_table_is_dropped_when_any_projection_of_the_runner_must_wait(tmp_path: Path) -> None:
    """Two projections in one runner: the first may be rebuilt, the second is another live
    version's. Nothing is dropped (SQLite commits DDL at once, so a late refusal would not undo it)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    other = Table("showcase_by_partner", MetaData(), Column("partner", String, primary_key=True),
                  Column("showcases", Integer))
    other_new = Table("showcase_by_partner", MetaData(), Column("partner", String, primary_key=True),
                      Column("showcases", Integer), Column("visitors", Integer))
    with engine.begin() as conn:
        prepare_tables(conn, [OLD], now=1000.0)  # quiet long ago
        prepare_tables(conn, [Projection("sessions_showcases", [other], {})], now=2000.0)  # beating now
    with pytest.raises(AnotherVersionWrites), engine.begin() as conn:
        prepare_tables(conn, [NEW, Projection("sessions_showcases", [other_new], {})], now=2005.0)
    assert columns(engine) == {"partner", "sessions"}



def _indexed(name: str, indexed: bool) -> Projection:
    table = Table(name, MetaData(), Column("partner", String(64), primary_key=True), Column("sessions", Integer),
                  *([Index(f"{name}_by_sessions", "sessions")] if indexed else []))
    return Projection(f"{name}_projection", [table], {})


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_index_added_since_is_built_on_the_rows_there_are_without_a_rebuild(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A version whose tables differ only by an index (a query made cheaper) keeps the rows and
    the position, and the index is there; the planner can use it at once."""
    engine = make_engine(request.getfixturevalue("postgres") if backend == "postgres" else f"sqlite:///{tmp_path / 'x.db'}")
    name = f"idx{uuid.uuid4().hex[:8]}"
    before, after = _indexed(name, False), _indexed(name, True)
    with engine.begin() as conn:
        prepare_tables(conn, [before], now=1000.0)
        conn.execute(insert(before.tables[0]).values(partner="archery-together", sessions=12))
        write_position(conn, before.name, 40)
    try:
        with engine.begin() as conn:  # the same columns: no rebuild, even with the older one beating
            prepare_tables(conn, [after], now=1001.0)
            assert read_position(conn, after.name) == 40
            assert conn.execute(select(after.tables[0].c.sessions)).scalar() == 12
            assert f"{name}_by_sessions" in {i["name"] for i in inspect(conn).get_indexes(name)}
        with engine.begin() as conn:  # and again: nothing to do
            prepare_tables(conn, [after], now=1002.0)
    finally:
        with engine.begin() as conn:
            after.tables[0].drop(conn)
            conn.execute(ProjectionWriter.__table__.delete().where(ProjectionWriter.__table__.c.name == after.name))



@pytest.mark.postgres
def test_two_replicas_of_a_new_version_prepare_the_same_new_index_one_after_the_other(fresh_postgres: str) -> None:
    """Both start together on one PostgreSQL database after an upgrade that adds an index: the
    second waits for the first's transaction and finds the index made. Without the lock, its
    CREATE INDEX IF NOT EXISTS cannot see the first's uncommitted index, waits on it, and fails
    with a duplicate key in pg_class when the first commits."""
    engine = make_engine(fresh_postgres)
    name = "attendance_by_partner"
    with engine.begin() as conn:
        prepare_tables(conn, [_indexed(name, False)], now=1000.0)
    first_prepared, failures = threading.Event(), []

    def first() -> None:
        with engine.begin() as conn:
            prepare_tables(conn, [_indexed(name, True)], now=1001.0)
            first_prepared.set()
            time.sleep(0.5)  # the second arrives while this transaction is open

    def second() -> None:
        first_prepared.wait(10)
        try:
            with engine.begin() as conn:
                prepare_tables(conn, [_indexed(name, True)], now=1001.0)
        except Exception as failed:  # reported by the assertion below
            failures.append(failed)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failures == []
    with engine.connect() as conn:
        assert f"{name}_by_sessions" in {i["name"] for i in inspect(conn).get_indexes(name)}
    engine.dispose()


@pytest.mark.postgres
async def test_a_runner_whose_tables_cannot_be_prepared_yet_tries_again(
    nats_client: Client, fresh_postgres: str, postgres: str
) -> None:
    """The database refuses connections for a while (restarting, or a deadlock with the older
    version's writes ended this side): the runner says so and tries again, instead of ending
    and leaving its read model unwritten until the service restarts."""
    admin = create_engine(postgres.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    database = make_url(fresh_postgres).database
    engine = make_engine(fresh_postgres)
    engine.dispose()  # no connection kept from making it
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
    runner = ProjectionRunner(_indexed("attendance_by_partner", True), engine, nats_client)
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    try:
        await asyncio.wait_for(runner.tables_tried.wait(), 15)
        await asyncio.sleep(1.5)  # more than one try
        assert not running.done()  # trying again, not ended
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        for _ in range(100):
            await asyncio.sleep(0.1)
            with engine.connect() as conn:
                if inspect(conn).has_table("attendance_by_partner"):
                    break
        with engine.connect() as conn:
            assert inspect(conn).has_table("attendance_by_partner")
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
        admin.dispose()


async def test_a_service_is_not_ready_while_another_version_holds_its_read_model_even_on_an_empty_stream(
    own_nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    """With nothing in the stream, every runner covers the stream by having nothing to read:
    /readyz said ready although the directory's tables were another version's and this one
    had not made its own."""
    from tests.conftest import running

    service = discover()["evaluation"]
    engine = make_engine(f"sqlite:///{tmp_path / service.name}.db")
    with engine.begin() as conn:  # another version, beating now, with other columns in one of the directory's tables
        conn.execute(text("CREATE TABLE evaluation_dir_enrolments (programme_id VARCHAR(64) PRIMARY KEY)"))
        ProjectionWriter.__table__.create(conn)  # type: ignore[attr-defined]
        conn.execute(insert(ProjectionWriter.__table__).values(  # type: ignore[attr-defined]
            name="evaluation_directory", shape="another-version", heartbeat=time.time()))
    engine.dispose()
    async with running(service, own_nats_server, tmp_path) as host, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=host.http_app()), base_url="http://evaluation") as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["reason"] == "read model tables not made"
        assert "evaluation_directory" in ready.json()["projections"]


async def test_a_runner_keeps_trying_however_many_tries_fail(
    nats_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database down for hours: the wait between tries stops growing at its cap, and the
    runner never ends. (The wait was computed as 2 ** tries before the cap: at the 1,025th try,
    about 2.8 hours in, the float overflowed and the runner ended. Found by an attack.)"""
    from pathways.jetstream import runner as runner_module
    from sqlalchemy.exc import OperationalError

    monkeypatch.setattr(runner_module, "WRITER_HEARTBEAT", 0.0)  # the cap: tries come at once
    runner = ProjectionRunner(_indexed("attendance_by_partner", True), make_engine(f"sqlite:///{tmp_path / 'a.db'}"),
                              nats_client)
    tries, many = [0], asyncio.Event()
    loop = asyncio.get_running_loop()

    def refused() -> None:  # in the runner's worker thread
        tries[0] += 1
        if tries[0] == 1100:
            loop.call_soon_threadsafe(many.set)
        raise OperationalError("CREATE TABLE", {}, Exception("the database is not taking connections"))

    runner.create_tables = refused  # type: ignore[method-assign]
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    await asyncio.wait((running, asyncio.ensure_future(many.wait())), timeout=60, return_when=asyncio.FIRST_COMPLETED)
    ended = running.done()
    stop.set()
    if ended:
        raise AssertionError(f"the runner ended after {tries[0]} tries: {running.exception()!r}")
    await asyncio.wait_for(running, 15)
    assert tries[0] >= 1100 and not runner.tables_made
