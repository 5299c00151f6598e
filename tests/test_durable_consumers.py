"""A service's durable consumer (`ServiceDefinition.consumers`, on faststream's JetStream pull
subscriber with explicit acknowledgement), run by two instances of the service at once:
every event of its subjects is handled, each by one instance; one whose handler fails is
delivered again (after the pause, not at once) and handled; and once all is done nothing
is left unacknowledged or pending on the server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from pathways.core.schemas import SchemaRegistry
from pathways.core.subjects import EVENTS_ROOT, STREAM_NAME
from pathways.jetstream.durable import BackgroundContext, DurableConsumer
from pathways.runtime.host import ServiceHost
from pathways.runtime.service import ServiceDefinition
from pathways.testing.servers import NatsEndpoint

from tests.conftest import CommandClient, enrolment, running, setup_programme, unique

RETRY_AFTER = 0.5


async def events_on(nc: Client, subject: str) -> list[str]:
    """Each message now stored on `subject` (its subject and stream sequence), read by a
    consumer of the test's own."""
    js = nc.jetstream()
    info = await js.add_consumer(STREAM_NAME, filter_subject=subject, deliver_policy=DeliverPolicy.ALL,
                                 inactive_threshold=30.0)
    found: list[str] = []
    sub = await js.pull_subscribe_bind(info.name, stream=STREAM_NAME)
    while len(found) < info.num_pending:
        found += [key(msg) for msg in await sub.fetch(info.num_pending - len(found), timeout=5)]
    await sub.unsubscribe()
    return found


def key(msg: Msg) -> str:
    return f"{msg.subject}#{msg.metadata.sequence.stream}"


async def test_two_instances_share_a_durable_consumer_and_a_failed_message_comes_again_after_a_pause(
    registry: ServiceHost, client: CommandClient, nats_server: NatsEndpoint, nats_client: Client, tmp_path: Path,
) -> None:
    programme = unique("prog")
    subject = f"{EVENTS_ROOT}.{programme}.*.registry.>"
    count = 1 + 2 + 6  # the launch, two commissionings, six enrolments
    handled: dict[str, list[tuple[str, float]]] = {}  # message -> (instance, when) of each attempt
    failed: list[str] = []
    done = asyncio.Event()

    def handler(instance: str) -> Callable[[BackgroundContext, Msg], Coroutine[Any, Any, None]]:
        async def handle(ctx: BackgroundContext, msg: Msg) -> None:
            attempts = handled.setdefault(key(msg), [])
            attempts.append((instance, time.monotonic()))
            if not failed:
                failed.append(key(msg))
                raise ConnectionError("key store unreachable (injected)")
            if len(handled) == count and len(handled[failed[0]]) >= 2:
                done.set()
        return handle

    name = unique("durable_test")

    def service(instance: str) -> ServiceDefinition:
        return ServiceDefinition(name="durabletest", description="a durable consumer alone", schemas=SchemaRegistry(),
                                 handlers={}, consumers=[DurableConsumer(name, subject, handler(instance), batch=2,
                                                                         retry_after=RETRY_AFTER)])

    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    async with running(service("one"), nats_server, tmp_path / "one", run_intake=False, http_port=None), \
            running(service("two"), nats_server, tmp_path / "two", run_intake=False, http_port=None):
        s = await setup_programme(client, programme_id=programme)
        for i in range(6):
            reply = await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, f"pt-durable-{i}"))
            assert reply["status"] == "accepted", reply
        await asyncio.wait_for(done.wait(), 30)
        await asyncio.sleep(RETRY_AFTER * 2)  # anything delivered twice would have come by now
        info = await nats_client.jetstream().consumer_info(STREAM_NAME, name)
    expected = await events_on(nats_client, subject)

    assert len(expected) == count and sorted(handled) == sorted(expected)
    first, second = handled[failed[0]]
    assert second[1] - first[1] >= RETRY_AFTER * 0.9  # delivered again after the pause, not at once
    assert all(len(attempts) == 1 for k, attempts in handled.items() if k != failed[0])  # the rest once each
    assert {instance for attempts in handled.values() for instance, _ in attempts} == {"one", "two"}
    assert info.num_ack_pending == 0 and info.num_pending == 0


STOPPED = 8  # instances that stop with a batch delivered to them and not acknowledged


async def test_instances_that_stop_holding_a_batch_do_not_stall_the_consumer(
    nats_server: NatsEndpoint, nats_client: Client,
) -> None:
    """Each stopped instance's batch is held on the server until `ack_wait`. Eight of them
    (a rolling restart of a few instances, a test suite's registries) must leave the
    consumer delivering: with room for four batches it gave a fresh instance nothing."""
    programme = unique("orphans")
    subject = f"{EVENTS_ROOT}.{programme}.*.registry.>"
    consumer = DurableConsumer(unique("orphaned"), subject, lambda ctx, msg: asyncio.sleep(0), batch=16)
    js = nats_client.jetstream()

    async def publish(count: int) -> None:
        for i in range(count):
            await js.publish(f"{EVENTS_ROOT}.{programme}.p.registry.e{i}", b"{}", stream=STREAM_NAME)

    await js.add_consumer(STREAM_NAME, config=consumer.server_config())  # as the subscriber makes it
    declared = await js.consumer_info(STREAM_NAME, consumer.name)
    await publish(consumer.batch * STOPPED + 5)
    for _ in range(STOPPED):
        instance = await nats_server.connection.connect("stopping-instance")
        sub = await instance.jetstream().pull_subscribe_bind(consumer.name, stream=STREAM_NAME)
        assert len(await sub.fetch(consumer.batch, timeout=5)) == consumer.batch  # taken, never acknowledged
        await instance.close()
    held = await js.consumer_info(STREAM_NAME, consumer.name)
    assert held.num_ack_pending == consumer.batch * STOPPED
    # A fresh instance is still given what is left, at once (not after ack_wait).
    fresh = await js.pull_subscribe_bind(consumer.name, stream=STREAM_NAME)
    got = await fresh.fetch(5, timeout=5)
    assert len(got) == 5
    assert declared.config.ack_wait == consumer.ack_wait
    await js.delete_consumer(STREAM_NAME, consumer.name)


async def test_a_consumer_made_by_an_earlier_version_is_updated_in_place_as_the_service_starts(
    nats_server: NatsEndpoint, nats_client: Client, tmp_path: Path,
) -> None:
    consumer = DurableConsumer(unique("earlier"), f"{EVENTS_ROOT}.{unique('p')}.*.registry.>", lambda ctx, msg: asyncio.sleep(0))
    js = nats_client.jetstream()
    earlier = consumer.server_config().as_dict() | {"ack_wait": 30, "max_ack_pending": consumer.batch * 4}
    await js.add_consumer(STREAM_NAME, config=ConsumerConfig.from_response(earlier))
    service = ServiceDefinition(name="durabletest", description="a durable consumer alone", schemas=SchemaRegistry(),
                                handlers={}, consumers=[consumer])
    async with running(service, nats_server, tmp_path, run_intake=False, http_port=None):
        now = (await js.consumer_info(STREAM_NAME, consumer.name)).config
    assert (now.ack_wait, now.max_ack_pending) == (consumer.ack_wait, consumer.server_config().max_ack_pending)
    await js.delete_consumer(STREAM_NAME, consumer.name)
