"""What every event store backend promises (the contract tests in tests/ hold each
backend to it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from pathways.core.envelope import CloudEvent


@dataclass(frozen=True, slots=True)
class NewEvent:
    subject: str
    event: CloudEvent
    payload: bytes = b""

    @classmethod
    def of(cls, subject: str, event: CloudEvent) -> NewEvent:
        return cls(subject, event, event.to_bytes())


@dataclass(frozen=True, slots=True)
class StoredEvent:
    sequence: int
    subject: str
    payload: bytes  # the exact bytes stored: what the audit ledger hashes
    stored_at: datetime

    @property
    def event(self) -> CloudEvent:
        return CloudEvent.from_bytes(self.payload)


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """The events of one command. `expected` maps each subject written to the stream
    sequence of its last event as the command saw it (0 = no events yet)."""

    events: Sequence[NewEvent]
    expected: Mapping[str, int] = field(default_factory=dict)

    @property
    def subjects(self) -> set[str]:
        return {e.subject for e in self.events}


@dataclass(frozen=True, slots=True)
class AppendResult:
    sequences: list[int]
    duplicate: bool = False

    @property
    def last_sequence(self) -> int:
        return self.sequences[-1] if self.sequences else 0


@dataclass(frozen=True, slots=True)
class Latest:
    """The last stream sequence of each subject asked about (absent: nothing stored on it),
    and the stream's own last sequence when the store answered (None if it did not say)."""

    by_subject: dict[str, int]
    stream: int | None
    complete: bool = True  # False: a wildcard matched more subjects than one answer holds

    def of(self, subject: str) -> int:
        return self.by_subject.get(subject, 0)


class ConcurrencyConflict(Exception):
    """Another writer appended to the aggregate since the command read it."""


class DuplicateInBatch(Exception):
    """An atomic batch repeated an event id already stored: the command was a retry."""


class EventStore(Protocol):
    async def append(self, request: AppendRequest) -> AppendResult: ...

    async def read_subject(self, subject: str, after: int = 0) -> list[StoredEvent]: ...

    async def latest(self, subjects: Sequence[str]) -> Latest:
        """Where each subject (or wildcard) stands, in one read whose cost does not grow
        with anyone's history: how a command knows whether what it holds is current."""
        ...

    def read_all(
        self, from_sequence: int = 1, until: int | None = None, subjects: Sequence[str] | None = None
    ) -> AsyncIterator[StoredEvent]: ...

    async def last_sequence(self) -> int: ...
