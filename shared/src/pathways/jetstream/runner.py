"""The projection runner: a service's projections fed live from one pull consumer.

- All the projections of one process share the consumer (one delivery of each event to
  the process, one transaction per batch for all of them); each keeps its own position.
- The consumer reads only the projections' subjects (`Projection.subjects`) and asks for
  messages in batches with a long wait, so an idle runner costs a heartbeat now and then
  and a busy one applies whatever has arrived in one transaction.
- The consumer's idle heartbeats say how far it has looked, matching or not: once what
  came before a heartbeat is applied, the projection covers the stream up to there.
- `reach(sequence)` waits until the projection covers `sequence` (how a rule sees every
  fact published before its command arrived). When the projection is behind only by
  messages it does not read, one Direct Get tells so at once, shared by every waiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from pathways.core import metrics, tracing
from pathways.core.eventstore.base import StoredEvent
from pathways.core.logging import get_logger
from pathways.core.positions import read_anchor, read_positions, seed_positions, write_anchors, write_positions
from pathways.core.projection import Gap, Projection, apply_events, check_not_behind, covered
from pathways.core.readmodel_tables import WRITER_HEARTBEAT, AnotherVersionWrites, beat, prepare_tables
from pathways.core.subjects import EVENTS_ROOT, STREAM_NAME
from pathways.jetstream.pull import BATCH, Pull
from pathways.jetstream.store import JetStreamEventStore, pending_after, stored_from_delivery
from pathways.jetstream.stream_check import replaced

log = get_logger("pathways.runner")

# While nobody waits for it, a runner lets more events arrive before it writes: one
# transaction (and one hop to a worker thread) then serves many events instead of one. It
# waits while they keep coming, LINGER_GAP at a time, up to LINGER_MAX in all or until
# LINGER_BELOW are buffered: a lone event waits one gap, a steady stream fills a batch. A
# batch costs about 0.9 ms of CPU whatever it holds, and an event about 50 µs (payments,
# 50 clients enrolling at ~1,150/s: 88 µs per event lingering a fixed 20 ms, 50 µs at
# 250 ms), and every service's runner pays that for every command. A read that must see
# an event (a view a command consults, `reach`) ends the wait at once.
LINGER_GAP = 0.02
LINGER_MAX = 0.25
LINGER_BELOW = 200
# Further behind than this, a runner with several filters first reads the history through
# the store's one-filter reader (nats-server delivers history to a consumer with several
# filters at a fraction of its speed when the stream holds many subjects: nats-server#5040).
CATCH_UP_FROM = 5_000
STALL_RECHECK = 2.0  # seconds between looks at a stalled read model (has it been rebuilt?)
TABLES_RETRY = 1.0  # seconds before read-model tables that could not be prepared are tried again


class ProjectionRunner:
    """Runs projections live from a pull consumer of their own (one database)."""

    def __init__(self, projections: Projection | Sequence[Projection], engine: Engine, nc: Client, *,
                 store: JetStreamEventStore | None = None) -> None:
        self.projections = [projections] if isinstance(projections, Projection) else list(projections)
        self.engine = engine
        self.nc = nc
        self.store = store if store is not None or nc is None else JetStreamEventStore(nc)
        # Where each stands in the database (as last read or written by this runner), and the
        # stream sequence up to which all of them have applied everything they read.
        self._stored = {p.name: 0 for p in self.projections}
        self.position = 0
        every = [p for p in self.projections if p.subjects is None]
        self.subjects: list[str] | None = None if every else sorted({s for p in self.projections for s in p.subjects or ()})
        self._contexts = {p.name: None if p.subjects is None else {_context_of(s) for s in p.subjects}
                          for p in self.projections}
        self._changed = asyncio.Event()
        self._checking: asyncio.Task[None] | None = None
        self._wanted = 0  # the furthest sequence a waiter wants covered
        self._due = 0  # a sequence it reads, known to be stored, not yet applied
        self._awaited = asyncio.Event()
        self._waiters = 0  # callers of `reach` still waiting: no linger while there are any
        self.batches = self.applied = 0  # transactions written, and the events in them
        self.caught_up_from_history = 0  # events applied before the live consumer started
        self.reseeks = 0  # consumers made again because a stored position went back (a rebuild swapped in)
        # Events not applied because they are not from their owner (projection.from_its_owner):
        # how many, and the latest sequences, for /health and `pathways status`.
        # Why it has stopped reading, when the stream is not the one its read models were built
        # from (pathways.jetstream.stream_check): until `pathways rebuild` repairs them.
        self.stalled: str | None = None
        self.quarantined = 0
        self.quarantined_at: deque[int] = deque(maxlen=20)
        self.lag = metrics.watch_lag(p.name for p in self.projections)
        self._beaten = 0.0  # when it last said it writes these tables (time.monotonic)
        # Set once it has tried to make its tables (made, or found another version writing
        # them): the host waits for it, so no HTTP read meets a table not there yet.
        self.tables_tried = asyncio.Event()
        # Its tables are made and its own: until then it is not ready, even on an empty stream
        # that it "covers" by having nothing to read.
        self.tables_made = False

    @property
    def projection(self) -> Projection:
        return self.projections[0]

    @property
    def name(self) -> str:
        return "+".join(p.name for p in self.projections)

    # -- waiting for it --------------------------------------------------------------

    async def reach(self, sequence: int) -> None:
        """Return once the projections cover every event up to `sequence`."""
        # Counted as well as flagged: the flag is cleared with each batch, and a batch that
        # moves nothing (a stale heartbeat) wakes no waiter to set it again, so a waiter
        # could sit through a whole linger (a review).
        self._waiters += 1
        try:
            while self.position < sequence:
                self._awaited.set()  # someone waits: write what has arrived without lingering
                if self._due > self.position:
                    # Something it reads is stored and on its way: the apply will move it on.
                    await self._changed_or(asyncio.sleep(0.2))
                    continue
                self._wanted = max(self._wanted, sequence)
                if self._checking is None or self._checking.done():
                    self._checking = asyncio.create_task(self._check())
                await self._changed_or(asyncio.shield(self._checking))
        finally:
            self._waiters -= 1

    async def _changed_or(self, other: Any) -> None:
        changed = asyncio.ensure_future(self._changed.wait())
        other = asyncio.ensure_future(other)
        try:
            await asyncio.wait((changed, other), return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
            other.cancel()

    async def catch_up(self) -> None:
        """Reach the stream's last sequence as it is now."""
        assert self.store is not None
        await self.reach(await self.store.last_sequence())

    async def _check(self) -> None:
        """Is anything these projections read stored between their position and what is
        wanted? If not, they cover that much already; if so, that is what they wait for.
        One Direct Get per subject, shared by every waiter."""
        wanted, subjects, before = self._wanted, self.subjects, self.position
        if subjects is None or self.store is None:
            self._due = before + 1  # a projection of every message covers only what it applies
            return
        try:
            found = await asyncio.gather(*(self.store.next_matching(s, before) for s in subjects))
        except Exception:
            log.warning("could not ask the stream how far the projections are behind", projection=self.name)
            await asyncio.sleep(0.1)
            return
        later = [seq for seq in found if seq is not None]
        if not later:
            self._advance(wanted)  # nothing they read after their position: they cover all that was wanted
            return
        self._advance(min(later) - 1)  # nothing they read before the first of them
        if min(later) <= wanted:
            self._due = max(self._due, min(later))

    def _advance(self, position: int) -> None:
        if self.stalled is not None:
            return  # what it holds is not the stream's: no waiter may take it as caught up
        if position > self.position:
            self.position = position
            self._changed.set()
            self._changed.clear()

    # -- running it ----------------------------------------------------------------

    def create_tables(self) -> None:
        """Create the read models' tables, or rebuild those an earlier version made
        (pathways.core.readmodel_tables); AnotherVersionWrites while that version still writes them."""
        with self.engine.begin() as conn:
            prepare_tables(conn, self.projections)
            seed_positions(conn, [p.name for p in self.projections])
        self._beaten = time.monotonic()

    def stored_positions(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return read_positions(conn, [p.name for p in self.projections])

    def stored_position(self) -> int:
        return min(self.stored_positions().values())

    async def run(self, stop: asyncio.Event) -> None:
        js = self.nc.jetstream()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            tries = 0
            while True:
                try:
                    await asyncio.to_thread(self.create_tables)
                    self.tables_made = True
                    self.tables_tried.set()
                    break
                except AnotherVersionWrites as busy:  # not ready meanwhile: /readyz says so
                    self.tables_tried.set()
                    log.error("read model in use by another version", projection=self.name, reason=str(busy))
                    await asyncio.wait((stopping,), timeout=WRITER_HEARTBEAT)
                    if stop.is_set():
                        return
                except DBAPIError as failed:
                    # Making an index waits for the older version's writes and theirs for it: PostgreSQL
                    # may end one side as a deadlock. Nothing of the attempt stands; it is tried again.
                    self.tables_tried.set()
                    tries += 1
                    log.error("read model tables could not be prepared; trying again", projection=self.name,
                              reason=str(failed.orig), tries=tries)
                    # Soon after a passing failure, then less often for one that stays (a missing grant).
                    await asyncio.wait((stopping,), timeout=min(WRITER_HEARTBEAT, TABLES_RETRY * 2 ** min(tries - 1, 10)))
                    if stop.is_set():
                        return
            while not stop.is_set():
                # Unguessable: users who may make consumers of their own (auditors) cannot list others'.
                consumer = f"proj_{self.projection.name}_{uuid.uuid4().hex[:16]}"
                pull: Pull | None = None
                try:
                    self._stored = await asyncio.to_thread(self.stored_positions)
                    problem = await self._stream_replaced()
                    if problem is not None:
                        await self._stall(problem, stopping)
                        continue
                    self.stalled = None
                    self.position = min(self._stored.values())
                    await self._catch_up_from_history(stop)
                    await self._subscribe(js, consumer, self.position + 1)
                    pull = Pull(self.nc, consumer)
                    await pull.start()
                    await self._consume(pull, stopping)
                except Gap as gap:
                    self.reseeks += 1
                    log.info("projection re-seeking", projection=self.name, reason=str(gap))
                except Exception:
                    # A lost consumer, a timeout while NATS fails over, an event the handler
                    # cannot read: the runner must outlive them all, or every rule that waits
                    # for this view waits in vain. Start again from the stored position.
                    log.exception("projection failed; resuming from its stored position", projection=self.name)
                    await asyncio.wait((stopping,), timeout=1.0)
                finally:
                    if pull is not None:
                        await pull.stop()
                    with contextlib.suppress(Exception):
                        await js.delete_consumer(STREAM_NAME, consumer)
        finally:
            stopping.cancel()

    async def _stream_replaced(self) -> str | None:
        if not isinstance(self.store, JetStreamEventStore):
            return None
        anchors = await asyncio.to_thread(self._anchors)
        last = await self.store.last_sequence()
        for p in self.projections:
            problem = await replaced(self.store, p.name, self._stored[p.name], anchors[p.name], last)
            if problem is not None:
                return problem
        return None

    def _anchors(self) -> dict[str, tuple[int, str] | None]:
        with self.engine.connect() as conn:
            return {p.name: read_anchor(conn, p.name) for p in self.projections}

    async def _stall(self, problem: str, stopping: asyncio.Future[Any]) -> None:
        """Read nothing, and move no waiter on, until the read model is rebuilt; look again now and then."""
        if self.stalled != problem:
            log.error("read model stopped: the stream is not the one it was built from; `pathways rebuild` repairs it",
                      projection=self.name, reason=problem)
            metrics.stalled.add(1, {"messaging.consumer.group.name": self.name})
        self.stalled = problem
        await asyncio.wait((stopping,), timeout=STALL_RECHECK)

    async def _catch_up_from_history(self, stop: asyncio.Event) -> None:
        """Far behind, with several filters: apply the history read through one filter
        first, then let the live consumer start where that ended."""
        if self.store is None or self.subjects is None or len(self.subjects) < 2:
            return
        end = await self.store.last_sequence()
        if end - self.position < CATCH_UP_FROM:
            return
        log.info("projection catching up from the stream's history", projection=self.name, behind=end - self.position)
        batch: list[StoredEvent] = []
        # Closed on leaving early (a stop, a failed apply), so its reading consumer goes with it.
        async with contextlib.aclosing(self.store.read_all(self.position + 1, end, self.subjects)) as history:
            async for stored in history:
                batch.append(stored)
                if len(batch) >= BATCH:
                    await self._apply_history(batch, 0, end)
                    batch = []
                    if stop.is_set():
                        return
        await self._apply_history(batch, end, end)  # and what it does not read, up to `end`, is covered

    async def _apply_history(self, events: list[StoredEvent], looked: int, end: int) -> None:
        self._stored = await asyncio.to_thread(self._apply, events, looked)
        self.batches += 1
        self.applied += len(events)
        self.caught_up_from_history += len(events)
        self._advance(max(events[-1].sequence if events else 0, looked))
        # Behind by at most what the stream holds past here (some of it this runner does not read).
        self.lag.pending = max(0, end - self.position)
        if events:
            self.lag.newest_applied = events[-1].stored_at.timestamp()

    async def _subscribe(self, js: Any, consumer: str, start: int) -> None:
        # The stored position, not a consumer's cursor, is the truth: each run gets its own
        # consumer starting where the read model says it stands. A shared durable would
        # split the events between two runners of one projection (two replicas, or a
        # rebuild beside the live one); the server drops a killed runner's consumer once
        # it has been inactive for a while. Nothing is acknowledged: a consumer that is
        # lost is simply made again from the stored position.
        await js.add_consumer(STREAM_NAME, config=ConsumerConfig(
            name=consumer, filter_subjects=self.subjects or [f"{EVENTS_ROOT}.>"],
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start,
            ack_policy=AckPolicy.NONE, inactive_threshold=60.0, mem_storage=True,
        ))

    async def _consume(self, pull: Pull, stopping: asyncio.Future[Any]) -> None:
        while await pull.next(stopping):
            if len(pull.buffer) < LINGER_BELOW and not self._awaited.is_set() and not self._waiters:
                await self._linger(pull, stopping)
            self._awaited.clear()  # set again by any waiter still behind after this batch
            messages: list[Msg] = []
            looked = 0
            while pull.buffer and len(messages) < BATCH:
                item = pull.buffer.popleft()
                if isinstance(item, int):
                    looked = max(looked, item)
                else:
                    messages.append(item)
            if messages:
                events = [stored_from_delivery(m) for m in messages]
                spans = self._spans(messages, events) if tracing.exporting() else []
                try:
                    self._stored = await asyncio.to_thread(self._apply, events, looked)
                finally:
                    for span in spans:
                        span.end()
                self.batches += 1
                self.applied += len(events)
                # Everything they read up to the last delivered message (or further, if the
                # consumer said so) is applied.
                self._advance(max(events[-1].sequence, looked))
                self.lag.pending = 0 if looked else pending_after(messages[-1])
                self.lag.newest_applied = events[-1].stored_at.timestamp()
            elif looked > self.position and self.subjects is not None:
                # Idle: the consumer has looked further than anything it had to deliver.
                self._stored = await asyncio.to_thread(self._apply, [], looked)
                self._advance(looked)
                self.lag.pending = 0

    async def _linger(self, pull: Pull, stopping: asyncio.Future[Any]) -> None:
        """Let more events arrive while they keep coming (see LINGER_GAP)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_MAX
        awaited = asyncio.ensure_future(self._awaited.wait())
        try:
            held = len(pull.buffer)
            while (wait := min(LINGER_GAP, deadline - loop.time())) > 0:
                await asyncio.wait((awaited, stopping), timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                now = len(pull.buffer)
                if awaited.done() or stopping.done() or now == held or now >= LINGER_BELOW:
                    return  # someone waits, it is stopping, nothing more came within the gap, or a batch is there
                held = now
        finally:
            awaited.cancel()

    def _spans(self, messages: list[Msg], events: list[StoredEvent]) -> list[Any]:
        """One span per projection and trace it applies events of: each command's trace
        shows every read model its events reached."""
        parents = {e.sequence: (m.headers or {}).get("traceparent") for m, e in zip(messages, events, strict=True)}
        spans = []
        for p in self.projections:
            mine = self._mine(p, events)
            if mine:
                spans += tracing.start_spans(f"projection {p.name}", [parents[e.sequence] for e in mine],
                                               events=len(mine), first_sequence=mine[0].sequence)
        return spans

    def _mine(self, projection: Projection, events: list[StoredEvent]) -> list[StoredEvent]:
        contexts = self._contexts[projection.name]
        return events if contexts is None else [e for e in events if _context_of(e.subject) in contexts]

    def _apply(self, events: list[StoredEvent], looked: int) -> dict[str, int]:
        """One transaction for every projection. Each one's position moves to the end of
        what the consumer delivered (or looked through), read by it or not, so a rebuild
        swapped in behind that point is noticed (`Gap`) whichever projection it was."""
        through = max(events[-1].sequence if events else 0, looked)
        stored = dict(self._stored)
        applied: list[tuple[str, list[StoredEvent], int]] = []
        refused: list[int] = []
        with self.engine.begin() as conn:
            # Every projection's position read, and written, in one statement each (pathways.core.positions).
            at = read_positions(conn, stored, for_update=True)
            moved: dict[str, int] = {}
            anchors: dict[str, tuple[int, str]] = {}
            for p in self.projections:
                # Behind what this runner itself last stored for it: swapped in by a rebuild.
                # (Not behind `self.position`: that also moves, unstored, when the stream says
                # nothing it reads came since, and re-seeking on that cost a consumer a time.)
                passed = stored[p.name]
                check_not_behind(p, at[p.name], passed)
                mine = self._mine(p, events)
                done = apply_events(conn, p, p.live_tables(), at[p.name], mine, quarantine=refused)
                applied.append((p.name, mine, passed))
                position = covered(p, done.last, through)
                if position > at[p.name]:
                    moved[p.name] = position
                if done.anchor is not None:
                    anchors[p.name] = done.anchor
                stored[p.name] = position
            write_positions(conn, moved)
            write_anchors(conn, anchors)
            if time.monotonic() - self._beaten >= WRITER_HEARTBEAT:  # still the writer of these tables
                beat(conn, self.projections)
                self._beaten = time.monotonic()
        for counted in applied:  # once committed
            _count(*counted)
        self._note_quarantined(refused)
        return stored

    def _note_quarantined(self, sequences: list[int]) -> None:
        for sequence in sorted(set(sequences)):
            if not self.quarantined_at or sequence > self.quarantined_at[-1]:  # a batch applied again counts once
                self.quarantined += 1
                self.quarantined_at.append(sequence)
        if sequences:
            metrics.quarantined.add(len(sequences), {"messaging.consumer.group.name": self.name})
            log.error("events not from their owner were not applied (quarantined)", projection=self.name,
                      sequences=sorted(set(sequences))[:20])

def _count(projection: str, mine: list[StoredEvent], passed: int) -> None:
    if not mine:
        return
    group = {**metrics.NATS, "messaging.consumer.group.name": projection, "messaging.destination.name": STREAM_NAME}
    again = sum(1 for e in mine if e.sequence <= passed)  # read again after a restart or a re-seek
    metrics.consumed.add(len(mine) - again, group)
    if again:
        metrics.redelivered.add(again, group)


def _context_of(subject: str) -> str:
    tokens = subject.split(".")  # pathways.evt.<programme>.<organisation>.<context>.<aggregate>, or a pattern of it
    return tokens[4] if len(tokens) == 6 else ""
