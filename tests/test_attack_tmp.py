"""Attacks on the child-process stream reader of a rebuild (pathways.runtime.stream_reader)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from pathways.core.eventstore.base import StoredEvent
from pathways.core.projection import Projection, Rows, Tables, dump
from pathways.core.readmodels import make_engine
from pathways.core.rebuild import rebuild
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.host import ServiceHost
from pathways.runtime.natsserver import free_port
from pathways.runtime.stream_reader import StreamReaderFailed, read_in_child
from pathways.testing.servers import NatsEndpoint
from pathways_registry.readmodel import ROSTER
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table

from tests.conftest import CommandClient
from tests.test_rebuild_reader import readers, roster_engine, stored_enrolments

META = MetaData()
EVERY_T = Table("attack_every", META, Column("sequence", Integer, primary_key=True), Column("subject", String),
                Column("size", Integer), Column("head", String))


def _keep(rows: Rows, tables: Tables, stored: Any) -> None:
    for s in stored:
        rows.upsert(tables["attack_every"], {"sequence": s.sequence, "subject": s.subject, "size": len(s.payload),
                                             "head": s.payload[:40].hex()}, ["sequence"])


EVERY = Projection(name="attack_every", tables=[EVERY_T], handlers={}, stored=_keep)

TWO_T = Table("attack_two", META, Column("id", String, primary_key=True), Column("seq", Integer), Column("type", String))


def _two(rows: Rows, tables: Tables, cloud: Any, data: Any, sequence: int) -> None:
    rows.upsert(tables["attack_two"], {"id": cloud.id, "seq": sequence, "type": cloud.type}, ["id"])


TWO = Projection(name="attack_two", tables=[TWO_T], handlers={"pathways.registry.ParticipantEnrolled": _two,
                                                            "pathways.sessions.SessionRecorded": _two})


def engine_for(tmp_path: Path, name: str, projection: Projection) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    for table in projection.tables:
        table.create(engine, checkfirst=True)
    return engine


async def junk(nats_client: Client, count: int, size: int = 30, context: str = "registry") -> None:
    """Messages on event subjects that are not Pathways events."""
    js = nats_client.jetstream(timeout=30)
    for i in range(count):
        body = (b"not a cloud event " + os.urandom(4).hex().encode()) if i % 2 else json.dumps({"x": i}).encode()
        body = body + b" " * max(0, size - len(body))
        await js.publish(f"pathways.evt.junkprog.junkorg.{context}.j{i}", body, headers={"Nats-Msg-Id": uuid.uuid4().hex})


def kill_leftovers() -> None:
    for child in readers():
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


# --- 1. the same read model as read here --------------------------------------------------------


async def test_child_read_equals_in_process_read_for_mid_history_until_chunks_batches_and_filters(
    registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: NatsEndpoint, tmp_path: Path,
) -> None:
    store = JetStreamEventStore(nats_client, timeout=30)
    await stored_enrolments(client, nats_client, 60)
    await junk(nats_client, 11)
    await junk(nats_client, 5, context="sessions")
    await stored_enrolments(client, nats_client, 45)
    await junk(nats_client, 3)
    last = await store.last_sequence()
    start = last - 140
    untils = [start + 17, start + 73, last - 2, None]
    mismatches = []
    try:
        for projection in (EVERY, ROSTER, TWO):
            if projection is ROSTER:
                make = lambda n: roster_engine(tmp_path, n)  # noqa: E731
            else:
                make = lambda n, p=projection: engine_for(tmp_path, n, p)  # noqa: E731
            for until in untils:
                here = make(f"here-{projection.name}-{until}.db")
                expected = await rebuild(projection, here, store, batch_size=7, until=until)
                want = dump(here, projection)
                here.dispose()
                for chunk in (1, 2, 1000):
                    for batch in (3, 7, 1000):
                        there = make(f"there-{projection.name}-{until}-{chunk}-{batch}.db")
                        got = await asyncio.wait_for(rebuild(projection, there, store, batch_size=batch, until=until,
                                                             read=read_in_child(nats_server.connection, chunk=chunk)), 120)
                        if got != expected or dump(there, projection) != want:
                            mismatches.append((projection.name, until, chunk, batch, got, expected))
                        there.dispose()
        assert mismatches == []
        assert readers() == []
    finally:
        kill_leftovers()


# --- 2. credentials in the URL -------------------------------------------------------------------


async def test_a_connection_with_its_credentials_in_the_url_reads_in_the_child_as_it_connects_in_the_parent(
    registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: NatsEndpoint, tmp_path: Path,
) -> None:
    conn = nats_server.connection
    assert conn.user and conn.password, "the wheel server has a user and password"
    host = conn.nats_url.split("://", 1)[1]
    in_url = ConnectionInfo(f"nats://{conn.user}:{conn.password}@{host}")  # user and password None
    nc = await in_url.connect("attack-url-creds")  # the parent connects with it
    try:
        store = JetStreamEventStore(nc)
        await stored_enrolments(client, nats_client, 5)
        here, there = roster_engine(tmp_path, "here.db"), roster_engine(tmp_path, "there.db")
        end = await rebuild(ROSTER, here, store)
        try:
            got = await asyncio.wait_for(rebuild(ROSTER, there, store, until=end,
                                                 read=read_in_child(in_url, connect_within=5.0)), 60)
        except StreamReaderFailed as failed:
            pytest.fail(f"the child could not read with the parent's connection: {failed}")
        assert got == end
        assert dump(there, ROSTER) == dump(here, ROSTER)
    finally:
        await nc.close()
        kill_leftovers()


async def test_a_reader_that_cannot_connect_does_not_quote_a_password_given_in_the_url(
    registry: ServiceHost, nats_client: Client, tmp_path: Path,
) -> None:
    wrong = ConnectionInfo(f"nats://reader:not-the-password@127.0.0.1:{free_port()}")  # no server listens there
    engine = roster_engine(tmp_path, "wrong.db")
    try:
        with pytest.raises(StreamReaderFailed) as failed:
            await asyncio.wait_for(rebuild(ROSTER, engine, JetStreamEventStore(nats_client),
                                           read=read_in_child(wrong, connect_within=1.0)), 60)
        assert "not-the-password" not in str(failed.value)
    finally:
        engine.dispose()
        kill_leftovers()


# --- 3. writes going on while the rebuild runs -------------------------------------------------------


async def _steady(nats_client: Client, every: float, published: list[int]) -> None:
    js = nats_client.jetstream(timeout=30)
    while True:
        await js.publish(f"pathways.evt.steady.org.other.s{len(published)}", b"{}", headers={"Nats-Msg-Id": uuid.uuid4().hex})
        published.append(1)
        await asyncio.sleep(every)


@pytest.mark.parametrize("where", ["here", "child"])
async def test_a_rebuild_under_a_steady_trickle_of_writes_catches_up_and_ends(
    where: str, registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: NatsEndpoint, tmp_path: Path,
) -> None:
    """Five writes a second (a quiet day): the rebuild loops until caught up, so each round
    must be short enough for a moment with no write in it."""
    await stored_enrolments(client, nats_client, 20)
    store = JetStreamEventStore(nats_client, timeout=30)
    engine = roster_engine(tmp_path, "steady.db")
    published: list[int] = []
    rounds: list[int] = []
    trickle = asyncio.create_task(_steady(nats_client, 0.2, published))
    try:
        await asyncio.sleep(0.5)
        read = None if where == "here" else read_in_child(nats_server.connection)
        real = read
        if read is not None:
            def counting(first: int, last: int, subjects: list[str] | None) -> Any:
                rounds.append(first)
                assert real is not None
                return real(first, last, subjects)
            read = counting
        try:
            await asyncio.wait_for(rebuild(ROSTER, engine, store, read=read), 60)
        except TimeoutError:
            pytest.fail(f"the rebuild did not catch up within 60 s under {len(published) / 60:.1f} writes/s "
                        f"({len(rounds)} rounds of a child each)")
    finally:
        trickle.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trickle
        engine.dispose()
        kill_leftovers()
    assert readers() == []


# --- 4. a child that stops (SIGSTOP) ------------------------------------------------------------------


async def test_a_stopped_reader_fails_the_rebuild_rather_than_hanging_it(
    registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: NatsEndpoint, tmp_path: Path,
) -> None:
    await stored_enrolments(client, nats_client, 200)
    store = JetStreamEventStore(nats_client)
    engine = roster_engine(tmp_path, "stopped.db")
    real = read_in_child(nats_server.connection, chunk=1)
    stopped: list[int] = []

    async def stopping(first: int, last: int, subjects: list[str] | None) -> Any:
        async with contextlib.aclosing(real(first, last, subjects)) as batches:
            async for events in batches:
                if not stopped:
                    (child,) = readers()
                    os.kill(child, signal.SIGSTOP)
                    stopped.append(child)
                yield events

    try:
        with pytest.raises((StreamReaderFailed, TimeoutError)) as failed:
            await asyncio.wait_for(rebuild(ROSTER, engine, store, batch_size=20, read=stopping), 90)
        assert failed.type is StreamReaderFailed, "the rebuild waited 90 s on a stopped reader, and would for ever"
    finally:
        for child in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGCONT)
        kill_leftovers()
        engine.dispose()
    assert readers() == []


# --- 5. the parent dies (SIGKILL): its reader must not live on ------------------------------------------

PARENT = """
import asyncio, os, sys
from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.stream_reader import read_in_child

