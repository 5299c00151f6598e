"""`audit replay --as-of`: the history exactly as it stood at a moment, read from the
stream (not from any read model), optionally narrowed to one programme or organisation."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from pathways.jetstream.store import JetStreamEventStore


async def history_as_of(
    store: JetStreamEventStore,
    as_of: datetime,
    *,
    programme: str | None = None,
    organisation: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Each event stored at or before `as_of`, in stream order, as a JSON-ready record."""
    until = await store.sequence_at(as_of)
    async for stored in store.read_all(1, until):
        if progress is not None and stored.sequence % 1024 == 0:
            progress(stored.sequence, until)
        try:
            event = json.loads(stored.payload)
        except (ValueError, UnicodeDecodeError):
            event = None
        if not isinstance(event, dict):
            if programme is None and organisation is None:  # not a Pathways event: shown as stored
                yield {"sequence": stored.sequence, "stored_at": stored.stored_at.isoformat(), "subject": stored.subject,
                       "payload_base64": base64.b64encode(stored.payload).decode()}
            continue
        if programme is not None and event.get("programme") != programme:
            continue
        if organisation is not None and event.get("organisation") != organisation:
            continue
        yield {"sequence": stored.sequence, "stored_at": stored.stored_at.isoformat(), "subject": stored.subject,
               "event": event}
    if progress is not None:
        progress(until, until)
