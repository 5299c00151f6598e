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

from pathways.envelope import CloudEvent
from pathways.projection import Rows, Tables, update, upsert
from pathways.rows import accumulate
from sqlalchemy import Column, Date, Index, Integer, MetaData, String, Table, Text

meta = MetaData()
Id = String(64)
MOVED_ON = ("community_living", "education", "employment", "volunteering", "other")  # "readmitted" is not moving on

REFERRALS = Table(
    "reporting_referral", meta,
    Column("programme_id", Id, primary_key=True), Column("partner_id", Id, primary_key=True),
    Column("participant_id", Id, primary_key=True), Column("referral_id", Id, primary_key=True),
    Column("referrer", String(32), nullable=False), Column("referred_on", Date, nullable=False),
    Column("status", String(16), nullable=False),  # referred | accepted | declined | enrolled
    Column("decided_on", Date), Column("decline_reason", String(32)), Column("enrolled_on", Date),
    Index("reporting_referral_by_day", "programme_id", "referred_on"),
)
JOURNEYS = Table(
    "reporting_journey", meta,
    Column("programme_id", Id, primary_key=True), Column("partner_id", Id, primary_key=True),
    Column("participant_id", Id, primary_key=True),
    Column("enrolled_on", Date), Column("first_session_on", Date), Column("transitioned_on", Date),
    Column("moved_on_on", Date),  # completed or withdrawn with a move-on outcome other than readmission
    Index("reporting_journey_by_enrolment", "programme_id", "enrolled_on"),
    info={"accumulate": {"enrolled_on": "min", "first_session_on": "min", "transitioned_on": "min", "moved_on_on": "min"}},
)
TRANSITION_DAYS = Table(
    "reporting_transition_day", meta,
    Column("programme_id", Id, primary_key=True), Column("partner_id", Id, primary_key=True),
    Column("to_setting", String(16), primary_key=True), Column("day", Date, primary_key=True),
    Column("transitions", Integer, nullable=False),
    info={"accumulate": {"transitions": "sum"}},
)
MOVE_ON_DAYS = Table(
    "reporting_move_on_day", meta,
    Column("programme_id", Id, primary_key=True), Column("partner_id", Id, primary_key=True),
    Column("outcome", String(32), primary_key=True), Column("ending", String(16), primary_key=True),  # completed | withdrawn
    Column("day", Date, primary_key=True), Column("people", Integer, nullable=False),
    info={"accumulate": {"people": "sum"}},
)
ABSENCES = Table(
    "reporting_absence", meta,
    Column("programme_id", Id, primary_key=True), Column("session_id", Id, primary_key=True),
    Column("participant_id", Id, primary_key=True), Column("partner_id", Id, nullable=False),
    Column("activity", Text, nullable=False), Column("kind", String(16), nullable=False), Column("reason", Text),
    Column("on", Date, nullable=False),
    Index("reporting_absence_by_partner", "programme_id", "partner_id", "participant_id", "on"),
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
