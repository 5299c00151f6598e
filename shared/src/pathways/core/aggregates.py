"""Aggregates held in memory: each one's folded state with the subject sequence it
reflects, so a command on an aggregate with a long history costs the same as one on a new
aggregate (DESIGN §4 G10).

The cache is only ever a shortcut. Before deciding, the intake asks the store where every
subject it loads stands (one read whatever the histories hold); an entry that is current
is used as it is, one that is behind reads only the events after it, and the append's
expected sequence still rejects a command that lost a race. Entries are evicted least
recently used first, bounded by the number of events they stand for."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pathways.core.commands import AggregateType
from pathways.core.eventstore.base import StoredEvent
from pathways.core.logging import get_logger
from pathways.core.replies import RejectionCode, reject
from pathways.core.schemas import EventData, SchemaRegistry

log = get_logger("pathways.aggregates")


@dataclass(slots=True)
class Folded:
    """An aggregate's state as of `last_sequence` (its subject's last event), and the
    sequence of each of its events by id: how a retried command finds its first answer."""

    state: Any
    last_sequence: int = 0
    sequence_by_event_id: dict[str, int] = field(default_factory=dict)
    owned: bool = False  # some event of its history belongs to this kind of aggregate

    @property
    def weight(self) -> int:
        return len(self.sequence_by_event_id) + 1


def fold(
    aggregate: AggregateType[Any],
    schemas: SchemaRegistry,
    history: Iterable[StoredEvent],
    start: Folded | None = None,
    *,
    shared_id: bool = False,
    name: str = "",
) -> Folded:
    """Fold `history` (in stream order) onto `start`, or onto the initial state. With
    `shared_id`, events of other kinds of aggregate that happen to use the same id are not
    this one's history (a wildcard load); otherwise they mean the id is taken."""
    base = start if start is not None else Folded(aggregate.initial)
    # A new value, never the one held: a command that loaded the old one decides on it and
    # appends with its sequence. Only the ids are shared (extended in place): finding a
    # command's own events there is always a true answer.
    folded = Folded(base.state, base.last_sequence, base.sequence_by_event_id, base.owned)
    state = folded.state
    for stored in history:
        folded.last_sequence = stored.sequence
        try:
            event = stored.event
            data: EventData = schemas.decode(event.type, event.dataschema, event.data)
        except (ValueError, KeyError):
            # Not an event of this context (something else published on its subject): it is
            # no part of the aggregate's history and must not block its commands.
            log.warning("skipped a message that is not an event of this aggregate", subject=stored.subject,
                        sequence=stored.sequence)
            continue
        if not aggregate.owns(data):
            if shared_id:
                continue
            raise reject(RejectionCode.CONFLICT, f"The id '{name}' is already used by something other than a "
                                                 f"{aggregate.name}; choose another id.")
        folded.sequence_by_event_id[event.id] = stored.sequence
        folded.owned = True
        state = aggregate.evolve(state, data)
    folded.state = state
    return folded


@dataclass
class CacheStats:
    hits: int = 0  # current as held: nothing read but where the subject stands
    new: int = 0  # nothing stored yet: nothing to read
    refreshed: int = 0  # behind: only the newer events read
    misses: int = 0  # not held: the whole history read

    @property
    def hit_rate(self) -> float:
        """Of the aggregates that have a history, how often it was held current."""
        looked = self.hits + self.refreshed + self.misses
        return self.hits / looked if looked else 0.0


Key = tuple[str, str, bool]  # (aggregate kind, subject, shared id)


class AggregateCache:
    """Least recently used first out, once the entries stand for more than `max_events`."""

    def __init__(self, max_events: int = 500_000) -> None:
        self.max_events = max_events
        self.stats = CacheStats()
        self._entries: OrderedDict[Key, Folded] = OrderedDict()
        self._weight = 0

    def get(self, key: Key) -> Folded | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: Key, folded: Folded) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._weight -= old.weight
        self._entries[key] = folded
        self._weight += folded.weight
        while self._weight > self.max_events and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._weight -= evicted.weight

    def forget(self, key: Key) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._weight -= old.weight

    def report(self) -> dict[str, float | int]:
        """What /health shows: how often the held state was current, and what is held."""
        s = self.stats
        return {"hits": s.hits, "new": s.new, "refreshed": s.refreshed, "misses": s.misses, "hit_rate": round(s.hit_rate, 4),
                "aggregates": len(self._entries), "events_held": self._weight - len(self._entries),
                "max_events": self.max_events}
