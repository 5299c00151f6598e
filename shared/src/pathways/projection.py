"""The projection runner: events from PATHWAYS_EVENTS into read-model tables, in batches,
with the stream sequence stored in the same transaction as the rows (so a crash at any
point replays to the same result), and rebuilds into fresh tables swapped in when done.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import Connection, Engine, MetaData, Table, bindparam, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite

from pathways import telemetry
from pathways.envelope import CloudEvent
from pathways.eventstore.base import EventStore, StoredEvent
from pathways.eventstore.jetstream import stored_from_delivery
from pathways.logging import get_logger
from pathways.readmodels import ProjectionPosition
from pathways.schemas import EventData, SchemaRegistry
from pathways.subjects import EVENTS_ROOT, STREAM_NAME

log = get_logger("pathways.projection")
REBUILD_SUFFIX = "__rebuild"

Tables = Mapping[str, Table]
# A handler gets the decoded event: the context's own pydantic model when the projection
# registers that event type's schema, otherwise the plain `data` dict (a tolerant reader
# of another context's published events, which a service must not import).
Apply = Callable[[Connection, Tables, CloudEvent, Any, int], None]
# A handler of the stored messages themselves, every one in stream order, whatever it
# holds: what the audit ledger hashes.
ApplyStored = Callable[[Connection, Tables, Sequence[StoredEvent]], None]


@dataclass(frozen=True)
class Projection:
    """A read model: its tables and, per event type, how an event changes them.
    Handlers get the tables by name so a rebuild can point them at fresh copies."""

    name: str
    tables: Sequence[Table]
    handlers: Mapping[str, Apply]
    schemas: SchemaRegistry = field(default_factory=SchemaRegistry)
    stored: ApplyStored | None = None  # called first with each batch's new messages
    rebuildable: bool = True  # False: a record of its own that `pathways rebuild` must not replace

    def live_tables(self) -> dict[str, Table]:
        return {t.name: t for t in self.tables}


class Gap(Exception):
    """The consumer is ahead of the stored position (a rebuild was swapped in)."""


def apply_batch(
    conn: Connection, projection: Projection, tables: Tables, position_name: str, events: Iterable[StoredEvent]
) -> int:
    """Apply events after the stored position; returns the new position. The caller owns
    the transaction, so rows and position commit together or not at all."""
    position = read_position(conn, position_name, for_update=True)
    fresh: list[StoredEvent] = []
    for stored in events:
        if stored.sequence <= position + len(fresh):
            continue  # redelivered after a crash: already applied
        if stored.sequence != position + len(fresh) + 1:
            raise Gap(f"{projection.name}: expected {position + len(fresh) + 1}, got {stored.sequence}")
        fresh.append(stored)
    if projection.stored is not None and fresh:
        projection.stored(conn, tables, fresh)
    foreign = 0
    for stored in fresh:
        try:
            cloud = stored.event
        except ValueError:
            # Not a Pathways event (something else published on the stream): no read
            # model is built from it, and it must not stop every view behind it.
            foreign += 1
            position = stored.sequence
            continue
        handler = projection.handlers.get(cloud.type)
        if handler is not None:
            data: EventData | dict[str, Any] = (
                projection.schemas.decode(cloud.type, cloud.dataschema, cloud.data)
                if cloud.type in projection.schemas.events
                else cloud.data
            )
            handler(conn, tables, cloud, data, stored.sequence)
        position = stored.sequence
    if foreign:
        log.warning("skipped messages that are not Pathways events", projection=projection.name, count=foreign,
                    up_to=position)
    write_position(conn, position_name, position)
    return position


def read_position(conn: Connection, name: str, *, for_update: bool = False) -> int:
    table = ProjectionPosition.__table__  # type: ignore[attr-defined]
    query = select(table.c.position).where(table.c.name == name)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    value = conn.execute(query).scalar()
    return int(value) if value is not None else 0


def write_position(conn: Connection, name: str, position: int) -> None:
    table = ProjectionPosition.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).values(name=name, position=position)
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"position": position}))


class ProjectionRunner:
    """Runs one projection live from a pull consumer of its own."""

    def __init__(
        self, projection: Projection, engine: Engine, nc: Client, *, batch_size: int = 500
    ) -> None:
        self.projection = projection
        self.engine = engine
        self.nc = nc
        self.batch_size = batch_size
        self.position = 0
        self.caught_up = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    async def reach(self, sequence: int) -> None:
        """Return once every event up to `sequence` is applied: how a rule that consults
        this view sees at least everything published before its command arrived."""
        if self.position >= sequence:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((sequence, future))
        try:
            await future
        finally:
            self._waiters = [(s, f) for s, f in self._waiters if f is not future]

    def _advanced(self) -> None:
        for sequence, future in self._waiters:
            if sequence <= self.position and not future.done():
                future.set_result(None)

    def create_tables(self) -> None:
        """Create the read model's tables. Tables an earlier version made with other
        columns are dropped and the projection starts again from the first event: a read
        model is derived from the stream, so a new version simply rebuilds it."""
        with self.engine.begin() as conn:
            existing = inspect(conn)
            stale = [t for t in self.projection.tables if existing.has_table(t.name)
                     and {c["name"] for c in existing.get_columns(t.name)} != {c.name for c in t.columns}]
            if stale and not self.projection.rebuildable:
                raise RuntimeError(f"{self.projection.name}: tables {[t.name for t in stale]} were made by another version "
                                   "and are a record of their own; migrate them, they are not rebuilt from the stream")
            if stale:
                log.warning("read model made by an earlier version; rebuilding it from the stream",
                            projection=self.projection.name, tables=[t.name for t in stale])
                for table in self.projection.tables:
                    table.drop(conn, checkfirst=True)
                write_position(conn, self.projection.name, 0)
            for table in self.projection.tables:
                table.create(conn, checkfirst=True)

    def stored_position(self) -> int:
        with self.engine.connect() as conn:
            return read_position(conn, self.projection.name)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.to_thread(self.create_tables)
        js = self.nc.jetstream()
        while not stop.is_set():
            # Unguessable: users who may make consumers of their own (auditors) cannot list others'.
            consumer = f"proj_{self.projection.name}_{uuid.uuid4().hex[:16]}"
            try:
                self.position = await asyncio.to_thread(self.stored_position)
                sub = await self._subscribe(js, consumer, self.position + 1)
            except Exception:
                log.exception("projection cannot subscribe; retrying", projection=self.projection.name)
                await asyncio.sleep(1.0)
                continue
            try:
                await self._consume(sub, stop)
            except Gap as gap:
                log.info("projection re-seeking", projection=self.projection.name, reason=str(gap))
            except Exception:
                # A lost consumer, a timeout while NATS fails over, an event the handler
                # cannot read: the runner must outlive them all, or every rule that waits
                # for this view waits in vain. Start again from the stored position.
                log.exception("projection failed; resuming from its stored position", projection=self.projection.name)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
                with contextlib.suppress(Exception):
                    await js.delete_consumer(STREAM_NAME, consumer)

    async def _subscribe(self, js: Any, consumer: str, start: int) -> Any:
        # The stored position, not a consumer's cursor, is the truth: each run gets its own
        # consumer starting where the read model says it stands. A shared durable would
        # split the events between two runners of one projection (two replicas, or a
        # rebuild beside the live one); the server drops a killed runner's consumer once
        # it has been inactive for a while.
        await js.add_consumer(
            STREAM_NAME,
            config=ConsumerConfig(
                name=consumer,
                filter_subject=f"{EVENTS_ROOT}.>",
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=start,
                ack_policy=AckPolicy.ALL,
                max_ack_pending=-1,
                inactive_threshold=60.0,
            ),
        )
        return await js.pull_subscribe_bind(consumer=consumer, stream=STREAM_NAME)

    async def _consume(self, sub: Any, stop: asyncio.Event) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await self._consume_until(sub, stop, stopping)
        finally:
            stopping.cancel()

    async def _consume_until(self, sub: Any, stop: asyncio.Event, stopping: asyncio.Future[Any]) -> None:
        js = self.nc.jetstream()
        size = 1  # until the server says a backlog is waiting
        while not stop.is_set():
            try:
                # What a fetch cut short by stopping got is not applied, so not acknowledged: the
                # next run starts from the stored position anyway.
                msgs = await fetch_or_stop(sub, size, stopping)
            except (TimeoutError, nats.errors.TimeoutError):
                # Idle: wait for one event at a time. A multi-message fetch that finds
                # nothing waits for a full batch or its whole timeout, which would delay
                # every rule that waits for this view; fetching one returns at once.
                size = 1
                last = (await js.stream_info(STREAM_NAME)).state.last_seq
                if self.position >= last:
                    self.caught_up.set()
                    self._advanced()
                continue
            if msgs is None:  # the service is stopping
                return
            if not msgs:
                continue
            # Drain in full batches while the server says more are waiting (a batch
            # fetch returns at once when messages are pending).
            size = self.batch_size if msgs[-1].metadata.num_pending else 1
            events = [stored_from_delivery(m) for m in msgs]  # times to the microsecond, as every read gives them
            spans = telemetry.start_spans(
                f"projection {self.projection.name}",
                [(m.headers or {}).get("traceparent") for m in msgs],
                events=len(events),
                first_sequence=events[0].sequence,
            )
            try:
                self.position = await asyncio.to_thread(self._apply, events)
            finally:
                for span in spans:
                    span.end()
            self._advanced()
            await msgs[-1].ack()

    def _apply(self, events: list[StoredEvent]) -> int:
        with self.engine.begin() as conn:
            return apply_batch(
                conn, self.projection, self.projection.live_tables(), self.projection.name, events
            )


async def rebuild(
    projection: Projection,
    engine: Engine,
    store: EventStore,
    *,
    batch_size: int = 2000,
    progress: Callable[[int, int], None] | None = None,
    until: int | None = None,
) -> int:
    """Replay the whole stream into fresh tables, then swap them in atomically: readers
    see the old figures until the moment the new ones are complete. With `until`, only
    the history up to that sequence (the read model as it stood then)."""
    shadow_meta = MetaData()
    shadow = {
        t.name: _copy_without_indexes(t, shadow_meta, t.name + REBUILD_SUFFIX) for t in projection.tables
    }
    position_name = projection.name + REBUILD_SUFFIX
    with engine.begin() as conn:
        for table in shadow.values():
            table.drop(conn, checkfirst=True)
            table.create(conn)
        write_position(conn, position_name, 0)
    position = 0
    while True:
        end = await store.last_sequence() if until is None else min(until, await store.last_sequence())
        if end <= position:
            break
        batch: list[StoredEvent] = []
        async for stored in store.read_all(position + 1, end):
            batch.append(stored)
            if len(batch) >= batch_size:
                position = await asyncio.to_thread(_apply_in_txn, engine, projection, shadow, position_name, batch)
                batch = []
                if progress:
                    progress(position, end)
        if batch:
            position = await asyncio.to_thread(_apply_in_txn, engine, projection, shadow, position_name, batch)
        if progress:
            progress(position, end)
    await asyncio.to_thread(_swap, engine, projection, shadow, position_name)
    return position


def _apply_in_txn(
    engine: Engine, projection: Projection, tables: Tables, position_name: str, events: list[StoredEvent]
) -> int:
    with engine.begin() as conn:
        return apply_batch(conn, projection, tables, position_name, events)


def _copy_without_indexes(table: Table, meta: MetaData, name: str) -> Table:
    # Indexes are created on the live name after the swap (index names must be unique,
    # and building them once after a bulk load is faster).
    copy = table.to_metadata(meta, name=name)
    for index in list(copy.indexes):
        copy.indexes.discard(index)
    return copy


def _swap(engine: Engine, projection: Projection, shadow: Tables, position_name: str) -> None:
    with engine.begin() as conn:
        position = read_position(conn, position_name, for_update=True)
        for live in projection.tables:
            live.drop(conn, checkfirst=True)
            conn.execute(text(f'ALTER TABLE "{shadow[live.name].name}" RENAME TO "{live.name}"'))
            if conn.dialect.name == "postgresql":
                # PostgreSQL keeps the primary key's index name across a table rename;
                # give it back the live name so the next rebuild's copy can be created.
                conn.execute(text(f'ALTER INDEX IF EXISTS "{shadow[live.name].name}_pkey" RENAME TO "{live.name}_pkey"'))
            for index in live.indexes:
                index.create(conn)
        write_position(conn, projection.name, position)
        conn.execute(
            ProjectionPosition.__table__.delete().where(  # type: ignore[attr-defined]
                ProjectionPosition.__table__.c.name == position_name  # type: ignore[attr-defined]
            )
        )


def dump(engine: Engine, projection: Projection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: to compare two read models for equality."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in projection.tables:
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def upsert(conn: Connection, table: Table, values: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Insert a row or update it in place: the one write a replayed event needs, on
    SQLite and PostgreSQL alike."""
    conn.execute(_upsert_statement(conn.dialect.name, table, tuple(values), tuple(keys)), dict(values))


