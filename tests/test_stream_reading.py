"""Reading the whole stream (rebuilds, replay, audit verify) against a real nats-server: a
slow reader never has more than two batches delivered ahead of it, and events deleted
from a stream (possible only where deletes are allowed, as in a tampered copy) are
skipped, at the end too, without waiting for events that will never come."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from nats.aio.client import Client
from nats.js.api import StreamConfig
from pathways.core.subjects import STREAM_NAME
from pathways.jetstream import store as jetstream
from pathways.jetstream.store import JetStreamEventStore, ensure_stream, stream_config
from pathways.testing.servers import wheel_nats_server


async def test_a_slow_reader_has_at_most_two_batches_delivered_ahead(nats_client: Client) -> None:
    await ensure_stream(nats_client)
    store = JetStreamEventStore(nats_client)
    first = await store.last_sequence() + 1
    batch = jetstream.READ_AHEAD
    count = 3 * batch + 17
    tag = uuid.uuid4().hex[:8]
    for start in range(0, count, 1000):
        await store.publish_batch([(f"pathways.evt.slow.x.bench.{tag}{i}", b"{}", {"Nats-Msg-Id": f"{tag}-{i}"})
                                   for i in range(start, min(start + 1000, count))])
    js = nats_client.jetstream()
    others = {c.name for c in await js.consumers_info(STREAM_NAME)}  # readers of earlier tests, still expiring
    seen, furthest_ahead = 0, 0
    async for stored in store.read_all(first, first + count - 1):
        seen += 1
        if seen % 500 == 0:
            await asyncio.sleep(0.05)  # a reader slower than the server
            readers = [c for c in await js.consumers_info(STREAM_NAME) if c.name.startswith("read_") and c.name not in others]
            delivered = max(int(c.delivered.stream_seq or 0) for c in readers)
            furthest_ahead = max(furthest_ahead, delivered - stored.sequence)
    assert seen == count
    assert 0 < furthest_ahead <= 2 * batch
    assert not [c.name for c in await js.consumers_info(STREAM_NAME) if c.name.startswith("read_") and c.name not in others]


async def test_deleted_events_are_skipped_and_a_deleted_end_does_not_hang(tmp_path: Path) -> None:
    with wheel_nats_server(tmp_path / "nats") as endpoint:
        nc = await endpoint.connection.connect("deletes")
        try:
            js = nc.jetstream()
            body = stream_config().as_dict() | {"deny_delete": False}  # a copy someone could tamper with
            await js.add_stream(StreamConfig.from_response(body))
            for i in range(20):
                await js.publish(f"pathways.evt._.x.test.a{i}", b"{}")
            for sequence in (5, 19, 20):
                await js.delete_msg(STREAM_NAME, sequence)
            store = JetStreamEventStore(nc, timeout=30)
            started = asyncio.get_running_loop().time()
            read = [e.sequence async for e in store.read_all(1, 20)]
            assert read == [s for s in range(1, 19) if s != 5]
            assert asyncio.get_running_loop().time() - started < 10  # no waiting for the deleted end
        finally:
            await nc.close()




async def test_a_pull_answered_no_responders_is_asked_again_until_its_consumer_answers(nats_client: Client) -> None:
    """In a cluster, just after a node is lost, a reader's new consumer may have no leader for
    a moment, and its pull is answered 503 (seen in the suite: `audit verify` after a kill -9
    of the stream leader failed there). Here the consumer does not exist at first: the reader
    asks again after a pause, and reads once it is made; one that never comes fails in ~5 s."""
    from nats.js.api import ConsumerConfig

    await ensure_stream(nats_client)
    store = JetStreamEventStore(nats_client)
    tag = uuid.uuid4().hex[:8]
    await store.publish_batch([(f"pathways.evt.late.x.bench.{tag}", b"{}", {"Nats-Msg-Id": f"{tag}-late"})])
    sequence = await store.last_sequence()
    name = f"late_{tag}"
    pull = jetstream._Puller(nats_client, name, timeout=5)
    await pull.start()

    async def made_later() -> None:
        await asyncio.sleep(1.0)
        await nats_client.jetstream().add_consumer(STREAM_NAME, config=ConsumerConfig(
            name=name, filter_subject=f"pathways.evt.late.x.bench.{tag}", deliver_policy=jetstream.DeliverPolicy.ALL,
            ack_policy=jetstream.AckPolicy.NONE, inactive_threshold=30))

    maker = asyncio.create_task(made_later())
    try:
        stored = await pull.next(1)
    finally:
        await maker
        await pull.stop()
    assert stored is not None and stored.sequence == sequence
    assert 1 <= pull._unavailable < jetstream.UNAVAILABLE_RETRIES  # it was refused, and asked again

    never = jetstream._Puller(nats_client, f"never_{tag}", timeout=5)
    await never.start()
    try:
        began = asyncio.get_running_loop().time()
        try:
            await never.next(1)
            raise AssertionError("a pull on a consumer that never comes was answered")
        except RuntimeError as err:
            assert "503" in str(err)
        assert asyncio.get_running_loop().time() - began >= jetstream.UNAVAILABLE_RETRIES * jetstream.UNAVAILABLE_PAUSE
    finally:
        await never.stop()
