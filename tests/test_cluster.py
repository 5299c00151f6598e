"""The platform on a three-node NATS cluster (deploy/nats's cluster configs, run natively on
loopback): everything made R3 by default, an R1 stream raised in place with nothing lost,
and kill -9 of the stream leader while 20 clients send commands, counted by an independent
reader: nothing acknowledged is lost, nothing is stored twice, and writes resume without
restarting any service (DESIGN §4 G8)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from nats.aio.client import Client
from pathways.core.subjects import STREAM_NAME
from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.replicas import Placement, cluster_size, placement
from pathways.runtime.storage import STREAMS, prepare_storage
from pathways.testing.cluster import NatsCluster
from pathways.testing.servers import NatsEndpoint
from pathways_registry.app import service as registry_service

from tests.conftest import CommandClient, enrolment, running, setup_programme, unique
from tests.load import PartnerSystems, lost_and_duplicated

DEPLOY = Path(__file__).parents[1] / "deploy" / "nats"
KILLS = int(os.environ.get("PATHWAYS_CLUSTER_KILLS", "2"))  # the slow variant: more


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    c = NatsCluster(DEPLOY, tmp_path_factory.mktemp("cluster"))
    c.start()
    try:
        yield c
    finally:
        c.stop()


async def connected(c: NatsCluster, name: str) -> Client:
    deadline = time.monotonic() + 60
    while True:  # the nodes are up before they have elected a JetStream metadata leader...
        nc = await c.connection.connect(name)
        try:
            await nc.jetstream(timeout=2).account_info()
            # ...and before every route is formed. The client counts the members from the INFO
            # it got on connecting, and from servers later INFOs add to its pool (none here:
            # every node is a seed), so a client that came too early reconnects (seen in CI on
            # a busy machine: two of three, for good).
            if cluster_size(nc) == len(c.nodes):
                return nc
            assert time.monotonic() < deadline, f"the client knows {cluster_size(nc)} of {len(c.nodes)} nodes"
        except (nats.errors.TimeoutError, nats.js.errors.APIError):
            if time.monotonic() > deadline:
                await nc.close()
                raise
        except BaseException:
            await nc.close()
            raise
        await nc.close()
        await asyncio.sleep(0.2)


async def led(nc: Client, stream: str, within: float = 40) -> Placement:
    """The stream's placement once it has a leader (elected a moment after a change)."""
    deadline = time.monotonic() + within
    while True:
        try:
            where = await placement(nc, stream)
            if where.leader is not None:
                return where
        except (nats.errors.TimeoutError, nats.js.errors.APIError):  # asked during the election itself
            pass
        assert time.monotonic() < deadline, f"{stream} has no leader after {within:.0f} s"
        await asyncio.sleep(0.2)


@pytest.fixture
async def cluster_client(cluster: NatsCluster) -> AsyncIterator[Client]:
    nc = await connected(cluster, "cluster-test")
    try:
        yield nc
    finally:
        await nc.close()


async def test_a_fresh_platform_on_three_nodes_keeps_three_copies_and_an_r1_stream_is_raised_in_place(
    cluster: NatsCluster, cluster_client: Client,
) -> None:
    assert cluster_size(cluster_client) == 3
    # A client given one node's address learns the others from it (its pool's discovered servers).
    creds = cluster.credentials
    alone = await ConnectionInfo(cluster.nodes[0].url, creds.user, creds.password).connect("cluster-test-one-seed")
    try:
        assert len(alone.discovered_servers) == 2 and cluster_size(alone) == 3
    finally:
        await alone.close()
    assert await prepare_storage(cluster_client, replicas=1) == 1  # as an earlier version made them
    js = cluster_client.jetstream(timeout=30)
    for i in range(25):
        await js.publish(f"pathways.evt._.operator.registry.r1-{i}", b"{}")
    before = (await js.stream_info(STREAM_NAME)).state.messages
    assert await prepare_storage(cluster_client) == 3  # the default: the cluster's size
    for stream in STREAMS:
        where = await led(cluster_client, stream)
        assert where.replicas == 3 and where.offline == (), where
    assert (await js.stream_info(STREAM_NAME)).state.messages == before  # raised in place: nothing lost


async def test_kill_9_of_the_stream_leader_under_load_loses_nothing_and_writes_resume(
    cluster: NatsCluster, cluster_client: Client, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    await prepare_storage(cluster_client)
    endpoint = NatsEndpoint(cluster.connection, "cluster")
    async with running(registry_service, endpoint, tmp_path) as registry:
        client = CommandClient(cluster_client)
        s = await setup_programme(client)
        partners = PartnerSystems(client, s.partner_a, s.programme_id)
        partners.start(20)
        failovers = []
        try:
            for _ in range(KILLS):
                await asyncio.sleep(1.5)
                leader = (await led(cluster_client, STREAM_NAME)).leader
                assert leader is not None
                acked_before, killed_at = len(partners.acknowledged), time.monotonic()
                number = cluster.kill(leader)
                await partners.acked_more(acked_before + 20, within=60)  # writes resume with the leader dead
                failovers.append(partners.last_ack - killed_at)
                cluster.start_node(number)
        finally:
            failed = await partners.stop()
        assert failed == []  # no client got an answer other than accepted or "unavailable, send again"
        assert registry.intake is not None  # the same service instance throughout: never restarted

    # An independent reader: the whole stream, read from the new leader.
    figures = {"kills": KILLS, **await lost_and_duplicated(cluster_client, partners.acknowledged),
               "failover_s": [round(s, 1) for s in failovers]}
    record_property("cluster", figures)  # in the JUnit report: pytest --junitxml=cluster.xml
    assert figures["acknowledged"] > 100 and figures["lost"] == figures["duplicates"] == 0, figures


async def test_personal_details_are_sealed_while_a_node_is_down(
    cluster: NatsCluster, cluster_client: Client, tmp_path: Path
) -> None:
    """The people's keys bucket is R3: a person's key can be made with one node dead."""
    await prepare_storage(cluster_client)
    keys = await led(cluster_client, STREAMS[2])
    number = cluster.kill(keys.leader or cluster.nodes[0].name)
    try:
        for stream in STREAMS:  # the two nodes left elect new leaders for what the dead one led
            await led(cluster_client, stream)
        async with running(registry_service, NatsEndpoint(cluster.connection, "cluster"), tmp_path):
            client = CommandClient(cluster_client)
            for attempt in range(3):  # a request caught by the election times out: send again
                try:
                    s = await setup_programme(client)
                    break
                except nats.errors.TimeoutError:
                    if attempt == 2:
                        raise
            data = enrolment(s.programme_id, unique("p")) | {"personal": {"name": "Perpetua Quillfeather",
                                                                           "date_of_birth": "1961-02-28"}}
            reply: dict[str, Any] = {}
            for _ in range(50):  # the bucket's new leader is elected within seconds
                reply = await client.send(s.partner_a, "EnrolParticipant", data, key=f"sealed-{s.programme_id}")
                if reply["status"] == "accepted" or reply.get("code") != "unavailable":
                    break
                await asyncio.sleep(0.3)
            assert reply["status"] == "accepted", reply
    finally:
        cluster.start_node(number)
