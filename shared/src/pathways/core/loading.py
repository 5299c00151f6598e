"""How the intake gets the aggregates a command needs: asks the store where each subject
stands (one read, whatever the histories hold), uses what it holds when that is current,
and reads only what it does not have.

- held and current: nothing more is read;
- held but behind (another instance wrote): only the events after the held sequence;
- not held: the whole history, which for a new aggregate is nothing at all.

The same answer says where the stream as a whole stood when the command arrived, which is
what the service's views must reach before a rule consults them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from pathways.core.aggregates import AggregateCache, Folded, fold
from pathways.core.commands import Load
from pathways.core.eventstore.base import EventStore, Latest
from pathways.core.schemas import EventData, SchemaRegistry
from pathways.core.subjects import subject_matches


class AggregateLoader:
    def __init__(self, store: EventStore, schemas: SchemaRegistry, cache: AggregateCache | None = None) -> None:
        self.store = store
        self.schemas = schemas
        self.cache = cache or AggregateCache()
        # A subject known to hold events (they are never deleted): asked about beside the
        # command's own, so the answer always says where the stream stood, even when every
        # aggregate the command names is new.
        self._anchor: str | None = None

    async def load(self, loads: Mapping[str, Load[Any]], *, stream_position: bool = False
                   ) -> tuple[dict[str, Folded], Latest]:
        """The aggregates, and (with `stream_position`) where the stream stood."""
        subjects = [load.ref.subject for load in loads.values()]
        anchor = [self._anchor] if self._anchor and stream_position else []
        asked = list(dict.fromkeys([*subjects, *anchor]))
        latest = await self.store.latest(asked)
        if self._anchor is None and latest.by_subject:
            self._anchor = next(iter(latest.by_subject))
        # Most loads need no read at all (held and current, or new): no task for those.
        found: dict[str, Folded] = {}
        reading: dict[str, Any] = {}
        for name, load in loads.items():
            held = self._current(load, latest)
            if held is not None:
                found[name] = held
            else:
                reading[name] = self._one(load, latest)
        if reading:
            found |= dict(zip(reading, await asyncio.gather(*reading.values()), strict=True))
        return {name: found[name] for name in loads}, latest

    def _current(self, load: Load[Any], latest: Latest) -> Folded | None:
        """What needs nothing read: an exact subject held as it stands, or not stored yet."""
        subject = load.ref.subject
        if "*" in subject:
            return None
        last = latest.of(subject)
        key = _key(load, subject, load.foreign)
        held = self.cache.get(key)
        if held is not None and held.last_sequence == last:
            self.cache.stats.hits += 1
            return held
        if last == 0 and held is None:
            self.cache.stats.new += 1
            folded = Folded(load.aggregate.initial)
            self.cache.put(key, folded)
            return folded
        return None

    async def refresh(self, load: Load[Any], held: Folded) -> Folded:
        """After a conflict: the events stored since `held`, folded onto it."""
        subject = load.ref.subject
        tail = await self.store.read_subject(subject, after=held.last_sequence)
        folded = fold(load.aggregate, self.schemas, tail, held, shared_id=load.foreign, name=load.ref.aggregate_id)
        self.cache.put(_key(load, subject, load.foreign), folded)
        return folded

    def appended(self, load: Load[Any], before: Folded, decided: Sequence[EventData], event_ids: Sequence[str],
                 sequences: Sequence[int]) -> None:
        """The command's own events are stored: the held state moves on without reading
        them back (the decision's events evolve it exactly as their stored form would)."""
        state = before.state
        for data in decided:
            state = load.aggregate.evolve(state, data)
        ids = before.sequence_by_event_id
        ids.update(zip(event_ids, sequences, strict=True))
        self.cache.put(_key(load, load.ref.subject, load.foreign), Folded(state, sequences[-1], ids, True))
        self._anchor = self._anchor or load.ref.subject

    def forget(self, load: Load[Any]) -> None:
        self.cache.forget(_key(load, load.ref.subject, load.foreign))

    async def _one(self, load: Load[Any], latest: Latest) -> Folded:
        pattern = load.ref.subject
        if "*" not in pattern:
            return await self._exact(load, pattern, latest.of(pattern), shared_id=load.foreign)
        # "This id, whoever owns it": each subject that matches is folded on its own; other
        # kinds of aggregate that share the id are not this one's history.
        matching = [s for s in latest.by_subject if subject_matches(pattern, s)]
        if latest.complete:
            folds = [await self._exact(load, s, latest.by_subject[s], shared_id=True) for s in matching]
            owned = [f for f in folds if f.owned]
            if not owned:
                return Folded(load.aggregate.initial)
            if len(owned) == 1:
                return owned[0]
        # Several owners of one id (or more subjects than one answer holds): read them together.
        history = await self.store.read_subject(pattern)
        return fold(load.aggregate, self.schemas, history, shared_id=True, name=load.ref.aggregate_id)

    async def _exact(self, load: Load[Any], subject: str, last: int, *, shared_id: bool) -> Folded:
        key = _key(load, subject, shared_id)
        held = self.cache.get(key)
        stats = self.cache.stats
        if held is not None and held.last_sequence == last:
            stats.hits += 1
            return held
        if held is not None and held.last_sequence < last:
            stats.refreshed += 1
            tail = await self.store.read_subject(subject, after=held.last_sequence)
            folded = fold(load.aggregate, self.schemas, tail, held, shared_id=shared_id, name=load.ref.aggregate_id)
        elif last == 0:
            stats.new += 1
            history = []
        else:
            stats.misses += 1
            history = await self.store.read_subject(subject)
            folded = fold(load.aggregate, self.schemas, history, shared_id=shared_id, name=load.ref.aggregate_id)
        self.cache.put(key, folded)
        return folded


def _key(load: Load[Any], subject: str, shared_id: bool) -> tuple[str, str, bool]:
    return (load.aggregate.name, subject, shared_id)
