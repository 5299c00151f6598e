"""A rebuild that reads the stream in a child process (pathways.runtime.stream_reader), as
`pathways rebuild` does: the same read model as one read in the rebuilding process, with
none of the events passing through the parent's own NATS connection; a reader that fails
or is killed mid-history fails the rebuild with what it said, leaves the live tables as
they were, and leaves no process behind, nor does a rebuild that is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from pathways.core.projection import dump
from pathways.core.readmodels import make_engine
from pathways.core.rebuild import EventBatches, rebuild
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.host import ServiceHost
from pathways.runtime.natsserver import free_port
from pathways.runtime.stream_reader import StreamReaderFailed, read_in_child
from pathways.testing.servers import NatsEndpoint
from pathways_registry.readmodel import ENROLMENT, ROSTER
from sqlalchemy import Engine

from tests.conftest import CommandClient
from tests.test_cost_counting import enrolled_events, enrolment_template


def readers() -> list[int]:
    """This process's stream-reader children still alive."""
    out = []
    for task in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        for pid in children:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"pathways.runtime.stream_reader" in cmdline:
                out.append(int(pid))
    return out


async def stored_enrolments(client: CommandClient, nats_client: Client, count: int) -> str:
    """`count` more enrolments on the stream, shaped exactly as the registry stores them, in a
    programme of their own (returned), besides the one the registry took to make them."""
    template = await enrolment_template(client, nats_client)
    store = JetStreamEventStore(nats_client, timeout=30)
    events = enrolled_events(template, count, 1)
    for start in range(0, count, 500):
        await store.publish_batch([(e.subject, e.payload, {"Nats-Msg-Id": e.event.id}) for e in events[start:start + 500]])
    return str(template.event.programme)


def signalling(real: EventBatches, signum: int, sent: list[int]) -> EventBatches:
    """`real`, with `signum` sent to its child (noted in `sent`) once the first frame is in."""

    async def read(first: int, last: int, subjects: list[str] | None) -> Any:
        async with contextlib.aclosing(real(first, last, subjects)) as batches:
            async for events in batches:
                if not sent:
                    (child,) = readers()
                    os.kill(child, signum)
                    sent.append(child)
                yield events

    return read


def roster_engine(tmp_path: Path, name: str) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    for table in ROSTER.tables:
        table.create(engine, checkfirst=True)
    return engine


async def test_a_rebuild_read_in_a_child_gives_the_read_model_read_here_and_no_event_reaches_the_parent(
    registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: NatsEndpoint, tmp_path: Path,
) -> None:
    programme = await stored_enrolments(client, nats_client, 120)
    store = JetStreamEventStore(nats_client)
    here, there = roster_engine(tmp_path, "here.db"), roster_engine(tmp_path, "there.db")
    end = await rebuild(ROSTER, here, store, batch_size=50)
    received = nats_client.stats["in_msgs"]
    # Small frames and batches: a batch is made of several frames, and a stream's length is not a multiple of either.
    reported: list[tuple[int, int]] = []
    assert await rebuild(ROSTER, there, store, batch_size=50, until=end, read=read_in_child(nats_server.connection, chunk=7),
                         progress=lambda done, total: reported.append((done, total))) == end
    assert dump(there, ROSTER) == dump(here, ROSTER)
    with there.connect() as conn:
        assert len(conn.execute(ENROLMENT.select().where(ENROLMENT.c.programme_id == programme)).all()) == 121
    # The parent asked where the stream ends; the history itself came through the child.
    assert nats_client.stats["in_msgs"] - received < 10 < end
    assert len(reported) > 2 and reported[-1] == (end, end)
    assert readers() == []
    here.dispose()
    there.dispose()


