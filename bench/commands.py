"""The command path, measured through the whole platform as `pathways up` runs it (every
service and projection live), beside raw JetStream publishes of the same bytes on the same
server: 1, 10 and 50 concurrent clients, 1,000 commands/s offered, a view-consulting
command, and one command's latency as its aggregate's history grows (10 to 100 k events).
The registry alone (`serve registry --only intake`, its own server) is an extra row."""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

from common import SCALE, TINY, Result, console, n
from live import CpuMeter, Platform, wait_quiet
from nats.aio.client import Client
from nats.js.api import StorageType, StreamConfig
from pathways.core.envelope import canonical_json
from pathways.jetstream.store import MAX_BATCH_MESSAGES, JetStreamEventStore, ensure_stream
from pathways.policy.consent import SINGLE_FLAG
from pathways.runtime.connection import ConnectionInfo

BENCH_STREAM = "BENCH_RAW"  # the yardsticks' own stream on the platform's server: no consumer reads it
HISTORY_SIZES = (10, 1_000, 10_000, 100_000) if not TINY else (10, 100, 200, 400)


class Sender:
    """Commands as a partner system sends them: NATS request-reply."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc

    async def send(self, org: str, context: str, command: str, data: dict[str, Any], key: str | None = None) -> dict[str, Any]:
        body = {"idempotency_key": key or uuid.uuid4().hex, "organisation": org, "actor": "bench", "data": data}
        msg = await self.nc.request(f"pathways.cmd.{org}.{context}.{command}", json.dumps(body).encode(), timeout=60)
        reply: dict[str, Any] = json.loads(msg.data)
        return reply

    async def accepted(self, org: str, context: str, command: str, data: dict[str, Any],
                       key: str | None = None) -> dict[str, Any]:
        reply = await self.send(org, context, command, data, key)
        if reply["status"] != "accepted":
            raise RuntimeError(f"{command} was refused: {reply}")
        return reply


async def setup_programme(sender: Sender, tag: str, partners: int = 1) -> tuple[str, str, list[str]]:
    """A commissioner, its programme and `partners` commissioned partners, made up."""
    programme, commissioner = f"bench-{tag}", f"bench-{tag}-commissioner"
    partner_ids = [f"bench-{tag}-partner-{i}" for i in range(partners)]
    for _ in range(300):  # until the registry answers
        try:
            await sender.accepted("operator", "registry", "RegisterOrganisation",
                                  {"organisation_id": commissioner, "name": "Bench Commissioning", "kind": "commissioner"},
                                  key=f"org-{commissioner}")
            break
        except Exception:
            await asyncio.sleep(0.1)
    for p in partner_ids:
        await sender.accepted("operator", "registry", "RegisterOrganisation",
                              {"organisation_id": p, "name": f"Bench Partner {p}", "kind": "delivery_partner"}, key=f"org-{p}")
    await sender.accepted(commissioner, "registry", "LaunchProgramme",
                          {"programme_id": programme, "name": "Bench programme", "aims": ["a"], "starts_on": "2025-01-01",
                           "ends_on": "2026-12-31", "budget_pence": 10**10}, key=f"launch-{programme}")
    for i, p in enumerate(partner_ids):
        await sender.accepted(commissioner, "registry", "CommissionPartner",
                              {"programme_id": programme, "contract_id": f"k{i}", "partner_id": p, "budget_pence": 10**8,
                               "activities": ["yoga"], "starts_on": "2025-01-01", "ends_on": "2026-12-31"},
                               key=f"k-{programme}-{i}")
    return programme, commissioner, partner_ids


def enrolment(programme: str, participant: str, consent: bool = True) -> dict[str, Any]:
    return {"programme_id": programme, "participant_id": participant, "setting": "ward", "referral_source": "self",
            "consent_given": consent, "enrolled_on": "2025-06-01"}


def latencies(values: list[float]) -> dict[str, float]:
    ordered = sorted(values) or [0.0]
    return {"p50_ms": 1000 * statistics.median(ordered), "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))]}


async def closed_loop(clients: int, count: int, one: Callable[[int], Awaitable[dict[str,
                                                                                    Any]]]) -> tuple[float, list[float], int]:
    """`clients` loops, each sending its next command when the last is answered."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    lat: list[float] = []
    refused = 0

    async def client() -> None:
        nonlocal refused
        while not queue.empty():
            i = queue.get_nowait()
            t0 = time.perf_counter()
            reply = await one(i)
            lat.append(time.perf_counter() - t0)
            refused += reply["status"] != "accepted"

    t = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - t, lat, refused


