"""The bulk paths through the whole platform as `pathways up` runs it (every service and
projection live): a register CSV import sent as `pathways import attendance` sends it
(NATS request-reply, many sessions in flight), beside raw atomic batches of the very
bytes it stored on the same server in the same run; and loading the demo programme.

`bulk(platform)` returns the rows; `bulk_ratios` the figures run.py prints. Standalone:
`.venv/bin/python bench/bulk.py` (BENCH_SCALE=0.001 for a run of seconds)."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from commands import BENCH_STREAM, Sender, closed_loop, enrolment, raw_batch_of, setup_programme
from common import SCALE, TINY, Result, console, n, print_ratios, print_results, write_record
from live import CpuMeter, Platform, running_platform, wait_quiet
from nats.aio.client import Client
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.natsserver import nats_server_binary
from pathways_demo import build_plan, load, nats_send
from pathways_sessions.cli import nats_sender
from pathways_sessions.register_import import WINDOW, import_register, read_register

HEADER = "session_id,date,start_time,activity,site,duration_minutes,capacity,participant_id"
PER_SESSION = 8  # people at each session of the made-up register
TARGET = 0.70  # DESIGN §5: bulk import at least 70 % of a raw atomic batch


def made_up_register(rows: int, people: list[str], seed: int = 13) -> str:
    """A partner's register of `rows` rows: weekly-ish sessions of PER_SESSION people each,
    pseudonymous ids only, every date in 2025 (inside the bench contract, in the past)."""
    rng = random.Random(seed)
    lines = [HEADER]
    for s in range(-(-rows // PER_SESSION)):
        day = date(2025, 1, 6) + timedelta(days=s % 350)
        who = rng.sample(people, min(PER_SESSION, len(people), rows - s * PER_SESSION))
        start = f"{9 + s % 8:02d}:{(s % 2) * 30:02d}"
        lines += [f"bulk-s{s:06d},{day},{start},yoga,Community Hall,60,12,{p}" for p in who]
    return "\n".join(lines) + "\n"


async def register_import(nc: Client, sender: Sender, pids: dict[str, int], window: int = WINDOW) -> list[Result]:
    programme, _, (partner,) = await setup_programme(sender, f"bulk{uuid.uuid4().hex[:6]}")
    people = [f"bulk-p{i:04d}" for i in range(max(PER_SESSION * 2, min(400, n(400))))]

    async def enrol(i: int) -> dict[str, Any]:
        return await sender.send(partner, "registry", "EnrolParticipant", enrolment(programme, people[i]), key=f"e-{people[i]}")

    _, _, refused = await closed_loop(32, len(people), enrol)
    if refused:
        raise RuntimeError(f"{refused} of the bench's enrolments were refused")
    rows = n(20_000)
    text = made_up_register(rows, people)
    await wait_quiet(pids)  # the enrolments projected everywhere: the import has the cores to itself

    store = JetStreamEventStore(nc, timeout=60)
    before = await store.last_sequence()
    meter = CpuMeter(pids).start()
    t = time.perf_counter()
    sessions, refused_rows = read_register(text)  # part of the import: the CLI reads the file first
    await import_register(programme, sessions, nats_sender(nc, partner, "bench-import"), window=window)
    seconds = time.perf_counter() - t
    meter.stop()
    # What the import stored, read back: its events and the exact bytes the yardstick sends.
    stored = [e for e in await store.read_subject(f"pathways.evt.{programme}.{partner}.sessions.>", after=before)]
    verdicts = [r.status for s in sessions for r in s.rows] + [r.status for r in refused_rows]
    extra: dict[str, Any] = {"rows": rows, "sessions": len(sessions), "rows_rejected": sum(v != "accepted" for v in verdicts),
                             "window": window} | meter.per_item_ms(len(stored))
    imported = Result(f"register import (CSV of {rows:,} rows, pathways import attendance's path), events stored",
                      len(stored), seconds, extra, kind="register import")
    console.print(f"  register import: {len(stored):,} events in {seconds:.2f} s, {imported.rate:,.0f} events/s; "
                  f"CPU ms/event {sum(v for k, v in extra.items() if k.startswith('cpu_ms')):.2f}")

    await ensure_bench_stream(nc)
    await wait_quiet(pids)
    raw = await raw_batch_of(nc, [e.payload for e in stored], "raw: atomic batches of the import's own events (one commit each)",
                             "raw-batch-import")
    ratio = imported.rate / raw.rate if raw.rate else 0.0
    ratio_row = Result(f"register import / raw atomic batch (target >= {TARGET:.2f})", imported.events, imported.seconds,
                       {"ratio": ratio, "target": TARGET, "met": ratio >= TARGET}, kind="import ratio")
    return [imported, raw, ratio_row]


async def ensure_bench_stream(nc: Client) -> None:
    """The yardsticks' stream (commands.raw_publishes makes it too): no consumer reads it."""
    js = nc.jetstream(timeout=60)
    try:
        await js.stream_info(BENCH_STREAM)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=BENCH_STREAM, subjects=["bench.raw.>"], storage=StorageType.FILE,
                                         allow_atomic=True, allow_direct=True))


