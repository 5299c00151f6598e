"""What the sessions service keeps: its copy of the programme directory (consulted by the
rules) and the session log (sessions with status and attendance, served by the API)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pathways.core.envelope import CloudEvent
from pathways.core.projection import Projection, Rows, Tables, update, upsert
from pathways.policy.directory import Directory
from sqlalchemy import Table
from sqlmodel import Field, Session, SQLModel, select

from pathways_sessions.domain import events as e

DIRECTORY = Directory("sessions")


class SessionBase(SQLModel):
    programme_id: str = Field(primary_key=True)
    session_id: str = Field(primary_key=True)
    partner_id: str = Field(index=True)
    activity: str
    site: str
    starts_at: datetime
    capacity: int
    status: str  # scheduled | delivered | cancelled
    attendance: int = 0
    duration_minutes: int
    delivered_on: date | None = None
    cancel_reason: str | None = None


class SessionRecord(SessionBase, table=True):
    __tablename__ = "sessions_session"


class SessionPublic(SessionBase):
    pass


class Attendance(SQLModel, table=True):
    __tablename__ = "sessions_attendance"
    programme_id: str = Field(primary_key=True)
    session_id: str = Field(primary_key=True)
    participant_id: str = Field(primary_key=True)
    partner_id: str = Field(index=True)
    attended_on: date


class ShowcaseRecord(SQLModel, table=True):
    __tablename__ = "sessions_showcase"
    programme_id: str = Field(primary_key=True)
    showcase_id: str = Field(primary_key=True)
    partner_id: str = Field(index=True)
    title: str
    held_on: date
    venue: str
    featured: int
    audience: int


def _t(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def _scheduled(conn: Rows, t: Tables, _: CloudEvent, d: e.SessionScheduled, __: int) -> None:
    row = d.model_dump(include={"programme_id", "session_id", "partner_id", "activity", "site", "starts_at", "capacity",
                                "duration_minutes"})
    upsert(conn, t["sessions_session"], row | {"status": "scheduled"}, ["programme_id", "session_id"])


def _delivered(conn: Rows, t: Tables, _: CloudEvent, d: e.SessionDelivered, __: int) -> None:
    keys = {"programme_id": d.programme_id, "session_id": d.session_id}
    update(conn, t["sessions_session"], keys, status="delivered", attendance=len(d.attendees),
           duration_minutes=d.duration_minutes, delivered_on=d.delivered_on)
    for participant in d.attendees:
        row = {"programme_id": d.programme_id, "session_id": d.session_id, "participant_id": participant,
               "partner_id": d.partner_id, "attended_on": d.delivered_on}
        upsert(conn, t["sessions_attendance"], row, ["programme_id", "session_id", "participant_id"])


def _cancelled(conn: Rows, t: Tables, _: CloudEvent, d: e.SessionCancelled, __: int) -> None:
    keys = {"programme_id": d.programme_id, "session_id": d.session_id}
    update(conn, t["sessions_session"], keys, status="cancelled", cancel_reason=d.reason)


def _showcase(conn: Rows, t: Tables, _: CloudEvent, d: e.ShowcaseHeld, __: int) -> None:
    row = d.model_dump(include={"programme_id", "showcase_id", "partner_id", "title", "held_on", "venue", "audience"})
    upsert(conn, t["sessions_showcase"], row | {"featured": len(d.featured_participants)}, ["programme_id", "showcase_id"])


SESSION_LOG = Projection(
    name="sessions_log",
    tables=[_t(SessionRecord), _t(Attendance), _t(ShowcaseRecord)],
    handlers={
        e.SessionScheduled: _scheduled,
        e.SessionDelivered: _delivered,
        e.SessionCancelled: _cancelled,
        e.ShowcaseHeld: _showcase,
    },
    schemas=e.schemas,
)


def list_sessions(*, session: Session, programme_id: str, partner_id: str | None = None) -> list[Any]:
    query = select(SessionRecord).where(SessionRecord.programme_id == programme_id)
    if partner_id is not None:
        query = query.where(SessionRecord.partner_id == partner_id)
    return list(session.exec(query.order_by(SessionRecord.starts_at)))  # type: ignore[arg-type]


def list_showcases(*, session: Session, programme_id: str) -> list[ShowcaseRecord]:
    query = select(ShowcaseRecord).where(ShowcaseRecord.programme_id == programme_id)
    return list(session.exec(query.order_by(ShowcaseRecord.held_on)))  # type: ignore[arg-type]