async def paced(rate: float, seconds: float, one: Callable[[int], Awaitable[dict[str, Any]]]) -> tuple[float, list[float], int]:
    """`rate` commands a second offered whether or not earlier ones are answered (open loop)."""
    lat: list[float] = []
    refused = 0

    async def timed(i: int) -> None:
        nonlocal refused
        t0 = time.perf_counter()
        try:
            reply = await one(i)
            refused += reply["status"] != "accepted"
        except Exception:
            refused += 1
        lat.append(time.perf_counter() - t0)

    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed(i)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - start, lat, refused


# --- raw yardsticks on the platform's own server ------------------------------------------


async def raw_publishes(nc: Client, payload: bytes) -> list[Result]:
    """The same bytes as one stored ParticipantEnrolled, published straight to a stream of
    the bench's own (file storage, sync always, no consumers): 1, 10, 50 in flight, and
    atomic batches of 500."""
    js = nc.jetstream(timeout=60)
    await js.add_stream(StreamConfig(name=BENCH_STREAM, subjects=["bench.raw.>"], storage=StorageType.FILE,
                                     allow_atomic=True, allow_direct=True))
    out = []
    for clients in (1, 10, 50):
        count = n(2000 if clients == 1 else 5000)

        async def one(i: int, clients: int = clients) -> dict[str, Any]:
            await js.publish(f"bench.raw.c{clients}.a{i}", payload, headers={"Nats-Msg-Id": uuid.uuid4().hex})
            return {"status": "accepted"}

        seconds, lat, _ = await closed_loop(clients, count, one)
        out.append(Result(f"raw: js.publish of the same bytes, {clients} in flight", count, seconds, latencies(lat),
                          kind=f"raw publish {clients}"))
    store = JetStreamEventStore(nc, timeout=60)
    batches = max(2, n(40) // 2)
    t = time.perf_counter()
    for b in range(batches):
        await store.publish_batch([(f"bench.raw.batch.a{b}-{i}", payload, {"Nats-Msg-Id": uuid.uuid4().hex}) for i in range(500)])
    out.append(Result("raw: atomic batch of 500 (one commit)", batches * 500, time.perf_counter() - t, {}, kind="raw batch"))
    return out


async def raw_batch_of(nc: Client, payloads: list[bytes], name: str, kind: str) -> Result:
    """These exact payloads in atomic batches of the server's maximum: the bulk yardstick."""
    store = JetStreamEventStore(nc, timeout=60)
    t = time.perf_counter()
    for start in range(0, len(payloads), MAX_BATCH_MESSAGES):
        chunk = payloads[start:start + MAX_BATCH_MESSAGES]
        await store.publish_batch([(f"bench.raw.{kind}.{start + i}", p, {"Nats-Msg-Id": uuid.uuid4().hex})
                                   for i, p in enumerate(chunk)])
    return Result(name, len(payloads), time.perf_counter() - t, {}, kind=kind)


# --- the command path through the whole platform ---------------------------------------


async def whole_platform(platform: Platform) -> list[Result]:
    nc = await platform.connection.connect("bench-commands")
    sender = Sender(nc)
    out: list[Result] = []
    try:
        programme, _, (partner,) = await setup_programme(sender, "cmd")
        sample = await sender.accepted(partner, "registry", "EnrolParticipant", enrolment(programme, "sample"))
        stored = await JetStreamEventStore(nc).get(sample["sequence"])
        assert stored is not None
        out += await raw_publishes(nc, stored.payload)
        pids = platform.pids()
        await wait_quiet(pids)
        for clients in (1, 10, 50):
            count = n(1000 if clients == 1 else 5000)
            tag = f"c{clients}-"

            async def enrol(i: int, tag: str = tag) -> dict[str, Any]:
                return await sender.send(partner, "registry", "EnrolParticipant", enrolment(programme, f"{tag}{i}"))

            meter = CpuMeter(pids).start()
            seconds, lat, refused = await closed_loop(clients, count, enrol)
            meter.stop()
            extra = latencies(lat) | {"rejected": refused} | meter.per_item_ms(count)
            out.append(Result(f"command path, whole platform, {clients} client{'s' if clients > 1 else ''} (EnrolParticipant)",
                              count, seconds, extra, kind=f"command path {clients}"))
            console.print(f"  {out[-1].name}: {out[-1].rate:,.0f}/s, p50 {extra['p50_ms']:.1f} ms, p99 {extra['p99_ms']:.1f} ms; "
                          f"CPU ms/command {sum(v for k, v in extra.items() if k.startswith('cpu_ms')):.2f}")
            await wait_quiet(pids)

        async def enrol_paced(i: int) -> dict[str, Any]:
            return await sender.send(partner, "registry", "EnrolParticipant", enrolment(programme, f"paced-{i}"))

        seconds, lat, refused = await paced(1000, 2.0 if TINY else max(3.0, 10 * SCALE), enrol_paced)
        out.append(Result("command path, whole platform, paced at 1,000/s offered", len(lat), seconds,
                          latencies(lat) | {"rejected": refused}, kind="paced"))
        await wait_quiet(pids)
        out.append(await consulting(sender, programme, partner, pids))
        await wait_quiet(pids)
        out += await history(platform, nc, sender, programme, partner, pids)
    finally:
        await nc.close()
    return out


async def consulting(sender: Sender, programme: str, partner: str, pids: dict[str, int]) -> Result:
    """ScheduleSession consults the sessions service's directory (read-your-writes: it waits
    for the view to reach the stream's last sequence as the command arrived)."""
    async def schedule(i: int) -> dict[str, Any]:
        data = {"programme_id": programme, "session_id": f"s{i}", "activity": "yoga", "site": "Hall",
                "starts_at": "2025-06-02T10:00:00Z", "duration_minutes": 60, "capacity": 12}
        return await sender.send(partner, "sessions", "ScheduleSession", data, key=f"schedule-{i}")

    for _ in range(300):  # until the service answers and its directory knows the contract
        try:
            if (await schedule(-1))["status"] == "accepted":
                break
        except Exception:
            pass
        await asyncio.sleep(0.1)
    count = n(3000)
    meter = CpuMeter(pids).start()
    seconds, lat, refused = await closed_loop(50, count, schedule)
    meter.stop()
    return Result("command path, whole platform, 50 clients, consults a view (ScheduleSession)", count, seconds,
                  latencies(lat) | {"rejected": refused} | meter.per_item_ms(count), kind="consulting")


async def history(platform: Platform, nc: Client, sender: Sender, programme: str, partner: str,
                  pids: dict[str, int]) -> list[Result]:
    """One participant's enrolment whose history already holds N events (consent recorded and
    withdrawn in turn, published as the registry would store them), then commands on it: the
    first (the service has never read it), and the next ones one after another."""
    from reporting import Envelopes

    envelope = Envelopes(random.Random(3))
    store = JetStreamEventStore(nc, timeout=60)
    out = []
    for size in HISTORY_SIZES:
        participant = f"history-{size}-{uuid.uuid4().hex[:6]}"
        messages = [envelope("registry", "ParticipantEnrolled", programme, partner, participant, partner,
                             date(2025, 6, 1),
                             {"programme_id": programme, "participant_id": participant, "partner_id": partner,
                              "setting": "ward", "referral_source": "self", "consent_given": False,
                              "enrolled_on": "2025-06-01", "personal": None, "referral_id": None})]
        for i in range(1, size):
            name, field = ("ConsentRecorded", "recorded_on") if i % 2 else ("ConsentWithdrawn", "withdrawn_on")
            # schema v2: consent by purpose (pathways.policy.consent), as RecordConsent without purposes gives
            extra: dict[str, Any] = {"purposes": list(SINGLE_FLAG)} | (
                {"information_version": None, "recorded_by": None, "capacity_note": None, "review_on": None} if i % 2 else {})
            messages.append(envelope("registry", name, programme, partner, participant, partner,
                                     date(2025, 6, 1),
                                     {"programme_id": programme, "participant_id": participant, "partner_id": partner,
                                      field: "2025-06-02"} | extra))
        for start in range(0, len(messages), MAX_BATCH_MESSAGES):
            await store.publish_batch(messages[start:start + MAX_BATCH_MESSAGES])
        await wait_quiet(pids)
        consenting = size % 2 == 0  # after the enrolment (no consent), odd events record it

        async def toggle(i: int, participant: str = participant) -> dict[str, Any]:
            nonlocal consenting
            command = "WithdrawConsent" if consenting else "RecordConsent"
            reply = await sender.send(partner, "registry", command,
                                      {"programme_id": programme, "participant_id": participant, "on": "2025-06-03"})
            consenting = not consenting if reply["status"] == "accepted" else consenting
            return reply

        t0 = time.perf_counter()
        first = await toggle(-1)
        cold_ms = 1000 * (time.perf_counter() - t0)
        count = n(300)
        seconds, lat, refused = await closed_loop(1, count, toggle)
        out.append(Result(f"command on an aggregate with {size:,} events in its history, 1 client", count, seconds,
                          latencies(lat) | {"first_command_ms": cold_ms, "rejected": refused + (first["status"] != "accepted"),
                                            "history": size}, kind=f"history {HISTORY_SIZES.index(size)}"))
        console.print(f"  history {size:,}: first {cold_ms:.1f} ms, then p50 {out[-1].extra['p50_ms']:.1f} ms")
    return out


# --- the registry alone, on a server of its own --------------------------------------


async def registry_alone(conn: ConnectionInfo, home: Path) -> Result:
    """`serve registry --only intake`: the intake without any projection beside it."""
    env = os.environ | {"PATHWAYS_NATS_URL": conn.nats_url, "PATHWAYS_NATS_USER": conn.user or "",
                        "PATHWAYS_NATS_PASSWORD": conn.password or "", "PATHWAYS_HOME": str(home),
                        "PATHWAYS_LOG_LEVEL": "WARNING"}
    from live import stop
    from pathways.runtime.natsserver import free_port

    # A long-running service beside the event loop: Popen does not block.
    service = subprocess.Popen([sys.executable, "-m", "pathways.runtime.cli.main", "serve", "registry", "--only", "intake",  # noqa: ASYNC220
                                "--http-port", str(free_port())], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    nc = await conn.connect("bench-registry-alone")
    try:
        await ensure_stream(nc)  # a server of its own: the stream may not be there yet
        sender = Sender(nc)
        programme, _, (partner,) = await setup_programme(sender, "alone")
        count = n(5000)

        async def enrol(i: int) -> dict[str, Any]:
            return await sender.send(partner, "registry", "EnrolParticipant", enrolment(programme, f"alone-{i}"))

        meter = CpuMeter({"registry": service.pid}).start()
        seconds, lat, refused = await closed_loop(50, count, enrol)
        meter.stop()
        return Result("command path, registry alone (serve registry --only intake), 50 clients", count, seconds,
                      latencies(lat) | {"rejected": refused} | meter.per_item_ms(count), kind="registry alone")
    finally:
        await nc.close()
        stop(service)


def payload_bytes(body: dict[str, Any]) -> bytes:
    return canonical_json(body)
