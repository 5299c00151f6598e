"""Is the stream still the one this read model was built from?

A stream truncated, restored from a backup or made again numbers its new events from where
it now ends, so sequences a read model has already passed can come to hold other events. A
runner that resumed from its stored position would pass over those for ever (a command
accepted at a reused sequence would never reach the read model). So before a runner reads,
it checks, per projection:
- the stream does not end before the projection's position;
- the last event the projection applied (its anchor: sequence and id) is still at that
  sequence (one Direct Get).
If either fails the runner stops and says so (log, /health, `pathways status`, metric);
`pathways rebuild <service>` repairs it, and the runner carries on from the rebuilt tables.

(An anchor is the last event applied, not the position itself, which can move on past
events the projection does not read: a backup taken between the two and restored is not
seen until the stream has passed the position again and the anchor is gone from it.)"""

from __future__ import annotations

from pathways.jetstream.store import JetStreamEventStore


async def replaced(store: JetStreamEventStore, name: str, position: int, anchor: tuple[int, str] | None,
                   last: int) -> str | None:
    """Why the stream is not the one `name` was built from, or None if it is."""
    if position > last:
        return (f"{name} stands at sequence {position} but the stream ends at {last}: the stream was truncated, "
                "restored or made again since this read model was built")
    if anchor is None or position == 0:
        return None  # nothing applied (a read model reset by hand keeps no meaningful anchor)
    sequence, event_id = anchor
    stored = await store.get(sequence)
    if stored is None:
        return (f"{name} last applied event {event_id} at sequence {sequence}, which the stream no longer holds: "
                "it was restored or made again since this read model was built")
    try:
        found = stored.event.id
    except ValueError:
        found = "(not a Pathways event)"
    if found != event_id:
        return (f"{name} last applied event {event_id} at sequence {sequence}, where the stream now holds {found}: "
                "its sequences were used again (restored or made again)")
    return None