async def test_a_reader_killed_mid_history_fails_the_rebuild_and_the_live_tables_keep_their_rows(
    registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: NatsEndpoint, tmp_path: Path,
) -> None:
    await stored_enrolments(client, nats_client, 600)
    store = JetStreamEventStore(nats_client)
    engine = roster_engine(tmp_path, "live.db")
    await rebuild(ROSTER, engine, store)
    before = dump(engine, ROSTER)
    real = read_in_child(nats_server.connection, chunk=1)  # a frame an event: the child is far from done when killed
    killed: list[int] = []
    killing = signalling(real, signal.SIGKILL, killed)
    with pytest.raises(StreamReaderFailed, match=r"before the end of the history \(exit -9\)"):
        await rebuild(ROSTER, engine, store, batch_size=20, read=killing)
    assert killed and readers() == []
    assert dump(engine, ROSTER) == before
    engine.dispose()


async def test_a_reader_that_cannot_connect_says_why(
    registry: ServiceHost, client: CommandClient, nats_client: Client, tmp_path: Path,
) -> None:
    await stored_enrolments(client, nats_client, 3)  # more than a batch of one: read elsewhere
    port = free_port()  # no server listens there
    wrong = ConnectionInfo(f"nats://reader:not-the-password@127.0.0.1:{port}")  # the credentials in the URL
    engine = roster_engine(tmp_path, "wrong.db")
    with pytest.raises(StreamReaderFailed) as failed:
        await rebuild(ROSTER, engine, JetStreamEventStore(nats_client), batch_size=1,
                      read=read_in_child(wrong, connect_within=1.0))
    assert "before the end of the history (exit 1)" in str(failed.value)
    assert f"could not connect to nats://127.0.0.1:{port} within 1 s" in str(failed.value)
    assert "not-the-password" not in str(failed.value)
    assert readers() == []
    engine.dispose()


async def test_a_cancelled_rebuild_leaves_no_reader_behind(
    registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: NatsEndpoint, tmp_path: Path,
) -> None:
    await stored_enrolments(client, nats_client, 300)
    engine = roster_engine(tmp_path, "cancelled.db")
    real = read_in_child(nats_server.connection, chunk=1)
    first_batch = asyncio.Event()

    async def slow(first: int, last: int, subjects: list[str] | None) -> Any:
        async with contextlib.aclosing(real(first, last, subjects)) as batches:  # closed with the rebuild's read
            async for events in batches:
                # Long enough for the child to fill the pipe and the parent's buffer (its reading
                # paused): the cancel must still end the child and the rebuild.
                await asyncio.sleep(1.0)
                first_batch.set()
                yield events

    running = asyncio.create_task(rebuild(ROSTER, engine, JetStreamEventStore(nats_client), batch_size=10, read=slow))
    await asyncio.wait_for(first_batch.wait(), 60)
    assert len(readers()) == 1
    running.cancel()
    try:
        done, _ = await asyncio.wait({running}, timeout=30)
        assert running in done and running.cancelled(), "the cancelled rebuild did not end (waiting on its reader)"
        assert readers() == []
    finally:
        for child in readers():  # a failed test leaves nothing behind either
            os.kill(child, signal.SIGKILL)
    engine.dispose()