def insert_if_absent(conn: Connection, table: Table, values: Mapping[str, Any]) -> None:
    """Insert a row unless one with the same primary key is there: the first fact of its kind wins."""
    conn.execute(_insert_if_absent_statement(conn.dialect.name, table, tuple(values)), dict(values))


def update(conn: Connection, table: Table, keys: Mapping[str, Any], **values: Any) -> None:
    """Change the row with these key values (the other half of `upsert`: an event that
    moves a fact on, such as a session delivered or a claim approved)."""
    params = {f"key_{k}": v for k, v in keys.items()} | {f"new_{k}": v for k, v in values.items()}
    conn.execute(_update_statement(table, tuple(keys), tuple(values)), params)


# One statement per table and shape of row, built once and executed with parameters:
# building a statement per row cost several times more than SQLite spent storing it
# (measured in bench/reporting.py). Tables are few, so the caches stay small.
@functools.lru_cache(maxsize=1024)
def _upsert_statement(dialect: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> Any:
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    updates = {c: stmt.excluded[c] for c in columns if c not in keys}
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates) if updates else stmt.on_conflict_do_nothing()


@functools.lru_cache(maxsize=1024)
def _insert_if_absent_statement(dialect: str, table: Table, columns: tuple[str, ...]) -> Any:
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return stmt.on_conflict_do_nothing(index_elements=[c.name for c in table.primary_key.columns])


@functools.lru_cache(maxsize=1024)
def _update_statement(table: Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> Any:
    where = (table.c[k] == bindparam(f"key_{k}") for k in keys)
    return table.update().where(*where).values({c: bindparam(f"new_{c}") for c in columns})


async def fetch_or_stop(sub: Any, size: int, stopping: asyncio.Future[Any], idle_after: float = 0.5) -> list[Any] | None:
    """The next messages of a pull subscription, or None once `stopping` is done: a
    stopping service need not wait for an idle fetch to time out. Raises the fetch's
    timeout when nothing came."""
    fetching = asyncio.ensure_future(sub.fetch(size, timeout=idle_after))
    try:
        await asyncio.wait((fetching, stopping), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        fetching.cancel()
        raise
    if not fetching.done():
        fetching.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await fetching  # finished before the subscription is closed
        return None
    msgs: list[Any] = fetching.result()
    return msgs
