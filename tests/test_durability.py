"""Guarantee 8 (single server): every event JetStream acknowledged survives `kill -9`
of nats-server, because the embedded configuration syncs each write (`sync_interval:
always`) before acknowledging it: when idle, and with commands in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from pathways.core.eventstore import AppendRequest
from pathways.jetstream.batching import GroupCommitter
from pathways.jetstream.store import JetStreamEventStore, ensure_stream
from pathways.testing.servers import NatsEndpoint
from pathways_registry.app import service as registry_service

from tests.conftest import CommandClient, running, setup_programme, unique
from tests.load import PartnerSystems, lost_and_duplicated
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


async def test_g8_kill_9_of_nats_server_with_commands_in_flight_loses_nothing_and_stores_nothing_twice(
    own_nats_server: NatsEndpoint, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """Twenty partner systems send commands through the registry; nats-server is killed
    with -9 while they are in flight (some appended, not yet answered; some half-way through
    a group commit), then started again on its port and store. The same registry carries on
    without a restart; an independent reader finds every acknowledged event once."""
    server = own_nats_server.server
    assert server is not None
    async with running(registry_service, own_nats_server, tmp_path) as registry:
        nc = await own_nats_server.connection.connect("in-flight-clients")
        client = CommandClient(nc)
        s = await setup_programme(client)
        partners = PartnerSystems(client, s.partner_a, s.programme_id)
        partners.start(20)
        outages = []
        try:
            for _ in range(2):
                await partners.acked_more(len(partners.acknowledged) + 40, within=60)  # under load
                acked, killed_at = len(partners.acknowledged), time.monotonic()
                server.kill_hard()
                await asyncio.sleep(0.5)
                server.start()
                await partners.acked_more(acked + 20, within=60)
                outages.append(round(partners.last_ack - killed_at, 1))
        finally:
            failed = await partners.stop()
        assert failed == [] and registry.intake is not None  # the same service throughout
        figures = {"kills": 2, **await lost_and_duplicated(nc, partners.acknowledged), "outage_s": outages}
        await nc.close()
    record_property("single_node_kill", figures)
    assert figures["acknowledged"] > 100 and figures["lost"] == figures["duplicates"] == 0, figures
