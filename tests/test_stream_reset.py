"""A stream made again under a running platform (restored from a backup, or deleted and
recreated): its new events take sequences a read model has already passed. Before, the
read model resumed from its position and passed over them for ever: an enrolment accepted
at a reused sequence never reached the roster. Now the runner stops and says so (/health,
metric, log), decides nothing on the stale read model, and `pathways rebuild` repairs it:
the enrolment at the reused sequence reaches the roster."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from pathways.core.rebuild import rebuild
from pathways.core.subjects import STREAM_NAME
from pathways.jetstream.store import JetStreamEventStore, ensure_stream
from pathways.runtime.host import ServiceHost
from pathways.testing.servers import NatsEndpoint
from pathways_registry.app import service as registry_service
from pathways_registry.readmodel import ENROLMENT, ROSTER

from tests.conftest import CommandClient, enrolment, running, setup_programme, unique


def roster(host: ServiceHost) -> set[str]:
    with host.engine.connect() as conn:
        return {row.participant_id for row in conn.execute(ENROLMENT.select())}


async def accept(client: CommandClient, s: Any, participant: str) -> dict[str, Any]:
    return await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, participant))


async def until(condition: Any, what: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_a_read_model_stops_on_a_stream_made_again_and_a_rebuild_brings_the_reused_sequences_in(
    own_nats_server: NatsEndpoint, tmp_path: Path,
) -> None:
    nc = await own_nats_server.connection.connect("reset-test")
    client = CommandClient(nc)
    store = JetStreamEventStore(nc)
    try:
        (tmp_path / "first").mkdir()
        async with running(registry_service, own_nats_server, tmp_path / "first") as first:
            s = await setup_programme(client)
            earlier = [unique("pt") for _ in range(3)]
            for p in earlier:
                assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p)))["status"] == "accepted"
            await first.caught_up()
            built_to = await store.last_sequence()
            assert set(earlier) <= roster(first)

        # The stream is made again, and a platform with a fresh read model writes a new history
        # into it, longer than the old: its events take the sequences the old read model passed.
        await nc.jetstream().delete_stream(STREAM_NAME)
        await ensure_stream(nc)
        (tmp_path / "other").mkdir()
        async with running(registry_service, own_nats_server, tmp_path / "other"):
            s2 = await setup_programme(client)
            later = [unique("pt") for _ in range(4)]
            for p in later:
                assert (await accept(client, s2, p))["status"] == "accepted"
        assert await store.last_sequence() > built_to  # the old position is inside the new history

        async with running(registry_service, own_nats_server, tmp_path / "first") as again:
            runners = [r for r in again.runners if any(p.name == ROSTER.name for p in r.projections)]
            await until(lambda: all(r.stalled for r in runners), "the old read model stops")
            assert "used again" in (runners[0].stalled or "") or "no longer holds" in (runners[0].stalled or "")
            assert not set(later) & roster(again)  # nothing of the new history applied on top of the old
            # The registry decides from the stream itself, so commands go on; the stopped read model
            # applies nothing of them (no view of it is taken as caught up either).
            while_stopped = unique("pt")
            assert (await accept(client, s2, while_stopped))["status"] == "accepted"
            await asyncio.sleep(1.0)
            assert while_stopped not in roster(again) and all(r.stalled for r in runners)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=again.http_app()), base_url="http://r") as http:
                assert (await http.get("/readyz")).status_code == 503
                assert ROSTER.name in next(iter((await http.get("/health")).json()["stalled"]))

            # `pathways rebuild registry`: the read model is made from the stream as it is now.
            for runner in runners:
                for projection in runner.projections:
                    await rebuild(projection, again.engine, store)
            await until(lambda: not any(r.stalled for r in runners), "the rebuilt read model reads again")
            await again.caught_up()
            assert set(later) | {while_stopped} <= roster(again) and not set(earlier) & roster(again)
            fresh = unique("pt")
            assert (await accept(client, s2, fresh))["status"] == "accepted"
            await again.caught_up()
            assert fresh in roster(again)
    finally:
        await nc.close()
