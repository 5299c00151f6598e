"""The event store: append with optimistic concurrency and de-duplication, read one
aggregate's history, read the whole stream in order."""

from pathways.core.eventstore.base import (
    AppendRequest,
    AppendResult,
    ConcurrencyConflict,
    DuplicateInBatch,
    EventStore,
    NewEvent,
    StoredEvent,
)

__all__ = [
    "AppendRequest",
    "AppendResult",
    "ConcurrencyConflict",
    "DuplicateInBatch",
    "EventStore",
    "NewEvent",
    "StoredEvent",
]