async def demo_load(nc: Client, pids: dict[str, int]) -> Result:
    """`pathways demo`'s plan sent as the CLI sends it (its loader, its concurrency), under a
    programme id of its own so every command is new (the made-up organisations are shared)."""
    scale = 1.0 if SCALE >= 1 else max(0.05, SCALE)
    plan = build_plan(programme_id=f"demo-bench-{uuid.uuid4().hex[:6]}", scale=scale)
    await wait_quiet(pids)
    recorded_up_to = await JetStreamEventStore(nc).last_sequence()
    meter = CpuMeter(pids).start()
    report = await load(plan, nats_send(nc, correlation_id="bench-demo"), recorded_up_to=recorded_up_to)
    meter.stop()
    extra: dict[str, Any] = {"scale": scale, "accepted": report.accepted, "already": report.already, "failed": report.failed,
                             "retries": report.retries, "seconds": report.seconds, "target_s": 10.0 if scale == 1 else None}
    extra |= meter.per_item_ms(len(plan))
    if report.failures:
        extra["first_failure"] = f"{report.failures[0].step.command}: {report.failures[0].reply.get('message', '')}"[:200]
    extra |= {f"stage_s {name[:40]}": s for name, s in report.stage_seconds.items()}
    console.print(f"  demo load: {len(plan):,} commands in {report.seconds:.2f} s ({len(plan) / report.seconds:,.0f}/s)")
    return Result(f"demo load ({len(plan):,} commands, pathways demo), commands", len(plan), report.seconds, extra,
                  kind="demo load")


async def bulk(platform: Platform) -> list[Result]:
    """Every bulk row against one running platform."""
    nc = await platform.connection.connect("bench-bulk")
    pids = platform.pids()
    try:
        out = await register_import(nc, Sender(nc), pids)
        out.append(await demo_load(nc, pids))
        return out
    finally:
        await nc.close()


def bulk_ratios(by: dict[str, Result]) -> dict[str, float]:
    out = {}
    for r in by.values():
        if r.kind == "import ratio":
            out[r.name] = float(r.extra["ratio"])
        elif r.kind == "demo load":
            out["demo load seconds (target < 10 at full scale)"] = r.seconds
    return out


def main() -> None:
    version = subprocess.run([str(nats_server_binary()), "--version"], capture_output=True, text=True).stdout.strip()
    console.print(f"nats-server {version}, sync_interval: always; {os.cpu_count()} cores; scale {SCALE}"
                  f"{' (tiny)' if TINY else ''}")

    async def run() -> list[Result]:
        with tempfile.TemporaryDirectory(prefix="pathways-bench-bulk-") as tmp, running_platform(Path(tmp)) as platform:
            return await bulk(platform)

    results = asyncio.run(run())
    print_results(results)
    ratios = bulk_ratios({r.name: r for r in results})
    print_ratios(ratios)
    write_record(results, ratios, version, suffix="-bulk")


if __name__ == "__main__":
    main()
