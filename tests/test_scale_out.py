"""Scale-out: two instances of each write service at once, commands spread between them by
the NATS queue group; concurrent commands on one aggregate through both give exactly one
winner (G1); each instance keeps a read model of its own (its own database, the design:
deploy/README), and both end identical, so neither applied an event twice or missed one."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from pathways.core.projection import dump
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost
from pathways.runtime.service import discover
from pathways.testing.servers import NatsEndpoint

from tests.conftest import CommandClient, running, setup_programme
from tests.test_payments import claim, co_producer, decision
from tests.test_sessions import session


def counting(host: ServiceHost, tally: Counter[str], name: str) -> None:
    """Count the commands this instance answers."""
    assert host.intake is not None
    real = host.intake.handle

    async def handle(*args: Any, **kwargs: Any) -> Any:
        tally[name] += 1
        return await real(*args, **kwargs)

    host.intake.handle = handle  # type: ignore[method-assign]


async def test_two_instances_of_each_write_service_share_commands_one_winner_and_own_read_models(
    registry: ServiceHost, nats_server: NatsEndpoint, client: CommandClient, nats_client: Client, tmp_path: Path
) -> None:
    services = discover()
    s = await setup_programme(client)
    tally: Counter[str] = Counter()
    for d in ("sessions-1", "sessions-2", "payments-1", "payments-2"):
        (tmp_path / d).mkdir()
    async with running(services["sessions"], nats_server, tmp_path / "sessions-1") as s1, \
            running(services["sessions"], nats_server, tmp_path / "sessions-2") as s2, \
            running(services["payments"], nats_server, tmp_path / "payments-1") as p1, \
            running(services["payments"], nats_server, tmp_path / "payments-2") as p2:
        for host, name in ((s1, "sessions-1"), (s2, "sessions-2"), (p1, "payments-1"), (p2, "payments-2")):
            counting(host, tally, name)

        async def send(org: str, command: str, data: dict[str, Any], context: str, actor: str = "officer") -> Any:
            """As a partner system does: `unavailable` (a fresh instance still catching up on
            the whole stream, late in the suite) is sent again with the same key, as it says."""
            body = {"idempotency_key": uuid.uuid4().hex, "organisation": org, "actor": actor, "data": data}
            for _ in range(10):
                reply = await client.send(org, command, data, context=context, body=body)
                if reply.get("code") != "unavailable":
                    return reply
                await asyncio.sleep(1)
            return reply

        scheduled = await asyncio.gather(*(send(s.partner_a, "ScheduleSession", session(s), "sessions") for _ in range(40)))
        assert {r["status"] for r in scheduled} == {"accepted"}, scheduled
        cp = await co_producer(client, s, s.partner_a, benefits=False)
        c = claim(s, cp, 640)
        assert (await send(s.partner_a, "ClaimExpense", c, "payments", actor="finance-officer"))["status"] == "accepted"
        approvals = await asyncio.gather(*(send(s.commissioner, "ApproveExpense", decision(s, c), "payments",
                                                actor=f"approver-{i}") for i in range(40)))
        last = await JetStreamEventStore(nats_client).last_sequence()
        for host in (s1, s2, p1, p2):
            await asyncio.wait_for(asyncio.gather(*(r.reach(last) for r in host.runners)), 60)
        models = {name: {p.name: dump(host.engine, p) for p in services[name.split("-")[0]].all_projections}
                  for host, name in ((s1, "sessions-1"), (s2, "sessions-2"), (p1, "payments-1"), (p2, "payments-2"))}

    # Spread by the queue group: each instance answered some of them.
    assert min(tally[n] for n in ("sessions-1", "sessions-2", "payments-1", "payments-2")) > 0, tally
    assert tally["sessions-1"] + tally["sessions-2"] == 40
    # G1 across instances: one approval of the claim, the rest refused (decided already, or a conflict).
    assert [r["status"] for r in approvals].count("accepted") == 1
    assert {r["code"] for r in approvals if r["status"] == "rejected"} <= {"rule_violation", "conflict"}
    # Each instance's own read model, built from the stream alone: the same rows in both.
    assert models["sessions-1"] == models["sessions-2"]
    assert models["payments-1"] == models["payments-2"]
    # The stream is shared with the rest of the suite: count this programme's sessions only.
    ours = [row for row in models["sessions-1"]["sessions_log"]["sessions_session"] if s.programme_id in row]
    assert len(ours) == 40