def test_the_reader_is_given_only_the_credentials_the_connection_has(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty user in the child's environment would replace the credentials its URL carries."""
    from pathways.runtime.stream_reader import _environment

    monkeypatch.setenv("PATHWAYS_NATS_USER", "someone-else")
    monkeypatch.setenv("PATHWAYS_NATS_PASSWORD", "their-password")
    env = _environment(ConnectionInfo("nats://u:p@127.0.0.1:4222"))
    assert env["PATHWAYS_NATS_URL"] == "nats://u:p@127.0.0.1:4222"
    assert "PATHWAYS_NATS_USER" not in env and "PATHWAYS_NATS_PASSWORD" not in env
    env = _environment(ConnectionInfo("nats://127.0.0.1:4222", "svc-reporting", "secret"))
    assert (env["PATHWAYS_NATS_USER"], env["PATHWAYS_NATS_PASSWORD"]) == ("svc-reporting", "secret")


async def test_a_rebuild_of_a_stream_that_grows_while_it_reads_ends_with_what_came_meanwhile_read_here(
    registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: NatsEndpoint, tmp_path: Path,
) -> None:
    """Events stored during the bulk read are read in this process: a reader started again for
    each few new events could be outrun by a busy stream for ever."""
    await stored_enrolments(client, nats_client, 120)
    store = JetStreamEventStore(nats_client)
    engine = roster_engine(tmp_path, "growing.db")
    real = read_in_child(nats_server.connection, chunk=10)
    started = []
    later: list[str] = []

    async def growing(first: int, last: int, subjects: list[str] | None) -> Any:
        started.append((first, last))
        async with contextlib.aclosing(real(first, last, subjects)) as batches:
            async for events in batches:
                if len(started) == 1 and not later:
                    later.append(await stored_enrolments(client, nats_client, 5))  # while the bulk is read
                yield events

    position = await rebuild(ROSTER, engine, store, batch_size=50, read=growing)
    assert len(started) == 1
    assert position == await store.last_sequence() > started[0][1]
    with engine.connect() as conn:  # the five that came meanwhile are in, and the one the registry took
        assert len(conn.execute(ENROLMENT.select().where(ENROLMENT.c.programme_id == later[0])).all()) == 6
    engine.dispose()


@pytest.mark.parametrize("url", ["nats://reader:p@ss@host:4222", "reader:pass@host:4222", "nats://a:b@one:1,tls://c:d@two:2"])
def test_a_server_list_is_quoted_without_the_credentials_the_client_would_take_from_it(url: str) -> None:
    from pathways.runtime.connection import redacted_servers

    shown = redacted_servers(url)
    assert "@" not in shown and "pass" not in shown and "p@ss" not in shown and ":b" not in shown
    assert shown.replace("nats://", "").replace("tls://", "") in ("host:4222", "one:1,two:2")


async def test_a_stopped_reader_fails_the_rebuild_instead_of_holding_it_for_ever(
    registry: ServiceHost, client: CommandClient, nats_client: Client, nats_server: NatsEndpoint, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pathways.runtime.stream_reader as stream_reader

    monkeypatch.setattr(stream_reader, "FRAME_WITHIN", 2.0)
    await stored_enrolments(client, nats_client, 300)
    engine = roster_engine(tmp_path, "stopped.db")
    stopped: list[int] = []
    stopping = signalling(read_in_child(nats_server.connection, chunk=1), signal.SIGSTOP, stopped)
    try:
        with pytest.raises(StreamReaderFailed, match="sent nothing for 2 s"):
            await asyncio.wait_for(rebuild(ROSTER, engine, JetStreamEventStore(nats_client), batch_size=20, read=stopping), 60)
        assert stopped and readers() == []
    finally:
        for child in readers():
            os.kill(child, signal.SIGKILL)
    engine.dispose()


@pytest.mark.parametrize("where", ["here", "in a child"])
async def test_a_stored_message_with_a_status_header_is_read_like_any_other(
    where: str, own_nats_server: NatsEndpoint,
) -> None:
    """The server's own word (a heartbeat, the end of a request) comes with a Status header and
    no ack subject; a stored message may carry a Status header too, and must not be taken for it."""
    from pathways.jetstream.store import ensure_stream

    nc = await own_nats_server.connection.connect("status-header")
    try:
        await ensure_stream(nc)
        js = nc.jetstream(timeout=30)
        sequences = []
        for i in range(30):
            headers = {"Status": "100"} if i == 10 else {"Status": "404", "Description": "No Messages"} if i == 20 else None
            ack = await js.publish(f"pathways.evt.prog.org.registry.s{i}", b"not an event", headers=headers)
            sequences.append(ack.seq)
        if where == "here":
            read = [s.sequence async for s in JetStreamEventStore(nc, timeout=5).read_all(1, sequences[-1])]
        else:
            batches = read_in_child(own_nats_server.connection, chunk=4)(1, sequences[-1], None)
            read = [s.sequence async for events in batches for s in events]
        assert read == sequences
    finally:
        await nc.close()
