"""`make bench` (ledger part; `make bench-ledger` alone): how fast an auditor can verify the
ledger, beside its yardsticks, in one run.

- In memory, the ledger maths alone: `verify_history` (leaf hashes, the tree with every
  complete subtree kept, each leaf compared with the service's record, a checkpoint every
  10,000 events opened and its root compared) over stored events already read, against
  DESIGN §5's target of 300 k events/s and against bare SHA-256 of the same bytes (the floor).
- From the stream: the same verification reading a real JetStream stream and the audit
  service's SQLite ledger, beside a raw read of that whole stream (what reading
  alone costs), and the audit service building its ledger (the projection) from scratch.

Events are the reporting benchmark's synthetic programmes (schema-valid, ~0.6 KB each).
Sizes scale with BENCH_SCALE; `sync_interval: always`. Writes bench/results/<time>-ledger.json.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from common import SCALE, Result, console, embedded_nats, n, print_ratios, print_results, write_record
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pathways.core.eventstore.base import StoredEvent
from pathways.core.readmodels import make_engine
from pathways.core.rebuild import rebuild
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.ledger.merkle import Frontier
from pathways.policy.ledger.signing import CheckpointSigner
from pathways.policy.ledger.verifier import Checkpoint, leaf_hash
from pathways.runtime.connection import ConnectionInfo
from pathways_audit.ledger import LEDGER
from pathways_audit.records import RECORDS
from pathways_audit.sources import DatabaseLedger
from pathways_audit.verify import verify_history
from reporting import publish, replay, synthetic_events

IN_MEMORY = 1_000_000
FROM_STREAM = 300_000
CHECKPOINT_EVERY = 10_000


class StoredList:
    """Events already read from the stream: verification with no I/O at all."""

    def __init__(self, events: list[StoredEvent]) -> None:
        self.events = events

    async def last_sequence(self) -> int:
        return len(self.events)

    async def read_all(self, from_sequence: int = 1, until: int | None = None) -> AsyncIterator[StoredEvent]:
        for stored in self.events[from_sequence - 1 : until]:
            yield stored


class RecordedLedger:
    """The audit service's record (leaf hashes and checkpoints), held in memory."""

    def __init__(self, leaves: list[bytes], notes: list[tuple[int, str]]) -> None:
        self._leaves, self._notes = leaves, notes

    async def size(self) -> int:
        return len(self._leaves)

    async def leaves(self, start: int, count: int) -> list[bytes]:
        return self._leaves[start : start + count]

    async def checkpoints(self) -> list[tuple[int, str]]:
        return self._notes


def checkpointed(events: list[StoredEvent], signer: CheckpointSigner) -> tuple[list[bytes], list[tuple[int, str]]]:
    """What the audit service would have recorded: each leaf, and a checkpoint every so often."""
    frontier, leaves, notes = Frontier(), [], []
    for stored in events:
        digest = leaf_hash(stored.payload)
        leaves.append(digest)
        frontier.append(digest)
        if frontier.size % CHECKPOINT_EVERY == 0:
            notes.append((frontier.size + 1, signer.sign(Checkpoint(signer.name, frontier.size, frontier.root()))))
    return leaves, notes


async def in_memory(signer: CheckpointSigner) -> list[Result]:
    count = n(IN_MEMORY)
    console.print(f"[bold]ledger[/bold]: verify {count:,} events in memory")
    now = datetime.now(UTC)
    events = [StoredEvent(i, subject, payload, now) for i, (subject, payload, _) in enumerate(synthetic_events(count), start=1)]
    size = sum(len(e.payload) for e in events)
    t = time.perf_counter()
    for stored in events:
        hashlib.sha256(stored.payload).digest()
    floor = Result("floor: SHA-256 of each stored event, nothing else", count, time.perf_counter() - t,
                   {"mean_bytes": size / count})
    leaves, notes = checkpointed(events, signer)
    t = time.perf_counter()
    report = await verify_history(StoredList(events), signer.vkey, ledger=RecordedLedger(leaves, notes))
    elapsed = time.perf_counter() - t
    assert report.ok and report.events == count, report.problems
    return [floor, Result("ledger verify, in memory (maths, ledger compare, checkpoints)", count, elapsed,
                          {"checkpoints": report.checkpoints})]


async def from_stream(conn: ConnectionInfo, home: Path, signer: CheckpointSigner) -> list[Result]:
    count = n(FROM_STREAM)
    console.print(f"[bold]ledger[/bold]: {count:,} events on a real stream")
    loaded, read = await publish(conn, count), await replay(conn, decode=False)
    out = [Result("ledger stream: load synthetic events (atomic batches)", loaded.events, loaded.seconds, {}),
           Result("raw: whole-stream read (ledger stream)", read.events, read.seconds, {})]
    nc = await conn.connect("bench-ledger")
    try:
        store = JetStreamEventStore(nc, timeout=60)
        engine = make_engine(f"sqlite:///{home / 'audit.db'}")
        t = time.perf_counter()
        size = await rebuild(LEDGER, engine, store)
        out.append(Result("audit service: build the ledger from the stream (projection into SQLite)", size,
                          time.perf_counter() - t, {}))
        await rebuild(RECORDS, engine, store)  # the checkpoints it keeps (none here: these are signed in memory)
        t = time.perf_counter()
        report = await verify_history(store, signer.vkey, ledger=DatabaseLedger(engine))
        out.append(Result("ledger verify from the stream, against the service's ledger", report.events,
                          time.perf_counter() - t, {}))
        assert report.ok, report.problems
        engine.dispose()
    finally:
        await nc.close()
    return out


def ledger_ratios(by: dict[str, Result]) -> dict[str, float]:
    memory = by["ledger verify, in memory (maths, ledger compare, checkpoints)"]
    stream = by["ledger verify from the stream, against the service's ledger"]
    replay_rate = by["raw: whole-stream read (ledger stream)"].rate
    return {
        "ledger verify in memory, events/s / 300k target (target >= 1)": memory.rate / 300_000,
        "ledger verify in memory / bare SHA-256 of the same bytes": memory.rate / by[
            "floor: SHA-256 of each stored event, nothing else"].rate,
        "ledger verify from the stream / raw replay of it": stream.rate / replay_rate,
        "audit ledger build / raw replay": by["audit service: build the ledger from the stream (projection into SQLite)"].rate
        / replay_rate,
    }


async def ledger_benchmark(home: Path) -> tuple[list[Result], str]:
    """Both parts, on a nats-server of their own (so the figures do not depend on what
    else a run has put in the stream)."""
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), "bench/ledger")
    results = await in_memory(signer)
    with embedded_nats(home / "ledger") as (conn, version):
        results += await from_stream(conn, home, signer)
    return results, version


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pathways-bench-ledger-") as tmp:
        results, version = await ledger_benchmark(Path(tmp))
    print_results(results)
    ratios = ledger_ratios({r.name: r for r in results})
    print_ratios(ratios)
    write_record(results, ratios, version, "-ledger")


if __name__ == "__main__":
    console.print(f"scale {SCALE}")
    asyncio.run(main())
