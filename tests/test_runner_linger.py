"""A projection runner's transactions, counted, as events arrive through a real registry: it
lingers while events keep coming (pathways.jetstream.runner, LINGER_GAP), so a steady stream
is applied in a few transactions rather than one per 20 ms; a lone event is applied without
waiting for a batch to fill, and a read that must see an event (`reach`) is not kept
waiting at all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from pathways.core.readmodels import make_engine
from pathways.jetstream import runner as runner_module
from pathways.jetstream.runner import ProjectionRunner
from pathways.runtime.host import ServiceHost
from sqlalchemy import MetaData, select

from tests.conftest import CommandClient, enrolment, setup_programme, unique
from tests.test_runner_bookkeeping import counter

STREAMED = 240
PACE = 0.004  # seconds between two commands sent: about 1 s of steady arrivals


@contextlib.asynccontextmanager
async def _running(nats_client: Client, tmp_path: Path, name: str) -> AsyncIterator[ProjectionRunner]:
    """A runner of a counter of enrolments, caught up, stopped when the block ends."""
    projection = counter(name, MetaData())
    runner = ProjectionRunner([projection], make_engine(f"sqlite:///{tmp_path / f'{name}.db'}"), nats_client)
    stop = asyncio.Event()
    running = asyncio.create_task(runner.run(stop))
    try:
        await asyncio.wait_for(runner.catch_up(), 60)
        yield runner
    finally:
        stop.set()
        await running
        runner.engine.dispose()


async def _enrol(client: CommandClient, partner: str, programme: str) -> None:
    reply = await client.send(partner, "EnrolParticipant", enrolment(programme, unique("linger")))
    assert reply["status"] == "accepted", reply


async def _applied(runner: ProjectionRunner, at_least: int, within: float = 30.0) -> None:
    """Until the runner has applied `at_least` events, looking without waiting on it (a
    `reach` would end its linger)."""
    async with asyncio.timeout(within):
        while runner.applied < at_least:  # noqa: ASYNC110 - the runner's own event would be a waiter of its own
            await asyncio.sleep(0.01)


async def test_a_steady_stream_is_applied_in_a_few_transactions(
    registry: ServiceHost, client: CommandClient, nats_client: Client, tmp_path: Path,
) -> None:
    s = await setup_programme(client)
    async with _running(nats_client, tmp_path, "linger_steady") as runner:
        batches, applied = runner.batches, runner.applied
        sent = []
        for _ in range(STREAMED):  # one command every PACE seconds, each answered in its own time
            sent.append(asyncio.create_task(_enrol(client, s.partner_a, s.programme_id)))
            await asyncio.sleep(PACE)
        await asyncio.gather(*sent)
        await _applied(runner, applied + STREAMED)
        written = runner.batches - batches
        # A fixed 20 ms linger wrote a transaction per 20 ms of arrivals: about 50 here. Lingering
        # while they keep coming, up to LINGER_MAX (0.25 s), needs about 4; the margin is for a
        # loaded machine, where a pause longer than a gap ends a batch early.
        assert written <= 16, f"{STREAMED} events in {written} transactions"
        with runner.engine.connect() as conn:
            table = runner.projection.tables[0]
            assert conn.execute(select(table.c.n).where(table.c.programme_id == s.programme_id)).scalar() == STREAMED


async def test_a_lone_event_is_applied_without_waiting_for_a_batch_to_fill(
    registry: ServiceHost, client: CommandClient, nats_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = await setup_programme(client)
    async with _running(nats_client, tmp_path, "linger_lone") as runner:
        # A runner that waited for LINGER_MAX, or for LINGER_BELOW events, would not apply it within the 30 s allowed.
        monkeypatch.setattr(runner_module, "LINGER_MAX", 600.0)
        applied = runner.applied
        await _enrol(client, s.partner_a, s.programme_id)
        await _applied(runner, applied + 1)
        assert runner.applied == applied + 1


async def test_a_read_that_must_see_an_event_ends_the_linger(
    registry: ServiceHost, client: CommandClient, nats_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = await setup_programme(client)
    async with _running(nats_client, tmp_path, "linger_reach") as runner:
        # Every gap now lasts ten minutes: only someone waiting for the event ends the wait.
        monkeypatch.setattr(runner_module, "LINGER_GAP", 600.0)
        monkeypatch.setattr(runner_module, "LINGER_MAX", 600.0)
        applied = runner.applied
        await _enrol(client, s.partner_a, s.programme_id)
        assert runner.store is not None
        last = await runner.store.last_sequence()
        await asyncio.wait_for(runner.reach(last), 30)
        assert runner.applied == applied + 1
