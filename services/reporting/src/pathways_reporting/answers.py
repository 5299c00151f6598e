"""The reporting read model's summaries: the answers the headline figures read, kept as
facts arrive (`pathways.core.summaries`), at the grain the dashboard's filters need. A period
is read as its whole months from a month table plus its part-months, day by day, from a
day table, so a year costs about twelve rows per group, not a row per fact.

- Sessions and spend change state (delivered, cancelled; approved, paid): their day and
  month tables are recomputed for the days and months a batch touched.
- Who attended is one row per programme, participant, month, partner and activity, with
  the days of the month they came as bits of an integer, so "people who came between the
  10th and the 20th" is exact; and one row per year with the months as bits, so whole
  months cost a row per person and year. An attendance is never taken back (a session is
  delivered once), so each one ORs its bits in as it is applied, and the first month a
  person came to an activity is a minimum. (Recomputed per person a batch touched, each
  batch read every attendance of theirs so far, three times over: a cost that grew with
  history.) A rebuild still computes them once, whole, in SQL: adding 640,000 attendances
  in one by one cost it more (on 100 k events, 3.5 s against 2 s).
- Enrolments, withdrawals, baselines and co-producer payments only ever add: they add into
  counters as they are applied.
- Wellbeing pairs: each follow-up with the person's first baseline and the day of their
  next follow-up, so "the latest follow-up in the period" is a condition on one row.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pathways.core.summaries import Summary
from sqlalchemy import Column, Date, Index, Select, String, Table, and_, func, or_, select
from sqlmodel import Field, SQLModel

Id = String(64)
# Every table here is WITHOUT ROWID on SQLite: rows live in their primary key's b-tree, so
# reading a range of keys reads the counters with them (no second lookup per row).
Month = String(7)  # "2026-01": grouped and compared the same way on SQLite and PostgreSQL

SESSION_COUNTS = ("sessions", "places", "attendances", "minutes")


def _on() -> Any:  # a day column named `on` (a Python keyword: the attribute is `on_`)
    return Field(sa_column=Column("on", Date, primary_key=True))


class _SessionKey(SQLModel):
    programme_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(primary_key=True, sa_type=Id)
    activity: str = Field(primary_key=True, sa_type=String(200))
    site: str = Field(primary_key=True, sa_type=String(200))


class SessionDay(_SessionKey, table=True):
    __tablename__ = "reporting_session_day"
    day: date = Field(primary_key=True)
    status: str = Field(primary_key=True, sa_type=String(16))
    sessions: int
    places: int
    attendances: int
    minutes: int
    month: str = Field(sa_type=Month)


class SessionMonth(_SessionKey, table=True):
    __tablename__ = "reporting_session_month"
    month: str = Field(primary_key=True, sa_type=Month)
    status: str = Field(primary_key=True, sa_type=String(16))
    sessions: int
    places: int
    attendances: int
    minutes: int


class _SpendKey(SQLModel):
    programme_id: str = Field(primary_key=True, sa_type=Id)
    contract_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(primary_key=True, sa_type=Id)
    kind: str = Field(primary_key=True, sa_type=String(16))
    status: str = Field(primary_key=True, sa_type=String(16))


class SpendDay(_SpendKey, table=True):
    __tablename__ = "reporting_spend_day"
    on_: date = _on()
    amount_pence: int
    items: int


class SpendMonth(_SpendKey, table=True):
    __tablename__ = "reporting_spend_month"
    month: str = Field(primary_key=True, sa_type=Month)
    amount_pence: int
    items: int


class AttendedMonth(SQLModel, table=True):
    __tablename__ = "reporting_attended_month"
    __table_args__ = (
        Index("reporting_attended_by_month", "programme_id", "month", "participant_id", "days", "partner_id", "activity"),
        {"info": {"accumulate": {"days": "or"}}},
    )
    programme_id: str = Field(primary_key=True, sa_type=Id)
    participant_id: str = Field(primary_key=True, sa_type=Id)
    month: str = Field(primary_key=True, sa_type=Month)
    partner_id: str = Field(primary_key=True, sa_type=Id)
    activity: str = Field(primary_key=True, sa_type=String(200))
    days: int  # bit d-1 set: came on day d of the month


# The same, a row per year with the months as bits: a year's question reads one row a person.
class AttendedYear(SQLModel, table=True):
    __tablename__ = "reporting_attended_year"
    __table_args__ = ({"info": {"accumulate": {"months": "or"}}},)
    programme_id: str = Field(primary_key=True, sa_type=Id)
    participant_id: str = Field(primary_key=True, sa_type=Id)
    year: int = Field(primary_key=True)
    partner_id: str = Field(primary_key=True, sa_type=Id)
    activity: str = Field(primary_key=True, sa_type=String(200))
    months: int  # bit m-1 set: came in month m


# Who ever came to each activity, with the partner they came with, and the first month they
# did: what "with an activity chosen" narrows the outcomes and the journey to. Read as one
# range of its key; picking them out of the month rows instead read every month row of the
# programme (the activity is not a prefix of their key): 36 ms of 44 for the outcome change,
# 22 of 26 for the journey, on 1 M events.
class ActivityPerson(SQLModel, table=True):
    __tablename__ = "reporting_activity_person"
    __table_args__ = (Index("reporting_activity_person_by_person", "programme_id", "participant_id"),
                      {"info": {"accumulate": {"first_month": "min"}}})
    programme_id: str = Field(primary_key=True, sa_type=Id)
    activity: str = Field(primary_key=True, sa_type=String(200))
    partner_id: str = Field(primary_key=True, sa_type=Id)
    participant_id: str = Field(primary_key=True, sa_type=Id)
    first_month: str = Field(sa_type=Month)


class Person(SQLModel, table=True):  # one row per person per programme: counted once however many partners enrol them
    __tablename__ = "reporting_person"
    __table_args__ = (Index("reporting_person_by_day", "programme_id", "first_enrolled_on"),
                      {"info": {"accumulate": {"first_enrolled_on": "min"}}})
    programme_id: str = Field(primary_key=True, sa_type=Id)
    participant_id: str = Field(primary_key=True, sa_type=Id)
    first_enrolled_on: date  # the earliest, in whatever order enrolments were recorded


class PartnerPerson(SQLModel, table=True):  # the same per partner: a person enrolled again after a withdrawal is one person
    __tablename__ = "reporting_partner_person"
    __table_args__ = {"info": {"accumulate": {"first_enrolled_on": "min"}}}
    programme_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(primary_key=True, sa_type=Id)
    participant_id: str = Field(primary_key=True, sa_type=Id)
    first_enrolled_on: date


# Per programme, partner, some keys and day: a count facts only ever add to.
class _PartnerKey(SQLModel):
    programme_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(primary_key=True, sa_type=Id)


class EnrolmentDay(_PartnerKey, table=True):
    __tablename__ = "reporting_enrolment_day"
    __table_args__ = {"info": {"accumulate": {"enrolled": "sum"}}}
    setting: str = Field(primary_key=True, sa_type=String(16))
    day: date = Field(primary_key=True)
    enrolled: int


class WithdrawalDay(_PartnerKey, table=True):
    __tablename__ = "reporting_withdrawal_day"
    __table_args__ = {"info": {"accumulate": {"withdrawn": "sum"}}}
    day: date = Field(primary_key=True)
    withdrawn: int


class BaselineDay(_PartnerKey, table=True):
    __tablename__ = "reporting_baseline_day"
    __table_args__ = {"info": {"accumulate": {"baselines": "sum"}}}
    instrument: str = Field(primary_key=True, sa_type=String(8))
    day: date = Field(primary_key=True)
    baselines: int


class PaymentDay(_PartnerKey, table=True):
    __tablename__ = "reporting_payment_day"
    __table_args__ = {"info": {"accumulate": {"amount_pence": "sum"}}}
    on_: date = _on()
    amount_pence: int


class OutcomePair(SQLModel, table=True):
    __tablename__ = "reporting_outcome_pair"
    __table_args__ = (Index("reporting_outcome_pair_by_day", "programme_id", "follow_up_on"),)
    programme_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(primary_key=True, sa_type=Id)
    participant_id: str = Field(primary_key=True, sa_type=Id)
    instrument: str = Field(primary_key=True, sa_type=String(8))
    follow_up_id: str = Field(primary_key=True, sa_type=Id)
    baseline_on: date
    baseline: int  # hundredths
    follow_up_on: date
    follow_up: int
    next_follow_up_on: date | None = None  # the same person's next follow-up on this instrument, if any


def _t(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


SESSION_DAYS, SESSION_MONTHS, SPEND_DAYS, SPEND_MONTHS = (_t(m) for m in (SessionDay, SessionMonth, SpendDay, SpendMonth))
ATTENDED, ATTENDED_YEARS, PEOPLE, PARTNER_PEOPLE = (_t(m) for m in (AttendedMonth, AttendedYear, Person, PartnerPerson))
ACTIVITY_PEOPLE = _t(ActivityPerson)
ENROLMENT_DAYS, WITHDRAWAL_DAYS, BASELINE_DAYS, PAYMENT_DAYS = (
    _t(m) for m in (EnrolmentDay, WithdrawalDay, BaselineDay, PaymentDay)
)
PAIRS = _t(OutcomePair)

TABLES = [SESSION_DAYS, SESSION_MONTHS, SPEND_DAYS, SPEND_MONTHS, ATTENDED, ATTENDED_YEARS, ACTIVITY_PEOPLE, PEOPLE,
          PARTNER_PEOPLE, ENROLMENT_DAYS,
          WITHDRAWAL_DAYS, BASELINE_DAYS, PAYMENT_DAYS, PAIRS]
for _table in TABLES:
    _table.dialect_options["sqlite"]["with_rowid"] = False


def _sessions(grain: str) -> Any:
    def query(s: Table) -> Select[Any]:
        keys = [s.c.programme_id, s.c.partner_id, s.c.activity, s.c.site, s.c[grain], s.c.status]
        counts = [func.count(), func.sum(s.c.capacity), func.sum(s.c.attendance), func.sum(s.c.duration_minutes)]
        return select(*keys, *counts, *([s.c.month] if grain == "day" else [])).group_by(*keys, *(
            [s.c.month] if grain == "day" else []))

    return query


def _spend(grain: str) -> Any:
    def query(s: Table) -> Select[Any]:
        keys = [s.c.programme_id, s.c.contract_id, s.c.partner_id, s.c.kind, s.c.status, s.c[grain]]
        return select(*keys, func.sum(s.c.amount_pence), func.count()).group_by(*keys)

    return query


def _pairs(f: Table) -> Select[Any]:
    """Each follow-up of a person (with a partner, on an instrument) beside their first
    baseline, and the day of the follow-up after it."""
    b, first, later = f.alias("b"), f.alias("first"), f.alias("later")

    def same(other: Any) -> Any:
        return and_(other.c.programme_id == f.c.programme_id, other.c.partner_id == f.c.partner_id,
                    other.c.participant_id == f.c.participant_id, other.c.instrument == f.c.instrument)

    first_baseline = (select(first.c.measurement_id).where(same(first), first.c.timepoint == "baseline")
                      .order_by(first.c.measured_on, first.c.measurement_id).limit(1).correlate(f).scalar_subquery())
    next_on = (select(func.min(later.c.measured_on)).where(
        same(later), later.c.timepoint != "baseline",
        or_(later.c.measured_on > f.c.measured_on,
            and_(later.c.measured_on == f.c.measured_on, later.c.measurement_id > f.c.measurement_id)))
        .correlate(f).scalar_subquery())
    return (select(f.c.programme_id, f.c.partner_id, f.c.participant_id, f.c.instrument, f.c.measurement_id,
                   b.c.measured_on, b.c.metric_hundredths, f.c.measured_on, f.c.metric_hundredths, next_on)
            .select_from(f.join(b, and_(same(b), b.c.measurement_id == first_baseline)))
            .where(f.c.timepoint != "baseline"))


def _attended(grain: str, bit: str) -> Any:
    def query(t: Table) -> Select[Any]:
        keys = [t.c.programme_id, t.c.participant_id, t.c[grain], t.c.partner_id, t.c.activity]
        return select(*keys, func.sum(t.c[bit].distinct())).group_by(*keys)  # distinct powers of two: their sum is their OR

    return query


def _activity_people(t: Table) -> Select[Any]:
    keys = [t.c.programme_id, t.c.activity, t.c.partner_id, t.c.participant_id]
    return select(*keys, func.min(t.c.month)).group_by(*keys)


def summaries(sessions: Table, spend: Table, outcomes: Table, attendance: Table) -> list[Summary]:
    return [
        Summary(SESSION_DAYS, sessions, ("programme_id", "day"), _sessions("day")),
        Summary(SESSION_MONTHS, sessions, ("programme_id", "month"), _sessions("month")),
        Summary(SPEND_DAYS, spend, ("programme_id", "on"), _spend("on")),
        Summary(SPEND_MONTHS, spend, ("programme_id", "month"), _spend("month")),
        Summary(PAIRS, outcomes, ("programme_id", "partner_id", "participant_id"), _pairs),
        # Added into as attendances are applied (readmodel._delivered); a rebuild computes them whole, in SQL.
        Summary(ATTENDED, attendance, ("programme_id", "participant_id"), _attended("month", "day_bit"), refreshed=False),
        Summary(ATTENDED_YEARS, attendance, ("programme_id", "participant_id"), _attended("year", "month_bit"),
                refreshed=False),
        Summary(ACTIVITY_PEOPLE, attendance, ("programme_id", "participant_id"), _activity_people, refreshed=False),
    ]