async def main() -> None:
    read = read_in_child(ConnectionInfo(os.environ["ATTACK_URL"], os.environ["ATTACK_USER"], os.environ["ATTACK_PW"]),
                         chunk=int(sys.argv[2]))
    batches = read(1, int(sys.argv[1]), None)
    await batches.__anext__()
    print("first", flush=True)
    await asyncio.sleep(3600)  # a slow rebuild: writing its batch

asyncio.run(main())
"""


def _children_of(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        out += [int(p) for p in task.read_text().split()]
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("chunk", [1, 1000])
async def test_a_reader_whose_parent_is_killed_ends(
    chunk: int, registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: NatsEndpoint,
    tmp_path: Path,
) -> None:
    await stored_enrolments(client, nats_client, 600)
    last = await JetStreamEventStore(nats_client).last_sequence()
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    conn = nats_server.connection
    env = os.environ | {"ATTACK_URL": conn.nats_url, "ATTACK_USER": conn.user or "", "ATTACK_PW": conn.password or ""}
    parent = subprocess.Popen([sys.executable, str(script), str(last), str(chunk)], stdout=subprocess.PIPE, env=env)
    grandchild: list[int] = []
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), 60)
        assert line == b"first\n"
        (reader,) = [p for p in _children_of(parent.pid)
                     if b"pathways.runtime.stream_reader" in Path(f"/proc/{p}/cmdline").read_bytes()]
        grandchild.append(reader)
        await asyncio.sleep(3)  # the reader fills the pipe and its frames ahead
        parent.kill()
        parent.wait(10)
        deadline = time.monotonic() + 30
        while _alive(reader) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert not _alive(reader), "the stream reader lives on, 30 s after the rebuild that started it was killed"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        for pid in grandchild:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
