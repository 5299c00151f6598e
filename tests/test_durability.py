"""Guarantee 8 (single server): every event JetStream acknowledged survives `kill -9`
of nats-server, because the embedded configuration syncs each write (`sync_interval:
always`) before acknowledging it."""

from __future__ import annotations

import asyncio

from pathways.eventstore import AppendRequest
from pathways.eventstore.batching import GroupCommitter
from pathways.eventstore.jetstream import JetStreamEventStore, ensure_stream
from pathways.testing.servers import NatsEndpoint

from tests.conftest import unique
from tests.test_eventstore_contract import new_event, subject_for


async def test_g8_acknowledged_events_survive_kill_9_of_nats_server(own_nats_server: NatsEndpoint) -> None:
    server = own_nats_server.server
    assert server is not None
    assert "sync_interval: always" in server.config_path.read_text()
    nc = await own_nats_server.connection.connect("durability", allow_reconnect=False)
    await ensure_stream(nc)
    store = JetStreamEventStore(nc)
    committer = GroupCommitter(store)
    acknowledged: dict[str, int] = {}

    async def one(i: int) -> None:
        s = subject_for(unique("agg"))
        event = new_event(s, i)
        result = await committer.append(AppendRequest([event], {s: 0}))
        acknowledged[event.event.id] = result.last_sequence

    # Singles, concurrent group commits and multi-event batches, all acknowledged.
    for i in range(100):
        await one(i)
    await asyncio.gather(*(one(100 + i) for i in range(400)))
    s = subject_for(unique("agg"))
    batch = [new_event(s, 1000 + i) for i in range(100)]
    result = await store.append(AppendRequest(batch, {s: 0}))
    acknowledged.update({e.event.id: seq for e, seq in zip(batch, result.sequences, strict=True)})
    await committer.close()

    server.kill_hard()  # no shutdown, no flush: SIGKILL
    await nc.close()
    server.start()

    nc = await own_nats_server.connection.connect("durability-after")
    store = JetStreamEventStore(nc)
    assert await store.last_sequence() == len(acknowledged) == 600
    stored = {e.event.id: e.sequence async for e in store.read_all(1)}
    assert stored == acknowledged
    await nc.close()
