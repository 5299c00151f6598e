"""The journey a person makes with a partner, as the reporting read model keeps it:
referred, accepted or declined, enrolled, at their first session, moved from the ward into
the community, and moved on at the end; and attendance as partners record it (present,
excused or unexcused absence).

- One row per referral (its status moves on: referred, accepted, declined, enrolled).
- One row per person and partner with the day of each step, each the earliest
  (`accumulate` with min): the funnel counts a cohort from it.
- Day counters for transitions and move-on outcomes, which only ever add.
- One row per absence, beside the attendance rows: who was expected and did not come."""

from __future__ import annotations

from datetime import date
from typing import Any

from pathways.core.envelope import CloudEvent
from pathways.core.projection import Rows, Tables, update, upsert
from pathways.core.rows import accumulate
from sqlalchemy import Column, Date, Index, String, Table, Text
from sqlmodel import Field, SQLModel

Id = String(64)
MOVED_ON = ("community_living", "education", "employment", "volunteering", "other")  # "readmitted" is not moving on


class Referral(SQLModel, table=True):
    __tablename__ = "reporting_referral"
    __table_args__ = (Index("reporting_referral_by_day", "programme_id", "referred_on"),)
    programme_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(primary_key=True, sa_type=Id)
    participant_id: str = Field(primary_key=True, sa_type=Id)
    referral_id: str = Field(primary_key=True, sa_type=Id)
    referrer: str = Field(sa_type=String(32))
    referred_on: date
    status: str = Field(sa_type=String(16))  # referred | accepted | declined | enrolled
    decided_on: date | None = None
    decline_reason: str | None = Field(default=None, sa_type=String(32))
    enrolled_on: date | None = None


class Journey(SQLModel, table=True):
    __tablename__ = "reporting_journey"
    __table_args__ = (
        Index("reporting_journey_by_enrolment", "programme_id", "enrolled_on"),
        {"info": {"accumulate": {"enrolled_on": "min", "first_session_on": "min", "transitioned_on": "min",
                                 "moved_on_on": "min"}}},
    )
    programme_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(primary_key=True, sa_type=Id)
    participant_id: str = Field(primary_key=True, sa_type=Id)
    enrolled_on: date | None = None
    first_session_on: date | None = None
    transitioned_on: date | None = None
    moved_on_on: date | None = None  # completed or withdrawn with a move-on outcome other than readmission


class TransitionDay(SQLModel, table=True):
    __tablename__ = "reporting_transition_day"
    __table_args__ = {"info": {"accumulate": {"transitions": "sum"}}}
    programme_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(primary_key=True, sa_type=Id)
    to_setting: str = Field(primary_key=True, sa_type=String(16))
    day: date = Field(primary_key=True)
    transitions: int


class MoveOnDay(SQLModel, table=True):
    __tablename__ = "reporting_move_on_day"
    __table_args__ = {"info": {"accumulate": {"people": "sum"}}}
    programme_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(primary_key=True, sa_type=Id)
    outcome: str = Field(primary_key=True, sa_type=String(32))
    ending: str = Field(primary_key=True, sa_type=String(16))  # completed | withdrawn
    day: date = Field(primary_key=True)
    people: int


class Absence(SQLModel, table=True):
    __tablename__ = "reporting_absence"
    __table_args__ = (Index("reporting_absence_by_partner", "programme_id", "partner_id", "participant_id", "on"),)
    programme_id: str = Field(primary_key=True, sa_type=Id)
    session_id: str = Field(primary_key=True, sa_type=Id)
    participant_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(sa_type=Id)
    activity: str = Field(sa_type=Text)
    kind: str = Field(sa_type=String(16))
    reason: str | None = Field(default=None, sa_type=Text)
    on_: date = Field(sa_column=Column("on", Date, nullable=False))  # `on` is a Python keyword


def _t(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


REFERRALS, JOURNEYS, TRANSITION_DAYS, MOVE_ON_DAYS, ABSENCES = (
    _t(m) for m in (Referral, Journey, TransitionDay, MoveOnDay, Absence)
)
TABLES = [REFERRALS, JOURNEYS, TRANSITION_DAYS, MOVE_ON_DAYS, ABSENCES]
for _table in (JOURNEYS, TRANSITION_DAYS, MOVE_ON_DAYS):
    _table.dialect_options["sqlite"]["with_rowid"] = False

Data = dict[str, Any]


def _person(d: Data) -> dict[str, str]:
    return {"programme_id": d["programme_id"], "partner_id": d["partner_id"], "participant_id": d["participant_id"]}


def _referral_key(d: Data) -> dict[str, str]:
    return _person(d) | {"referral_id": d["referral_id"]}


def referred(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    upsert(conn, t[REFERRALS.name], _referral_key(d) | {"referrer": d["referrer"], "status": "referred",
                                                        "referred_on": date.fromisoformat(d["referred_on"])},
           list(_referral_key(d)))


def accepted(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    update(conn, t[REFERRALS.name], _referral_key(d), status="accepted", decided_on=date.fromisoformat(d["accepted_on"]))


def declined(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    update(conn, t[REFERRALS.name], _referral_key(d), status="declined", decline_reason=d["reason"],
           decided_on=date.fromisoformat(d["declined_on"]))


def enrolled(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    on = date.fromisoformat(d["enrolled_on"])
    accumulate(conn, t[JOURNEYS.name], _person(d) | {"enrolled_on": on})
    if d.get("referral_id"):
        update(conn, t[REFERRALS.name], _referral_key(d), status="enrolled", enrolled_on=on)


def transitioned(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    on = date.fromisoformat(d["transitioned_on"])
    accumulate(conn, t[TRANSITION_DAYS.name], {"programme_id": d["programme_id"], "partner_id": d["partner_id"],
                                                "to_setting": d["to_setting"], "day": on, "transitions": 1})
    if d["to_setting"] == "community":
        accumulate(conn, t[JOURNEYS.name], _person(d) | {"transitioned_on": on})


def _ended(ending: str, day_field: str) -> Any:
    def apply(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
        outcome = d.get("moved_on_to")
        if outcome is None:  # withdrawn, where to not known
            return
        on = date.fromisoformat(d[day_field])
        accumulate(conn, t[MOVE_ON_DAYS.name], {"programme_id": d["programme_id"], "partner_id": d["partner_id"],
                                                 "outcome": outcome, "ending": ending, "day": on, "people": 1})
        if outcome in MOVED_ON:
            accumulate(conn, t[JOURNEYS.name], _person(d) | {"moved_on_on": on})

    return apply


completed = _ended("completed", "completed_on")
withdrawn_with_move_on = _ended("withdrawn", "withdrawn_on")


def delivered(conn: Rows, t: Tables, _: CloudEvent, d: Data, __: int) -> None:
    """Each attendee's first session, and each absence (events from before absences existed have none)."""
    on = date.fromisoformat(d["delivered_on"])
    for participant in d["attendees"]:
        accumulate(conn, t[JOURNEYS.name], {"programme_id": d["programme_id"], "partner_id": d["partner_id"],
                                            "participant_id": participant, "first_session_on": on})
    for absence in d.get("absences") or ():
        upsert(conn, t[ABSENCES.name], {"programme_id": d["programme_id"], "session_id": d["session_id"],
                                        "participant_id": absence["participant_id"], "partner_id": d["partner_id"],
                                        "activity": d["activity"], "kind": absence["kind"], "reason": absence.get("reason"),
                                        "on": on},
               ["programme_id", "session_id", "participant_id"])
