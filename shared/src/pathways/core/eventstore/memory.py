"""An in-memory event store with the same contract as JetStream, for pure unit tests of
decide functions and wiring. Anything about storage, dedup windows or concurrency
between processes is tested against the real server instead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

from pathways.core.eventstore.base import (
    AppendRequest,
    AppendResult,
    ConcurrencyConflict,
    DuplicateInBatch,
    Latest,
    StoredEvent,
)
from pathways.core.subjects import subject_matches


class InMemoryEventStore:
    def __init__(self) -> None:
        self._events: list[StoredEvent] = []
        self._by_id: dict[str, int] = {}
        self._last_by_subject: dict[str, int] = {}
        self._lock = asyncio.Lock()

    async def append(self, request: AppendRequest) -> AppendResult:
        async with self._lock:
            ids = [e.event.id for e in request.events]
            known = [i for i in ids if i in self._by_id]
            if known and len(ids) == 1:
                return AppendResult([self._by_id[ids[0]]], duplicate=True)
            for subject, expected in request.expected.items():
                if self._last_by_subject.get(subject, 0) != expected:
                    raise ConcurrencyConflict(f"wrong last sequence on {subject}")
            if known:
                raise DuplicateInBatch(f"batch repeats event ids {known}")
            sequences = []
            for new in request.events:
                seq = len(self._events) + 1
                self._events.append(
                    StoredEvent(seq, new.subject, new.payload, datetime.now(UTC))
                )
                self._by_id[new.event.id] = seq
                self._last_by_subject[new.subject] = seq
                sequences.append(seq)
            return AppendResult(sequences)

    async def read_subject(self, subject: str, after: int = 0) -> list[StoredEvent]:
        return [e for e in self._events if subject_matches(subject, e.subject) and e.sequence > after]

    async def latest(self, subjects: Sequence[str]) -> Latest:
        found = {subject: seq for subject, seq in self._last_by_subject.items()
                 if any(subject_matches(pattern, subject) for pattern in subjects)}
        return Latest(found, len(self._events))

    async def read_all(
        self, from_sequence: int = 1, until: int | None = None, subjects: Sequence[str] | None = None
    ) -> AsyncIterator[StoredEvent]:
        end = len(self._events) if until is None else min(until, len(self._events))
        for stored in self._events[max(from_sequence, 1) - 1 : end]:
            if subjects is None or any(subject_matches(s, stored.subject) for s in subjects):
                yield stored

    async def last_sequence(self) -> int:
        return len(self._events)
