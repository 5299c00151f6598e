"""Projections: events from PATHWAYS_EVENTS into read-model tables, a batch at a time, with
the stream sequence stored in the same transaction as the rows (so a crash at any point
replays to the same result); rebuilds into fresh tables are `pathways.core.rebuild`. The
runner that feeds a projection live from a consumer is `pathways.jetstream.runner`.

A projection reads only the subjects of the contexts whose events it handles (the context
is a token of every event subject), so a command of one context costs nothing in the views
that never look at it. Its position is the stream sequence up to which it has applied
everything it reads, whatever it does not read in between."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, Engine, Table, select

from pathways.core.envelope import CloudEvent
from pathways.core.eventstore.base import StoredEvent
from pathways.core.logging import get_logger
from pathways.core.positions import read_anchor, read_position, write_anchor, write_position
from pathways.core.rows import Rows, insert_if_absent, update, upsert
from pathways.core.schemas import EventData, SchemaRegistry
from pathways.core.subjects import EVENTS_ROOT
from pathways.core.summaries import Summary, refresh_touched, watching

log = get_logger("pathways.projection")
REBUILD_SUFFIX = "__rebuild"
MARKED_TYPES = 8  # up to this many handled types, an event's bytes are searched for them before decoding

Tables = Mapping[str, Table]
# A handler gets the decoded event: the context's own pydantic model when the projection
# registers that event type's schema, otherwise the plain `data` dict (a tolerant reader
# of another context's published events, which a service must not import). Its writes go
# through the batch (`pathways.core.rows`), which sends them per table when the batch is done.
Apply = Callable[[Rows, Tables, CloudEvent, Any, int], None]
# A handler of the stored messages themselves, every one in stream order, whatever it
# holds: what the audit ledger hashes.
ApplyStored = Callable[[Rows, Tables, Sequence[StoredEvent]], None]


@dataclass(frozen=True)
class Projection:
    """A read model: its tables and, per event type, how an event changes them.
    Handlers get the tables by name so a rebuild can point them at fresh copies.

    A handler is keyed by the event's class when the projection belongs to the context
    that defines it (a misspelt class does not import; a renamed one is renamed here too),
    and by its type string when the event is another context's, whose classes a service
    must not import. Class keys are turned into type strings here, once: dispatch is one
    dict lookup on the type the stored event carries."""

    name: str
    tables: Sequence[Table]
    handlers: Mapping[str | type[EventData], Apply]
    schemas: SchemaRegistry = field(default_factory=SchemaRegistry)
    stored: ApplyStored | None = None  # called first with each batch's new messages
    rebuildable: bool = True  # False: a record of its own that `pathways rebuild` must not replace
    summaries: Sequence[Summary] = ()  # tables of answers recomputed for the groups each batch touches
    by_type: Mapping[str, Apply] = field(init=False)  # the handlers keyed by the type on the wire
    # Each handled type as it appears in a stored event's bytes ("pathways.ctx.Name", quoted):
    # an event holding none of them is passed over undecoded. Every runner reads every event of
    # its contexts, so decoding each would cost a small read model as much CPU per command as a
    # large one (py-spy of the registry under 50 clients: pydantic's decoding 5.0 % of its
    # samples with five read models, 3.2 % after this and merging three of them). None: a
    # handler of every stored message, or so many types that looking is no cheaper than decoding.
    # It relies on every event being stored as `CloudEvent.to_bytes` writes it (the type in
    # plain ASCII, never \u-escaped): the intake, batches and the audit trail all write so, and
    # the server lets no one else write a context's subjects.
    type_markers: tuple[bytes, ...] | None = field(init=False)
    # The subjects it reads: those of the contexts whose events it handles. None: every
    # message of the stream (a handler of stored messages sees them all, in order). Worked
    # out once: a runner asks for each projection's with every batch.
    subjects: list[str] | None = field(init=False)
    _live: Mapping[str, Table] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_type: dict[str, Apply] = {}
        for key, apply in self.handlers.items():
            event_type = key if isinstance(key, str) else registered_type(key)
            if event_type in by_type:
                raise ValueError(f"{self.name}: two handlers for {event_type}")
            by_type[event_type] = apply
        object.__setattr__(self, "by_type", by_type)
        few = self.stored is None and len(by_type) <= MARKED_TYPES
        object.__setattr__(self, "type_markers", tuple(f'"{t}"'.encode() for t in by_type) if few else None)
        every = self.stored is not None or not by_type
        object.__setattr__(self, "subjects", None if every else
                           [context_subjects(context) for context in sorted({_context_of_type(t) for t in by_type})])
        object.__setattr__(self, "_live", MappingProxyType({t.name: t for t in self.tables}))

    def live_tables(self) -> Mapping[str, Table]:
        """Its tables by name (the handlers' `Tables`), made once: a runner passes them with every batch."""
        return self._live


def merged(name: str, *parts: Projection) -> Projection:
    """One read model of several small ones: one runner, one position, one read of the
    stream for all of them. A runner costs CPU for every event of its contexts, handled or
    not, so a service keeps few. Each part's events reach its handlers as they did alone:
    decoded to its own models, or as plain data where it reads another's language."""
    schemas, tables = SchemaRegistry(), set()
    by_type: dict[str | type[EventData], Apply] = {}
    for part in parts:
        if part.stored is not None or part.summaries or not part.rebuildable:
            raise ValueError(f"{part.name}: a read model with stored-message handlers, summaries or a record of its "
                             "own stands alone")
        for table in part.tables:
            if table.name in tables:
                raise ValueError(f"{name}: two parts write {table.name}")
            tables.add(table.name)
        for event_type, apply in part.by_type.items():
            if event_type in by_type:
                raise ValueError(f"{name}: two parts handle {event_type}")
            by_type[event_type] = apply
            if event_type in part.schemas.events:  # decoded for this part: so for the whole
                schemas.events[event_type] = part.schemas.events[event_type]
                schemas._upcasters.update({k: v for k, v in part.schemas._upcasters.items() if k[0] == event_type})
    return Projection(name=name, tables=[t for part in parts for t in part.tables], handlers=by_type, schemas=schemas)


def registered_type(model: type[EventData]) -> str:
    """The wire type of an event class that a schema registry registered. Its own
    `__dict__` is read, not the inherited attribute: a subclass nobody registered would
    otherwise pass for its parent, and its handler would run on the parent's events."""
    event_type = vars(model).get("event_type")
    if not isinstance(event_type, str):
        raise ValueError(f"{model.__qualname__} is not a registered event (no schema registry's @event)")
    return event_type


def context_subjects(context: str) -> str:
    return f"{EVENTS_ROOT}.*.*.{context}.*"


def _context_of_type(event_type: str) -> str:
    return event_type.split(".")[1]  # pathways.<context>.<Event>


def from_its_owner(cloud: CloudEvent, subject: str) -> bool:
    """A fact is applied only from its owner (DESIGN §4 G9): its type, its source and the
    subject it is stored on all name one context, and its aggregate is the subject's. Each
    service may publish only on its own context's subjects (pathways.runtime.accounts), so
    an event of another context's type, or claiming another source, is a forgery or a bug,
    not that context's fact."""
    tokens = subject.split(".")
    if len(tokens) != 6:
        return False
    context = tokens[4]
    return _context_of_type(cloud.type) == context and cloud.source == f"/pathways/{context}" and cloud.subject == tokens[5]


class Gap(Exception):
    """The stored position is behind what the consumer has already passed (a rebuild was
    swapped in), or a projection that reads every message missed one."""


@dataclass(frozen=True)
class Applied:
    """What a batch did to a projection: the position it reached (the last event it read,
    or where it stood) and its anchor, the last event it read (sequence, id), if any."""

    last: int
    anchor: tuple[int, str] | None


def apply_batch(
    conn: Connection, projection: Projection, tables: Tables, position_name: str, events: Iterable[StoredEvent],
    *, passed: int | None = None, summarise: bool = True, quarantine: list[int] | None = None,
    through: int | None = None,
) -> int:
    """Apply events after the stored position; returns the new position. The caller owns
    the transaction, so rows and position commit together or not at all. `passed`: how far
    the caller's consumer has read; a stored position behind it means events in between
    would be missed, so the caller must read again from the stored position. `summarise`:
    recompute the summaries of the groups the batch touched (a rebuild fills them once at the end).
    `quarantine`: where the sequences of events not applied because they are not from their
    owner are noted. `through`: how far the caller's reader has looked; a projection of some
    contexts (`subjects`) covers that far, since nothing it reads was stored in between."""
    position = read_position(conn, position_name, for_update=True)
    check_not_behind(projection, position, passed)
    done = apply_events(conn, projection, tables, position, events, summarise=summarise, quarantine=quarantine)
    last = covered(projection, done.last, through)
    if last > position:
        write_position(conn, position_name, last)
    if done.anchor is not None:
        write_anchor(conn, position_name, *done.anchor)
    return last


def covered(projection: Projection, last: int, through: int | None) -> int:
    """Where a projection stands once its reader has looked through `through`: a projection of
    some contexts moves there, since nothing it reads was stored in between; one that reads
    every message stands at the last it applied."""
    return max(last, through) if through is not None and projection.subjects is not None else last


def check_not_behind(projection: Projection, position: int, passed: int | None) -> None:
    if passed is not None and position < passed:
        raise Gap(f"{projection.name}: stored at {position}, but the consumer has passed {passed}")


def apply_events(
    conn: Connection, projection: Projection, tables: Tables, position: int, events: Iterable[StoredEvent],
    *, summarise: bool = True, quarantine: list[int] | None = None,
) -> Applied:
    """`apply_batch` on a position the caller has read, leaving the caller to write the
    position and anchor it returns (a runner writes them for all its projections at once)."""
    summaries = projection.summaries if summarise else ()
    # Not summarised (a rebuild): the summaries that handlers add into are filled whole at the end.
    filled = frozenset() if summarise else frozenset(tables[s.table.name] for s in projection.summaries if not s.refreshed)
    rows = Rows(conn, watch=watching(summaries, tables), drop=filled)
    every_message = projection.subjects is None
    fresh: list[StoredEvent] = []
    last = position
    for stored in events:
        if stored.sequence <= last:
            continue  # redelivered after a crash, or applied by another runner: already applied
        if every_message and stored.sequence != last + 1:
            raise Gap(f"{projection.name}: expected {last + 1}, got {stored.sequence}")
        fresh.append(stored)
        last = stored.sequence
    if projection.stored is not None and fresh:
        projection.stored(rows, tables, fresh)
    foreign = 0
    anchor: tuple[int, str] | None = None
    markers = projection.type_markers
    for stored in fresh:
        if markers is not None and not any(marker in stored.payload for marker in markers):
            continue  # names none of the types it handles: not decoded at all (most events, for a small read model)
        try:
            cloud = stored.event
            anchor = (stored.sequence, cloud.id)
        except ValueError:
            # Not a Pathways event (something else published on the stream): no read
            # model is built from it, and it must not stop every view behind it.
            foreign += 1
            continue
        handler = projection.by_type.get(cloud.type)
        if handler is None:
            continue
        if not from_its_owner(cloud, stored.subject):
            foreign += 1
            if quarantine is not None:  # the runner keeps count, for /health and `pathways status`
                quarantine.append(stored.sequence)
            continue
        data: EventData | dict[str, Any] = (
            projection.schemas.decode(cloud.type, cloud.dataschema, cloud.data)
            if cloud.type in projection.schemas.events
            else cloud.data
        )
        handler(rows, tables, cloud, data, stored.sequence)
    if foreign:
        log.warning("skipped messages that are not its context's events", projection=projection.name, count=foreign,
                    up_to=last)
    rows.flush()
    refresh_touched(rows, summaries, tables)
    if fresh and (anchor is None or anchor[0] != fresh[-1].sequence):
        anchor = _last_event(fresh) or anchor  # the anchor is the last event read, decoded or not
    return Applied(last, anchor)


def _last_event(fresh: Sequence[StoredEvent]) -> tuple[int, str] | None:
    for stored in reversed(fresh):
        try:
            return stored.sequence, stored.event.id
        except ValueError:
            continue
    return None


def dump(engine: Engine, projection: Projection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: to compare two read models for equality."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in projection.tables:
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


__all__ = ["Applied", "Apply", "Gap", "Projection", "Rows", "Tables", "apply_batch", "apply_events", "check_not_behind",
           "covered", "dump", "insert_if_absent", "read_anchor", "read_position", "update", "upsert",
           "write_anchor", "write_position"]
