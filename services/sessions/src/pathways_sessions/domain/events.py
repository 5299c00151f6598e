"""Sessions events: what was planned, delivered to whom, cancelled, and shown."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pathways.core.ids import Id
from pathways.core.schemas import EventData, SchemaRegistry
from pydantic import BaseModel, ConfigDict, Field

schemas = SchemaRegistry()
event = schemas.event("sessions")


@event
class SessionScheduled(EventData):
    """A partner planned a session of a commissioned activity."""

    programme_id: Id
    session_id: Id
    partner_id: Id
    contract_id: Id
    activity: str
    site: str
    starts_at: datetime
    duration_minutes: int = Field(gt=0)
    capacity: int = Field(gt=0)
    co_facilitators: list[Id]


AbsenceKind = Literal["excused", "unexcused"]


class Absence(BaseModel):
    """Someone expected at a session who did not come: excused (they let the partner know,
    or were unwell, on leave or in a ward review) or not, and why if known."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # as every event's data

    participant_id: Id
    kind: AbsenceKind
    reason: str | None = None


@event
class SessionDelivered(EventData):
    """A session took place; attendees (and absentees) are pseudonymous participant ids."""

    programme_id: Id
    session_id: Id
    partner_id: Id
    activity: str
    site: str
    delivered_on: date
    attendees: list[Id]
    duration_minutes: int = Field(gt=0)
    absences: list[Absence] = Field(default_factory=list)


@event
class SessionCancelled(EventData):
    programme_id: Id
    session_id: Id
    partner_id: Id
    reason: str


@event
class ShowcaseHeld(EventData):
    """Participants showed their work (a podcast launch, a music night, an exhibition)."""

    programme_id: Id
    showcase_id: Id
    partner_id: Id
    title: str
    held_on: date
    venue: str
    activities: list[str]
    featured_participants: list[Id]
    audience: int = Field(ge=0)
