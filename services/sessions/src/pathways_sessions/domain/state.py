"""Sessions aggregates, folded from their own events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from pathways.core.commands import AggregateType
from pathways.core.schemas import EventData

from pathways_sessions.domain.events import SessionCancelled, SessionDelivered, SessionScheduled, ShowcaseHeld


@dataclass(frozen=True)
class Session:
    scheduled: bool = False
    activity: str = ""
    site: str = ""
    starts_at: datetime = datetime.min
    capacity: int = 0
    delivered: bool = False
    cancelled: bool = False


def _evolve_session(state: Session, event: EventData) -> Session:
    if isinstance(event, SessionScheduled):
        return Session(True, event.activity, event.site, event.starts_at, event.capacity)
    if isinstance(event, SessionDelivered):
        return replace(state, delivered=True)
    if isinstance(event, SessionCancelled):
        return replace(state, cancelled=True)
    return state


@dataclass(frozen=True)
class Showcase:
    held: bool = False


SESSION = AggregateType(
    "session", Session(), _evolve_session, (SessionScheduled, SessionDelivered, SessionCancelled)
)
SHOWCASE = AggregateType(
    "showcase", Showcase(), lambda s, e: Showcase(True) if isinstance(e, ShowcaseHeld) else s, (ShowcaseHeld,)
)
