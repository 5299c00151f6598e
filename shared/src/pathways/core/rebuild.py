"""A projection rebuilt: the whole stream (or its history up to a sequence) replayed into
fresh tables, which are swapped in atomically when complete, so readers see the old figures
until the moment the new ones are whole.

Where the history comes from is the caller's choice. By default it is read here, from the
store, while the last batch is written in a thread. Given `read` (an `EventBatches`), it
comes from elsewhere, a list at a time: `pathways.runtime.stream_reader` reads the stream
in a process of its own, so the NATS client's work on every message (parsing, headers, a
callback each) runs on the other core instead of taking turns with the writes under the
GIL. Measured on 100,000 reporting events: 13.0 s read here with the writes in a thread,
9.5 s with them inline, 7.5 s read in another process (bench/reporting.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable

from sqlalchemy import Engine, MetaData, Table, text

from pathways.core.eventstore.base import EventStore, StoredEvent
from pathways.core.positions import read_anchor, read_positions, write_anchor, write_position
from pathways.core.projection import REBUILD_SUFFIX, Projection, Rows, Tables, apply_batch
from pathways.core.readmodels import ProjectionAnchor, ProjectionPosition

EventBatches = Callable[[int, int, list[str] | None], AsyncGenerator[list[StoredEvent], None]]
"""The events stored from one sequence through another, of these subjects (None: every
subject), in stream order, a list at a time."""

Progress = Callable[[int, int], None]


async def rebuild(
    projection: Projection,
    engine: Engine,
    store: EventStore,
    *,
    batch_size: int = 10_000,  # per transaction: 2,000 was measured 8-10 % slower on 100 k events (fewer merges, commits)
    progress: Progress | None = None,
    until: int | None = None,
    read: EventBatches | None = None,
) -> int:
    """Replay the stream into fresh tables, then swap them in. With `until`, only the
    history up to that sequence (the read model as it stood then). With `read`, the
    history comes from there when there is more than a batch of it to read; `store` is
    still asked where the stream ends, and reads what is left."""
    shadow_meta = MetaData()
    shadow = {
        t.name: _copy_without_indexes(t, shadow_meta, t.name + REBUILD_SUFFIX) for t in projection.tables
    }
    position_name = projection.name + REBUILD_SUFFIX
    with engine.begin() as conn:
        for table in shadow.values():
            table.drop(conn, checkfirst=True)
            table.create(conn)
        write_position(conn, position_name, 0)  # (and a failed rebuild's anchor goes with its position)
    replay = _Replay(projection, engine, shadow, position_name, batch_size, progress)
    position = 0
    while True:
        end = await store.last_sequence() if until is None else min(until, await store.last_sequence())
        if end <= position:
            break
        # Elsewhere only for more than a batch: what came in while the bulk was read is
        # read here (a reader started for each few new events could be outrun for ever).
        if read is not None and end - position > batch_size:
            position = await replay.from_elsewhere(read, position, end)
        else:
            position = await replay.here(store, position, end)
        if progress:
            progress(position, end)
    await asyncio.to_thread(_fill_summaries, engine, projection, shadow)
    await asyncio.to_thread(_swap, engine, projection, shadow, position_name)
    return position


class _Replay:
    """The history after `position` through `end` applied to the shadow tables, a batch per
    transaction in stream order; each returns the position reached (`end`: what it does not
    read up to there is covered too)."""

    def __init__(self, projection: Projection, engine: Engine, shadow: Tables, position_name: str, batch_size: int,
                 progress: Progress | None) -> None:
        self.projection, self.engine, self.shadow, self.position_name = projection, engine, shadow, position_name
        self.batch_size, self.progress = batch_size, progress

    def _apply(self, events: list[StoredEvent], through: int | None = None) -> int:
        return _apply_in_txn(self.engine, self.projection, self.shadow, self.position_name, events, through)

    async def here(self, store: EventStore, position: int, end: int) -> int:
        # Reading the next batch goes on while the last one is written (in a thread; SQLite
        # lets go of the GIL while it stores): one batch in the database's hands at a time,
        # so they are applied in order, and at most two are held in memory.
        applying: asyncio.Future[int] | None = None
        batch: list[StoredEvent] = []
        try:
            async for stored in store.read_all(position + 1, end, self.projection.subjects):
                batch.append(stored)
                if len(batch) >= self.batch_size:
                    if applying is not None:
                        position = await asyncio.shield(applying)  # a cancel here leaves it to the finally
                        self._report(position, end)
                    applying = asyncio.ensure_future(asyncio.to_thread(self._apply, batch))
                    batch = []
        finally:
            if applying is not None:  # a thread cannot be cancelled: let it finish (or fail) first
                position = await asyncio.shield(applying) if not applying.done() else applying.result()
        return await asyncio.to_thread(self._apply, batch, end)

    async def from_elsewhere(self, read: EventBatches, position: int, end: int) -> int:
        # Written inline: the reading is done elsewhere and goes on meanwhile (it holds what
        # it has read ready), so a thread here would only take turns with the writes.
        batch: list[StoredEvent] = []
        async with contextlib.aclosing(read(position + 1, end, self.projection.subjects)) as batches:
            async for events in batches:
                batch += events
                if len(batch) >= self.batch_size:
                    position = self._apply(batch)
                    self._report(position, end)
                    batch = []
        return self._apply(batch, end)

    def _report(self, position: int, end: int) -> None:
        if self.progress:
            self.progress(position, end)


def _apply_in_txn(
    engine: Engine, projection: Projection, tables: Tables, position_name: str, events: list[StoredEvent],
    through: int | None = None,
) -> int:
    with engine.begin() as conn:
        return apply_batch(conn, projection, tables, position_name, events, summarise=False, through=through)


def _fill_summaries(engine: Engine, projection: Projection, shadow: Tables) -> None:
    with engine.begin() as conn:
        rows = Rows(conn)
        for summary in projection.summaries:
            summary.fill(rows, shadow)


def _copy_without_indexes(table: Table, meta: MetaData, name: str) -> Table:
    # Indexes are created on the live name after the swap (index names must be unique,
    # and building them once after a bulk load is faster).
    copy = table.to_metadata(meta, name=name)
    for index in list(copy.indexes):
        copy.indexes.discard(index)
    return copy


def _swap(engine: Engine, projection: Projection, shadow: Tables, position_name: str) -> None:
    with engine.begin() as conn:
        # The live row locked too, before any table is dropped (pathways.core.positions locks in
        # name order): a runner of the live tables then waits before it touches them, never
        # holding the row while the swap waits for it with the tables half renamed.
        position = read_positions(conn, [projection.name, position_name], for_update=True)[position_name]
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
        anchor = read_anchor(conn, position_name)
        if anchor is not None:  # the rebuilt tables' last event, for the stream check (pathways.jetstream.stream_check)
            write_anchor(conn, projection.name, *anchor)
        for tracking in (ProjectionPosition, ProjectionAnchor):
            table = tracking.__table__  # type: ignore[union-attr]
            conn.execute(table.delete().where(table.c.name == position_name))


__all__ = ["EventBatches", "rebuild"]
