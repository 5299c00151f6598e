"""The reporting read model's summaries: the answers the headline figures read, kept as
facts arrive (`pathways.summaries`), at the grain the dashboard's filters need. A period
is read as its whole months from a month table plus its part-months, day by day, from a
day table, so a year costs about twelve rows per group, not a row per fact.

- Sessions and spend change state (delivered, cancelled; approved, paid): their day and
  month tables are recomputed for the days and months a batch touched.
- Who attended is one row per programme, participant, month, partner and activity, with
  the days of the month they came as bits of an integer, so "people who came between the
  10th and the 20th" is exact; and one row per year with the months as bits, so whole
  months cost a row per person and year. Recomputed per person a batch touched (a sum of
  distinct powers of two is their OR), so a rebuild computes them once, in SQL.
- Enrolments, withdrawals, baselines and co-producer payments only ever add: they add into
  counters as they are applied.
- Wellbeing pairs: each follow-up with the person's first baseline and the day of their
  next follow-up, so "the latest follow-up in the period" is a condition on one row.
"""

from __future__ import annotations

from typing import Any

from pathways.summaries import Summary
from sqlalchemy import Column, Date, Index, Integer, MetaData, Select, String, Table, and_, func, or_, select

meta = MetaData()
Id = String(64)
# Every table here is WITHOUT ROWID on SQLite: rows live in their primary key's b-tree, so
# reading a range of keys reads the counters with them (no second lookup per row).
Month = String(7)  # "2026-01": grouped and compared the same way on SQLite and PostgreSQL

SESSION_COUNTS = ("sessions", "places", "attendances", "minutes")


def _session_table(name: str, grain: str, grain_type: Any) -> Table:
    return Table(
        name, meta,
        Column("programme_id", Id, primary_key=True), Column("partner_id", Id, primary_key=True),
        Column("activity", String(200), primary_key=True), Column("site", String(200), primary_key=True),
        Column(grain, grain_type, primary_key=True), Column("status", String(16), primary_key=True),
        *(Column(c, Integer, nullable=False) for c in SESSION_COUNTS),
        *([Column("month", Month, nullable=False)] if grain == "day" else []),
    )


SESSION_DAYS = _session_table("reporting_session_day", "day", Date)
SESSION_MONTHS = _session_table("reporting_session_month", "month", Month)


def _spend_table(name: str, grain: str, grain_type: Any) -> Table:
    return Table(
        name, meta,
        Column("programme_id", Id, primary_key=True), Column("contract_id", Id, primary_key=True),
        Column("partner_id", Id, primary_key=True), Column("kind", String(16), primary_key=True),
        Column("status", String(16), primary_key=True), Column(grain, grain_type, primary_key=True),
        Column("amount_pence", Integer, nullable=False), Column("items", Integer, nullable=False),
    )


SPEND_DAYS = _spend_table("reporting_spend_day", "on", Date)
SPEND_MONTHS = _spend_table("reporting_spend_month", "month", Month)

ATTENDED = Table(
    "reporting_attended_month", meta,
    Column("programme_id", Id, primary_key=True), Column("participant_id", Id, primary_key=True),
    Column("month", Month, primary_key=True), Column("partner_id", Id, primary_key=True),
    Column("activity", String(200), primary_key=True),
    Column("days", Integer, nullable=False),  # bit d-1 set: came on day d of the month
    Index("reporting_attended_by_month", "programme_id", "month", "participant_id", "days", "partner_id", "activity"),
)
ATTENDED_YEARS = Table(  # the same, a row per year with the months as bits: a year's question reads one row a person
    "reporting_attended_year", meta,
    Column("programme_id", Id, primary_key=True), Column("participant_id", Id, primary_key=True),
    Column("year", Integer, primary_key=True), Column("partner_id", Id, primary_key=True),
    Column("activity", String(200), primary_key=True),
    Column("months", Integer, nullable=False),  # bit m-1 set: came in month m
)
PEOPLE = Table(  # one row per person per programme: counted once however many partners enrol them
    "reporting_person", meta,
    Column("programme_id", Id, primary_key=True), Column("participant_id", Id, primary_key=True),
    Column("first_enrolled_on", Date, nullable=False),  # the earliest, in whatever order enrolments were recorded
    Index("reporting_person_by_day", "programme_id", "first_enrolled_on"),
    info={"accumulate": {"first_enrolled_on": "min"}},
)
PARTNER_PEOPLE = Table(  # the same per partner: a person enrolled again after a withdrawal is one person
    "reporting_partner_person", meta,
    Column("programme_id", Id, primary_key=True), Column("partner_id", Id, primary_key=True),
    Column("participant_id", Id, primary_key=True), Column("first_enrolled_on", Date, nullable=False),
    info={"accumulate": {"first_enrolled_on": "min"}},
)
def _day_counter(name: str, counter: str, *keys: Column[Any]) -> Table:
    """Per programme, partner, these keys and day: a count facts only ever add to."""
    return Table(
        name, meta,
        Column("programme_id", Id, primary_key=True), Column("partner_id", Id, primary_key=True), *keys,
        Column(counter, Integer, nullable=False),
        info={"accumulate": {counter: "sum"}},
    )


ENROLMENT_DAYS = _day_counter("reporting_enrolment_day", "enrolled", Column("setting", String(16), primary_key=True),
                              Column("day", Date, primary_key=True))
WITHDRAWAL_DAYS = _day_counter("reporting_withdrawal_day", "withdrawn", Column("day", Date, primary_key=True))
BASELINE_DAYS = _day_counter("reporting_baseline_day", "baselines", Column("instrument", String(8), primary_key=True),
                             Column("day", Date, primary_key=True))
PAYMENT_DAYS = _day_counter("reporting_payment_day", "amount_pence", Column("on", Date, primary_key=True))
PAIRS = Table(
    "reporting_outcome_pair", meta,
    Column("programme_id", Id, primary_key=True), Column("partner_id", Id, primary_key=True),
    Column("participant_id", Id, primary_key=True), Column("instrument", String(8), primary_key=True),
    Column("follow_up_id", Id, primary_key=True),
    Column("baseline_on", Date, nullable=False), Column("baseline", Integer, nullable=False),  # hundredths
    Column("follow_up_on", Date, nullable=False), Column("follow_up", Integer, nullable=False),
    Column("next_follow_up_on", Date),  # the same person's next follow-up on this instrument, if any
    Index("reporting_outcome_pair_by_day", "programme_id", "follow_up_on"),
)

TABLES = [SESSION_DAYS, SESSION_MONTHS, SPEND_DAYS, SPEND_MONTHS, ATTENDED, ATTENDED_YEARS, PEOPLE, PARTNER_PEOPLE,
          ENROLMENT_DAYS,
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


def summaries(sessions: Table, spend: Table, outcomes: Table, attendance: Table) -> list[Summary]:
    return [
        Summary(SESSION_DAYS, sessions, ("programme_id", "day"), _sessions("day")),
        Summary(SESSION_MONTHS, sessions, ("programme_id", "month"), _sessions("month")),
        Summary(SPEND_DAYS, spend, ("programme_id", "on"), _spend("on")),
        Summary(SPEND_MONTHS, spend, ("programme_id", "month"), _spend("month")),
        Summary(PAIRS, outcomes, ("programme_id", "partner_id", "participant_id"), _pairs),
        Summary(ATTENDED, attendance, ("programme_id", "participant_id"), _attended("month", "day_bit")),
        Summary(ATTENDED_YEARS, attendance, ("programme_id", "participant_id"), _attended("year", "month_bit")),
    ]
