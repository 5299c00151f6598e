"""Replay as of a date, on a server of its own: the history up to a moment is exactly the
events stored by then, and a fresh read model built from it shows the figures the
dashboard showed at that moment, not today's. Through the library and through the CLI
(`pathways audit replay`, `pathways rebuild --as-of`) as an auditor would run them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi.encoders import jsonable_encoder
from pathways.core.readmodels import make_engine
from pathways.core.rebuild import rebuild
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.access import TokenStore
from pathways.runtime.host import ServiceHost
from pathways.runtime.service import discover
from pathways.testing.servers import NatsEndpoint
from pathways_audit.replay import history_as_of
from pathways_reporting import figures

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, running, setup_programme
from tests.test_reporting import caught_up
from tests.test_sessions import delivered, session


async def deliver_a_session(client: CommandClient, s: ProgrammeSetup, attendees: list[str], day: str) -> None:
    planned = session(s, starts_at=f"{day}T10:00:00Z", capacity=10)
    for command, data in [("ScheduleSession", planned), ("RecordSessionDelivered", delivered(planned, attendees))]:
        reply = await client.send(s.partner_a, command, data, context="sessions")
        assert reply["status"] == "accepted", reply


async def summary(reporting: ServiceHost, token: str, programme_id: str) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=reporting.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://reporting",
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        response = await http.get(f"/programmes/{programme_id}/summary")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


def cli(endpoint: NatsEndpoint, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PATHWAYS_NATS_URL": endpoint.connection.nats_url, "PATHWAYS_NATS_USER": endpoint.connection.user or "",
                        "PATHWAYS_NATS_PASSWORD": endpoint.connection.password or "", "PATHWAYS_HOME": str(cwd)}
    return subprocess.run([sys.executable, "-m", "pathways.runtime.cli.main", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


async def test_replay_as_of_a_moment_gives_that_history_and_the_figures_shown_then(
    own_nats_server: NatsEndpoint, tmp_path: Path
) -> None:
    services = discover()
    nc = await own_nats_server.connection.connect("replay-test")
    store = JetStreamEventStore(nc)
    client = CommandClient(nc)
    async with running(services["registry"], own_nats_server, tmp_path) as _registry, \
            running(services["sessions"], own_nats_server, tmp_path) as _sessions, \
            running(services["reporting"], own_nats_server, tmp_path) as reporting:
        s = await setup_programme(client)
        token = await TokenStore(nc).issue(s.commissioner, "commissioner")
        early = [f"early-{i}" for i in range(3)]
        for person in early:
            assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, person)))["status"] == "accepted"
        await deliver_a_session(client, s, early[:2], "2025-11-10")
        await caught_up(reporting, nc)
        shown_then = await summary(reporting, token, s.programme_id)
        last_then = await store.last_sequence()
        await asyncio.sleep(0.05)
        moment = datetime.now(UTC)
        await asyncio.sleep(0.05)

        later = [f"later-{i}" for i in range(4)]
        for person in later:
            assert (await client.send(s.partner_b, "EnrolParticipant", enrolment(s.programme_id, person)))["status"] == "accepted"
        await deliver_a_session(client, s, early, "2025-12-01")
        await caught_up(reporting, nc)
        shown_now = await summary(reporting, token, s.programme_id)
        assert shown_now["participants"] != shown_then["participants"]

    # Exactly the events stored by then, in order.
    history = [r async for r in history_as_of(store, moment)]
    assert [r["sequence"] for r in history] == list(range(1, last_then + 1))
    assert await store.sequence_at(moment) == last_then
    only_b = [r async for r in history_as_of(store, moment, organisation=s.partner_b)]
    assert only_b == [] and not any("later-" in json.dumps(r) for r in history)
    assert len([r async for r in history_as_of(store, datetime.now(UTC))]) == await store.last_sequence()

    # A fresh read model from that history shows the figures the dashboard showed then.
    engine = make_engine(f"sqlite:///{tmp_path / 'as-of.db'}")
    for projection in services["reporting"].all_projections:
        await rebuild(projection, engine, store, until=await store.sequence_at(moment))
    with engine.connect() as conn:
        rebuilt = figures.programme_summary(conn, s.programme_id, figures.Filters())
    engine.dispose()
    assert jsonable_encoder(rebuilt) == shown_then

    # The same through the CLI, as an auditor or operator runs it.
    stamp = moment.isoformat()
    replayed = cli(own_nats_server, "audit", "replay", "--as-of", stamp, "-o", "history.jsonl", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    lines = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert lines == json.loads(json.dumps(history))
    narrowed = cli(own_nats_server, "audit", "replay", "--as-of", stamp, "--programme", s.programme_id, "--format", "table",
                   cwd=tmp_path)
    assert narrowed.returncode == 0 and "ParticipantEnrolled" in narrowed.stdout and "later-" not in narrowed.stdout
    bad = cli(own_nats_server, "audit", "replay", "--as-of", "last tuesday", cwd=tmp_path)
    assert bad.returncode == 2 and "not a date" in bad.stderr
    built = cli(own_nats_server, "rebuild", "reporting", "--as-of", stamp, "--database-url",
                f"sqlite:///{tmp_path / 'cli-as-of.db'}", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert f"events 1 to {last_then}" in built.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'cli-as-of.db'}")
    with engine.connect() as conn:
        assert jsonable_encoder(figures.programme_summary(conn, s.programme_id, figures.Filters())) == shown_then
    engine.dispose()
    await nc.close()
