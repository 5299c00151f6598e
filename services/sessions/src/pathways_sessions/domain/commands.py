"""Sessions commands: what a delivery partner's system sends."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pathways.core.ids import Id
from pathways.core.schemas import CommandData
from pydantic import AfterValidator, Field, StringConstraints

from pathways_sessions.domain.events import AbsenceKind, schemas

command = schemas.command("sessions")
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _distinct(ids: list[str]) -> list[str]:
    if len(set(ids)) != len(ids):
        raise ValueError("each id may appear only once")
    return ids


DistinctIds = Annotated[list[Id], AfterValidator(_distinct)]


@command
class ScheduleSession(CommandData):
    """Plan a session of an activity the partner is commissioned for."""

    programme_id: Id
    session_id: Id
    activity: Text
    site: Text
    starts_at: datetime
    duration_minutes: int = Field(gt=0, le=24 * 60)
    capacity: int = Field(gt=0, le=1000)
    co_facilitators: DistinctIds = Field(default_factory=list, max_length=20)


class AbsenceGiven(CommandData):
    participant_id: Id
    kind: AbsenceKind = Field(description="excused: they let the partner know, or could not come (unwell, on leave, "
                              "a ward review); unexcused: they did not come and no reason is known")
    reason: Text | None = Field(None, description="Why, in a few words (never clinical detail)")


def _absent_once(absences: list[AbsenceGiven]) -> list[AbsenceGiven]:
    _distinct([a.participant_id for a in absences])
    return absences


@command
class RecordSessionDelivered(CommandData):
    """Record that a scheduled session took place, with who attended and who was expected
    but absent (excused or not)."""

    programme_id: Id
    session_id: Id
    attendees: DistinctIds = Field(max_length=1000)
    duration_minutes: int = Field(gt=0, le=24 * 60)
    delivered_on: date | None = Field(default=None, description="Defaults to the scheduled day")
    absences: Annotated[list[AbsenceGiven], AfterValidator(_absent_once)] = Field(default_factory=list, max_length=1000)


@command
class CancelSession(CommandData):
    programme_id: Id
    session_id: Id
    reason: Text


@command
class HoldShowcase(CommandData):
    """Record a showcase of participants' work."""

    programme_id: Id
    showcase_id: Id
    title: Text
    held_on: date
    venue: Text
    activities: list[Text] = Field(min_length=1, max_length=20)
    featured_participants: DistinctIds = Field(default_factory=list, max_length=500)
    audience: int = Field(ge=0, le=100_000)
