"""Guarantee 3: a projection killed with `kill -9` at any point and restarted ends
identical to a clean rebuild — on SQLite, and on PostgreSQL when one is available."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from pathways.core.projection import Projection, dump, read_position
from pathways.core.readmodels import make_engine
from pathways.core.rebuild import rebuild
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost
from pathways.testing.servers import NatsEndpoint
from pathways_registry.readmodel import ROSTER

from tests.conftest import CommandClient, enrolment, setup_programme, unique


def spawn_projection(endpoint: NatsEndpoint, db_url: str, home: Path, service: str = "registry") -> subprocess.Popen[bytes]:
    env = os.environ | {
        "PATHWAYS_NATS_URL": endpoint.connection.nats_url,
        "PATHWAYS_NATS_USER": endpoint.connection.user or "",
        "PATHWAYS_NATS_PASSWORD": endpoint.connection.password or "",
        "PATHWAYS_HOME": str(home),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "pathways.runtime.cli.main", "serve", service, "--only", "projections", "--database-url", db_url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


async def write_traffic(client: CommandClient, rounds: int, sessions: bool = False) -> None:
    """Enrolments, moves and withdrawals; with `sessions`, a session delivered every third
    round to people the partner has enrolled (the reporting projection adds who came into
    its summaries)."""
    s = await setup_programme(client)
    present: dict[str, list[str]] = {s.partner_a: [], s.partner_b: []}
    for i in range(rounds):
        p = unique("p")
        partner = s.partner_a if i % 2 else s.partner_b
        await client.send(partner, "EnrolParticipant", enrolment(s.programme_id, p, setting="community" if i % 3 else "ward"))
        if i % 5:
            present[partner].append(p)
        if sessions and i % 3 == 0 and present[partner]:
            sid = unique("s")
            await client.send(partner, "ScheduleSession", {
                "programme_id": s.programme_id, "session_id": sid, "activity": ("soft archery", "music production")[i % 2],
                "site": "Community hub", "starts_at": f"2026-{1 + i % 10:02d}-{1 + i % 28:02d}T10:00:00Z",
                "duration_minutes": 60, "capacity": 12}, context="sessions")
            await client.send(partner, "RecordSessionDelivered", {
                "programme_id": s.programme_id, "session_id": sid, "attendees": present[partner][-4:], "duration_minutes": 60},
                context="sessions")
        if i % 4 == 0:
            await client.send(partner, "TransitionParticipant", {"programme_id": s.programme_id, "participant_id": p,
                                                                 "on": "2026-02-01",
                                                                "to_setting": "ward" if i % 3 else "community"})
        if i % 5 == 0:
            await client.send(partner, "WithdrawParticipant", {"programme_id": s.programme_id, "participant_id": p,
                                                               "on": "2026-03-01", "reason": "moved"})


async def run_kill_nine_scenario(nats_server: NatsEndpoint, registry: ServiceHost, client: CommandClient,
                                 nats_client: Client, db_url: str, tmp_path: Path, service: str = "registry",
                                 projection: Projection = ROSTER, sessions: bool = False) -> dict[str, list[Any]]:
    rng = random.Random(20251009)
    engine = make_engine(db_url)
    traffic = asyncio.create_task(write_traffic(client, 150, sessions))
    kills = 0
    while not traffic.done() or kills < 4:
        proc = spawn_projection(nats_server, db_url, tmp_path, service)
        await asyncio.sleep(rng.uniform(0.6, 1.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    await traffic
    proc = spawn_projection(nats_server, db_url, tmp_path, service)
    try:
        last = await JetStreamEventStore(nats_client).last_sequence()
        for _ in range(600):
            with engine.connect() as conn:
                if read_position(conn, projection.name) >= last:
                    break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the restarted projection did not catch up")
    finally:
        proc.terminate()
        proc.wait(10)
    survived = dump(engine, projection)
    clean_url = db_url + "_clean" if db_url.startswith("postgres") else f"sqlite:///{tmp_path / 'clean.db'}"
    clean_engine = make_engine(clean_url) if not db_url.startswith("postgres") else engine
    if clean_engine is engine:
        # One PostgreSQL database: rebuild into fresh tables and swap, then compare.
        await rebuild(projection, engine, JetStreamEventStore(nats_client))
        rebuilt = dump(engine, projection)
    else:
        await rebuild(projection, clean_engine, JetStreamEventStore(nats_client))
        rebuilt = dump(clean_engine, projection)
    assert kills >= 4
    assert sum(len(rows) for rows in survived.values()) > 150
    assert survived == rebuilt
    return survived


async def test_g3_projection_killed_with_sigkill_ends_identical_to_a_rebuild_sqlite(
    nats_server: NatsEndpoint, registry: ServiceHost, client: CommandClient, nats_client: Client, tmp_path: Path
) -> None:
    await run_kill_nine_scenario(nats_server, registry, client, nats_client, f"sqlite:///{tmp_path / 'roster.db'}", tmp_path)


async def test_g3_reporting_summaries_killed_with_sigkill_end_identical_to_a_rebuild_sqlite(
    nats_server: NatsEndpoint, registry: ServiceHost, sessions: ServiceHost, client: CommandClient, nats_client: Client,
    tmp_path: Path,
) -> None:
    """The reporting projection adds enrolments, withdrawals and who came into counters
    (answers.py): a batch replayed after a kill that added again would leave counts a
    rebuild (which computes who came in SQL) does not."""
    from pathways_reporting.answers import ATTENDED
    from pathways_reporting.readmodel import FACTS

    survived = await run_kill_nine_scenario(nats_server, registry, client, nats_client,
                                            f"sqlite:///{tmp_path / 'reporting.db'}", tmp_path, "reporting", FACTS, True)
    assert survived[ATTENDED.name]  # sessions were delivered while it was killed


@pytest.mark.postgres
async def test_g3_reporting_summaries_killed_with_sigkill_end_identical_to_a_rebuild_postgres(
    nats_server: NatsEndpoint, registry: ServiceHost, sessions: ServiceHost, client: CommandClient, nats_client: Client,
    tmp_path: Path, fresh_postgres: str,
) -> None:
    """The batched projection with its summary tables, on PostgreSQL (multi-row upserts,
    the position row locked in the same transaction)."""
    from pathways_reporting.answers import ATTENDED
    from pathways_reporting.readmodel import FACTS

    survived = await run_kill_nine_scenario(nats_server, registry, client, nats_client, fresh_postgres, tmp_path, "reporting",
                                            FACTS, True)
    assert survived[ATTENDED.name]


@pytest.mark.postgres
async def test_g3_projection_killed_with_sigkill_ends_identical_to_a_rebuild_postgres(
    nats_server: NatsEndpoint, registry: ServiceHost, client: CommandClient, nats_client: Client, tmp_path: Path, postgres: str
) -> None:
    from sqlalchemy import text

    engine = make_engine(postgres)
    with engine.begin() as conn:
        for table in ROSTER.tables:
            conn.execute(text(f'DROP TABLE IF EXISTS "{table.name}" CASCADE'))
        conn.execute(text("DELETE FROM projection_position"))
    engine.dispose()
    await run_kill_nine_scenario(nats_server, registry, client, nats_client, postgres, tmp_path)


async def test_rebuild_swaps_fresh_tables_in_and_keeps_the_figures(
    registry: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    await write_traffic(client, 12)
    await registry.caught_up()
    runner = registry.runners[0]
    last = await JetStreamEventStore(nats_client).last_sequence()
    await asyncio.wait_for(runner.reach(last), 30)
    before = dump(registry.engine, ROSTER)
    ticks: list[tuple[int, int]] = []
    position = await rebuild(ROSTER, registry.engine, JetStreamEventStore(nats_client), progress=lambda d,
                             t: ticks.append((d, t)))
    assert position >= last
    assert ticks and ticks[-1][0] == ticks[-1][1]
    assert dump(registry.engine, ROSTER) == before
    from sqlalchemy import inspect

    names = inspect(registry.engine).get_table_names()
    assert not [n for n in names if n.endswith("__rebuild")]


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_rebuild_twice_in_a_row(
    database: str, registry: ServiceHost, client: CommandClient, nats_client: Client, tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    url = request.getfixturevalue("postgres") if database == "postgres" else f"sqlite:///{tmp_path / 'twice.db'}"
    await write_traffic(client, 3)
    engine = make_engine(url)
    store = JetStreamEventStore(nats_client)
    first = await rebuild(ROSTER, engine, store)
    once = dump(engine, ROSTER)
    second = await rebuild(ROSTER, engine, store)
    assert second == first and dump(engine, ROSTER) == once
    assert sum(len(r) for r in once.values()) > 0
    engine.dispose()
