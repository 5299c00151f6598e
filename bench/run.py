"""`make bench`: the registry and sessions command paths beside their yardsticks, in one run,
then the reporting read model rebuilt from 1 M events and its dashboard queries (bench/reporting.py),
then the audit ledger's verify rate (bench/ledger.py).

Every NATS figure is taken with `sync_interval: always` (an acknowledged event is on
disk). Yardsticks: raw nats-py JetStream publish (one at a time, many in flight), atomic
batches of 500, a whole-stream read, and the `eventsourcing` library on SQLite (WAL)
doing the same writes. Prints ratios and writes bench/results/<timestamp>.json.
Sizes scale with BENCH_SCALE (default 1.0) so a quick run is `BENCH_SCALE=0.2 make bench`.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from common import SCALE, Result, embedded_nats, n, print_ratios, print_results, write_record
from ledger import ledger_benchmark, ledger_ratios
from pathways.eventstore.jetstream import JetStreamEventStore, ensure_stream
from pathways.runtime.connection import ConnectionInfo
from reporting import reporting_ratios, reporting_rebuild_and_queries


def payload(i: int) -> bytes:
    body = {"specversion": "1.0", "id": str(uuid.uuid4()), "type": "pathways.bench.Happened", "data": {"n": i, "pad": "x" * 300}}
    return json.dumps(body).encode()


async def raw_nats(conn: ConnectionInfo) -> list[Result]:
    nc = await conn.connect("bench-raw")
    await ensure_stream(nc)
    js = nc.jetstream()
    store = JetStreamEventStore(nc)
    out = []
    count = n(2000)
    t = time.perf_counter()
    for i in range(count):
        await js.publish(f"pathways.evt.bench.raw.seq.a{i}", payload(i), headers={"Nats-Msg-Id": str(uuid.uuid4())})
    out.append(Result("raw: one publish, await ack, next", count, time.perf_counter() - t, {}))

    count = n(10000)
    sem = asyncio.Semaphore(256)

    async def one(i: int) -> None:
        async with sem:
            await js.publish(f"pathways.evt.bench.raw.conc.a{i}", payload(i), headers={"Nats-Msg-Id": str(uuid.uuid4())})

    t = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    out.append(Result("raw: 256 publishes in flight", count, time.perf_counter() - t, {}))

    batches = max(2, n(40) // 2)
    t = time.perf_counter()
    for b in range(batches):
        await store.publish_batch([(f"pathways.evt.bench.raw.batch.a{b}-{i}", payload(i), {"Nats-Msg-Id": str(uuid.uuid4())})
                                   for i in range(500)])
    out.append(Result("raw: atomic batch of 500 (one commit)", batches * 500, time.perf_counter() - t, {}))

    last = await store.last_sequence()
    t = time.perf_counter()
    seen = 0
    async for _ in store.read_all(1, last):
        seen += 1
    out.append(Result("raw: whole-stream read (read_all: pull consumer, batches of 4096)", seen, time.perf_counter() - t, {}))
    await nc.close()
    return out


def eventsourcing_peer(directory: Path) -> list[Result]:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Enrolment(Aggregate):
        @event("Enrolled")
        def __init__(self, participant_id: str, programme_id: str, setting: str) -> None:
            self.participant_id = participant_id
            self.programme_id = programme_id
            self.setting = setting

    out = []
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(directory / "peer-single.db")}
    app: Application = Application(env=env)
    count = n(2000)
    t = time.perf_counter()
    for i in range(count):
        app.save(Enrolment(f"p{i}", "bench", "ward"))
    out.append(Result("peer: eventsourcing/SQLite, one event per save", count, time.perf_counter() - t, {}))
    app.close()

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(directory / "peer-batch.db")}
    app = Application(env=env)
    count = n(20000)
    t = time.perf_counter()
    for start in range(0, count, 500):
        app.save(*[Enrolment(f"p{i}", "bench", "ward") for i in range(start, min(start + 500, count))])
    out.append(Result("peer: eventsourcing/SQLite, batch save of 500", count, time.perf_counter() - t, {}))
    app.close()
    return out


async def command_path(conn: ConnectionInfo, home: Path) -> list[Result]:
    """The registry service in its own process; 50 concurrent partner clients."""
    env = os.environ | {"PATHWAYS_NATS_URL": conn.nats_url, "PATHWAYS_NATS_USER": conn.user or "",
                        "PATHWAYS_NATS_PASSWORD": conn.password or "", "PATHWAYS_HOME": str(home),
                        "PATHWAYS_LOG_LEVEL": "WARNING"}
    # A long-running service beside the event loop, not a command awaited: Popen does not block.
    service = subprocess.Popen([sys.executable, "-m", "pathways.cli.main", "serve", "registry", "--only", "intake",  # noqa: ASYNC220
                                "--http-port", "0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nc = await conn.connect("bench-client")
    try:
        async def send(org: str, command: str, data: dict[str, Any]) -> dict[str, Any]:
            body = {"idempotency_key": uuid.uuid4().hex, "organisation": org, "actor": "bench", "data": data}
            msg = await nc.request(f"pathways.cmd.{org}.registry.{command}", json.dumps(body).encode(), timeout=30)
            reply: dict[str, Any] = json.loads(msg.data)
            return reply

        for _ in range(200):
            try:
                await send("operator", "RegisterOrganisation",
                           {"organisation_id": "bench-commissioner", "name": "C", "kind": "commissioner"})
                break
            except Exception:
                await asyncio.sleep(0.1)
        await send("operator", "RegisterOrganisation",
                   {"organisation_id": "bench-partner", "name": "P", "kind": "delivery_partner"})
        await send("bench-commissioner", "LaunchProgramme",
                   {"programme_id": "bench", "name": "B", "aims": ["a"], "starts_on": "2025-01-01", "ends_on": "2026-12-31",
                    "budget_pence": 10**9})
        await send("bench-commissioner", "CommissionPartner",
                   {"programme_id": "bench", "contract_id": "k", "partner_id": "bench-partner", "budget_pence": 10**8,
                    "activities": ["yoga"], "starts_on": "2025-01-01", "ends_on": "2026-12-31"})

        def enrol(i: int, tag: str) -> dict[str, Any]:
            return {"programme_id": "bench", "participant_id": f"{tag}{i}", "setting": "ward", "referral_source": "self",
                    "consent_given": True, "enrolled_on": "2025-06-01"}

        out = []
        count = n(5000)
        latencies: list[float] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)
        rejected = 0

        async def client() -> None:
            nonlocal rejected
            while not queue.empty():
                i = queue.get_nowait()
                t0 = time.perf_counter()
                reply = await send("bench-partner", "EnrolParticipant", enrol(i, "c"))
                latencies.append(time.perf_counter() - t0)
                rejected += reply["status"] != "accepted"

        t = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(50)))
        elapsed = time.perf_counter() - t
        out.append(Result("registry command path, 50 concurrent clients", count, elapsed,
                          _lat(latencies) | {"rejected": rejected}))

        # Paced: 1,000 commands/s offered for a few seconds; what latency does a client see?
        rate, seconds = 1000, max(2.0, 5 * SCALE)
        paced: list[float] = []
        tasks = []

        async def timed(i: int) -> None:
            t0 = time.perf_counter()
            await send("bench-partner", "EnrolParticipant", enrol(i, "r"))
            paced.append(time.perf_counter() - t0)

        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(timed(i)))
        await asyncio.gather(*tasks)
        out.append(Result("registry command path, paced at 1,000/s", len(paced), time.perf_counter() - start, _lat(paced)))
        out.append(await consulting_command_path(env, nc))
        return out
    finally:
        await nc.close()
        service.terminate()
        service.wait(10)


async def consulting_command_path(env: dict[str, str], nc: Any) -> Result:
    """The sessions service: each ScheduleSession consults the service's directory view,
    which first catches up to the stream's last sequence. Beside the registry figure this
    shows what that read-your-writes wait costs."""
    service = subprocess.Popen([sys.executable, "-m", "pathways.cli.main", "serve", "sessions", "--only", "intake",  # noqa: ASYNC220
                                "--http-port", "0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async def schedule(i: int) -> dict[str, Any]:
            data = {"programme_id": "bench", "session_id": f"s{i}", "activity": "yoga", "site": "Hall",
                    "starts_at": "2025-06-02T10:00:00Z", "duration_minutes": 60, "capacity": 12}
            body = {"idempotency_key": f"schedule-{i}", "organisation": "bench-partner", "actor": "bench", "data": data}
            msg = await nc.request("pathways.cmd.bench-partner.sessions.ScheduleSession", json.dumps(body).encode(), timeout=30)
            reply: dict[str, Any] = json.loads(msg.data)
            return reply

        for _ in range(300):  # until the service answers and its directory knows the contract
            try:
                if (await schedule(-1))["status"] == "accepted":
                    break
            except Exception:
                pass
            await asyncio.sleep(0.1)
        count, latencies, rejected = n(3000), [], 0
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def client() -> None:
            nonlocal rejected
            while not queue.empty():
                i = queue.get_nowait()
                t0 = time.perf_counter()
                reply = await schedule(i)
                latencies.append(time.perf_counter() - t0)
                rejected += reply["status"] != "accepted"

        t = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(50)))
        return Result("sessions command path (consults its view), 50 clients", count, time.perf_counter() - t,
                      _lat(latencies) | {"rejected": rejected})
    finally:
        service.terminate()
        service.wait(10)


def _lat(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": 1000 * statistics.median(ordered), "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))]}


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pathways-bench-") as tmp:
        home = Path(tmp)
        with embedded_nats(home) as (conn, version):
            results = await raw_nats(conn)
            results += eventsourcing_peer(home)
            results += await command_path(conn, home)
            results += await reporting_rebuild_and_queries(conn, home)
        ledger_results, _ = await ledger_benchmark(home)
        results += ledger_results
    by = {r.name: r for r in results}
    print_results(results)
    cmd = by["registry command path, 50 concurrent clients"]
    peer_one = by["peer: eventsourcing/SQLite, one event per save"]
    raw_batch, peer_batch = by["raw: atomic batch of 500 (one commit)"], by["peer: eventsourcing/SQLite, batch save of 500"]
    ratios = {
        "command path / peer one-event-per-save (target >= 3)": cmd.rate / peer_one.rate,
        "command path / raw one publish at a time": cmd.rate / by["raw: one publish, await ack, next"].rate,
        "command path / raw 256 in flight": cmd.rate / by["raw: 256 publishes in flight"].rate,
        "raw atomic batch / peer batch save": raw_batch.rate / peer_batch.rate,
        "paced 1,000/s p99 ms (target < 20)": by["registry command path, paced at 1,000/s"].extra["p99_ms"],
        "sessions (view-consulting) / registry command path":
            by["sessions command path (consults its view), 50 clients"].rate / cmd.rate,
    }
    ratios |= reporting_ratios(by)
    ratios |= ledger_ratios(by)
    print_ratios(ratios)
    write_record(results, ratios, version)


if __name__ == "__main__":
    asyncio.run(main())
