"""The tables people filter, read and export: one function per table, each taking the
same filters as the headline figures. The JSON API, the dashboard's tables and the CSV and
XLSX exports all come from here, so a table reads the same wherever it is opened.

Money is shown in pounds (exact Decimals from integer pence); participants only by their
pseudonymous ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from pathways.policy.consent import consent_column
from sqlalchemy import Connection, Select, func, select

from pathways_reporting import figures
from pathways_reporting.figures import Filters
from pathways_reporting.readmodel import (
    CO_PRODUCER_PAYMENTS,
    CO_PRODUCTION,
    DEVELOPMENTS,
    DIRECTORY,
    ORGANISATIONS,
    OUTCOMES,
    SESSIONS,
    SPEND,
)


@dataclass(frozen=True)
class TableData:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    total: int  # rows there are; `rows` may hold only the first of them


    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def pounds(pence: int) -> Decimal:
    return (Decimal(pence) / 100).quantize(Decimal("0.01"))


def _partner(column: Any, f: Filters) -> list[Any]:
    return [column == f.partner_id] if f.partner_id else []


def _fetch(conn: Connection, query: Select[Any], limit: int | None,
           total: Callable[[], int] | None = None) -> tuple[list[Any], int]:
    """The first `limit` rows (all without one) and how many there are in all: a page shows
    a few hundred rows of a table that may hold a hundred thousand. `total`: the count from
    a summary, where one has it."""
    rows = list(conn.execute(query.limit(limit) if limit is not None else query))
    if limit is None or len(rows) < limit:
        return rows, len(rows)
    if total is not None:
        return rows, total()
    return rows, int(conn.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar() or 0)


def session_log(conn: Connection, programme_id: str, f: Filters, limit: int | None = None) -> TableData:
    s = SESSIONS
    where = [s.c.programme_id == programme_id, *_partner(s.c.partner_id, f), *f.dated(s.c.day)]
    where += [s.c.activity == f.activity] if f.activity else []
    found, total = _fetch(conn, select(s).where(*where).order_by(s.c.starts_at, s.c.session_id), limit,
                          lambda: figures.session_count(conn, programme_id, f))
    rows = [[r.day.isoformat(), r.session_id, r.partner_id, r.activity, r.site, r.status, r.capacity, r.attendance,
             round(r.attendance / r.capacity, 3) if r.status == "delivered" and r.capacity else None, r.duration_minutes]
            for r in found]
    return TableData("Sessions", ["date", "session_id", "partner_id", "activity", "site", "status", "capacity", "attendance",
                                  "attendance_rate", "duration_minutes"], rows, total)


def participants(conn: Connection, programme_id: str, f: Filters, limit: int | None = None) -> TableData:
    """One row per enrolment (a person enrolled by two partners is two rows), with their
    attendance in the period: attended, absences excused and not, and the rate."""
    from pathways_reporting.journey_figures import attendance_of  # it builds on the figures' filters

    t = DIRECTORY.enrolments_table
    reader = f.reader("participants")
    consenting = [] if reader is None else [  # the reader's purpose, and the programme's agreements with it
        t.c[consent_column(reader.purpose)].is_(True), *DIRECTORY.sharing_condition(conn, programme_id, reader, t.c.partner_id)]
    found, total = _fetch(conn, select(t).where(t.c.programme_id == programme_id, *_partner(t.c.partner_id, f), *consenting)
                          .order_by(t.c.partner_id, t.c.participant_id), limit)
    seen = attendance_of(conn, programme_id, f, [(r.partner_id, r.participant_id) for r in found])  # the page's people only
    none: dict[str, Any] = {"present": 0, "excused": 0, "unexcused": 0, "rate": None, "in_a_row": 0}
    # Their attendance only where the programme's agreements (if any) share attendance with the reader too.
    attendance = f.reader("attendance")
    sharing = None if attendance is None else DIRECTORY.agreements.partners_sharing(
        conn, programme_id, attendance.organisation, attendance.data, attendance.on)
    unshared: dict[str, Any] = dict.fromkeys(none)
    rows = []
    for r in found:
        a = seen.get((r.partner_id, r.participant_id), none) if sharing is None or r.partner_id in sharing else unshared
        rows.append([r.participant_id, r.partner_id, r.setting, r.active, r.consent, a["present"], a["excused"],
                     a["unexcused"], a["rate"], a["in_a_row"], r.erased])
    return TableData("Enrolments (pseudonymous): one row per person and partner",
                     ["participant_id", "partner_id", "setting", "active", "consent", "sessions_attended", "absent_excused",
                      "absent_unexcused", "attendance_rate", "unexcused_in_a_row", "details_erased"], rows, total)


def missed_sessions(conn: Connection, programme_id: str, f: Filters, limit: int | None = None) -> TableData:
    from pathways_reporting.journey_figures import MISSED_IN_A_ROW, missed_in_a_row

    found = missed_in_a_row(conn, programme_id, f)
    reader = f.reader("attendance")
    if reader is not None and found:  # only people the reader may read: consent, and agreements
        readable = DIRECTORY.readable_among(conn, programme_id, reader, [(m["partner_id"], m["participant_id"]) for m in found])
        found = [m for m in found if (m["partner_id"], m["participant_id"]) in readable]
    rows = [[m["participant_id"], m["partner_id"], m["unexcused_in_a_row"], m["last_recorded_on"], m["attendance_rate"]]
            for m in found]
    return TableData(f"Missed {MISSED_IN_A_ROW} or more sessions in a row without a reason",
                     ["participant_id", "partner_id", "unexcused_in_a_row", "last_recorded_on", "attendance_rate"],
                     rows[:limit] if limit is not None else rows, len(rows))


def contracts(conn: Connection, programme_id: str, f: Filters, limit: int | None = None) -> TableData:
    commissioned = {k.contract_id: k for k in DIRECTORY.contracts(conn, programme_id, f.partner_id)}
    rows = [[c["contract_id"], c["partner_id"], ", ".join(commissioned[c["contract_id"]].activities),
             commissioned[c["contract_id"]].starts_on.isoformat(), commissioned[c["contract_id"]].ends_on.isoformat(),
             pounds(c["budget_pence"]), pounds(c["spent_pence"]), pounds(c["remaining_pence"])]
            for c in figures.spend(conn, programme_id, 0, f)["contracts"]]  # a handful: never more than a page
    return TableData("Contracts: spend against budget", ["contract_id", "partner_id", "activities", "starts_on", "ends_on",
                                                         "budget_gbp", "spent_gbp", "remaining_gbp"], rows, len(rows))


def claims(conn: Connection, programme_id: str, f: Filters, limit: int | None = None) -> TableData:
    s = SPEND
    where = [s.c.programme_id == programme_id, *f.dated(s.c.on), *_partner(s.c.partner_id, f)]
    found, total = _fetch(conn, select(s).where(*where).order_by(s.c.on, s.c.kind, s.c.item_id), limit)
    rows = [[r.on.isoformat(), r.kind, r.item_id, r.contract_id, r.partner_id, r.co_producer_id, pounds(r.amount_pence), r.status]
            for r in found]
    columns = ["date", "kind", "item_id", "contract_id", "partner_id", "co_producer_id", "amount_gbp", "status"]
    return TableData("Claims, involvement and invoices", columns, rows, total)


def co_producer_payments(conn: Connection, programme_id: str, f: Filters, limit: int | None = None) -> TableData:
    p = CO_PRODUCER_PAYMENTS
    found, total = _fetch(conn, select(p).where(p.c.programme_id == programme_id, *f.dated(p.c.on), *_partner(p.c.partner_id, f))
                          .order_by(p.c.run_id, p.c.on, p.c.item_id), limit)
    rows = [[r.run_id, r.on.isoformat(), r.co_producer_id, r.partner_id, r.item_id, pounds(r.amount_pence)] for r in found]
    return TableData("Co-producer payments", ["run_id", "date", "co_producer_id", "partner_id", "item_id", "amount_gbp"], rows,
                     total)


def outcomes(conn: Connection, programme_id: str, f: Filters, limit: int | None = None) -> TableData:
    o = OUTCOMES
    chosen = [o.c.programme_id == programme_id, *f.dated(o.c.measured_on), *_partner(o.c.partner_id, f)]
    # Over a period, the total checks each of the period's measurements (found by day) for consent;
    # over the whole programme, it joins them to the people who consent (Directory.count_readable):
    # a quarter's total on 1 M events in 4 ms against 16 the other way, the whole's in 12 against 32.
    dated = f.date_from is not None or f.date_to is not None
    found, total = _fetch(conn, select(o).where(*chosen, *_readable(conn, programme_id, o, f, "outcomes"))
                          .order_by(o.c.participant_id, o.c.measured_on, o.c.measurement_id), limit,
                          None if dated else lambda: _readable_count(conn, programme_id, o, f, "outcomes", chosen))
    rows = [[r.measured_on.isoformat(), r.participant_id, r.partner_id, r.instrument, r.timepoint, r.raw_score,
             Decimal(r.metric_hundredths) / 100] for r in found]
    return TableData("Wellbeing measurements", ["measured_on", "participant_id", "partner_id", "instrument", "timepoint",
                                                "raw_score", "metric_score"], rows, total)


def _readable(conn: Connection, programme_id: str, rows: Any, f: Filters, data: str) -> list[Any]:
    """Only people the reader may read now: who consent to its purpose (their enrolment with
    the partner whose row it is), of partners whose agreements with it cover `data`."""
    reader = f.reader(data)
    if reader is None:
        return []
    consenting = DIRECTORY.consents_to(reader.purpose, rows.c.programme_id, rows.c.partner_id, rows.c.participant_id)
    return [*DIRECTORY.sharing_condition(conn, programme_id, reader, rows.c.partner_id), consenting]


def _readable_count(conn: Connection, programme_id: str, rows: Any, f: Filters, data: str, chosen: list[Any]) -> int:
    """How many of the `chosen` rows `_readable` lets through."""
    reader = f.reader(data)
    if reader is None:
        return int(conn.execute(select(func.count()).select_from(rows).where(*chosen)).scalar() or 0)
    return DIRECTORY.count_readable(conn, programme_id, reader, rows, chosen)


def co_production(conn: Connection, programme_id: str, f: Filters, limit: int | None = None) -> TableData:
    c = CO_PRODUCTION
    found, total = _fetch(conn, select(c).where(c.c.programme_id == programme_id, *f.dated(c.c.assessed_on),
                                                *_partner(c.c.partner_id, f)).order_by(c.c.assessed_on, c.c.assessment_id), limit)
    rows = [[r.assessed_on.isoformat(), r.assessment_id, r.partner_id, r.level, r.ladder_rung, r.tokenism_flags] for r in found]
    return TableData("Co-production assessments", ["assessed_on", "assessment_id", "partner_id", "level", "ladder_rung",
                                                   "tokenism_flags"], rows, total)


def you_said_we_did(conn: Connection, programme_id: str, f: Filters, limit: int | None = None) -> TableData:
    d = DEVELOPMENTS
    found, total = _fetch(conn, select(d).where(d.c.programme_id == programme_id, *_partner(d.c.proposed_by, f))
                          .order_by(d.c.proposed_by, d.c.development_id), limit)
    rows = [[r.development_id, r.proposed_by, r.you_said, r.we_will, r.status, r.we_did] for r in found]
    return TableData("You said, we did", ["development_id", "partner_id", "you_said", "we_will", "status", "we_did"], rows, total)


def organisation_names(conn: Connection) -> dict[str, str]:
    """Every organisation's name by id (a few dozen rows): what people read beside the ids."""
    o = ORGANISATIONS
    return {r.organisation_id: r.name for r in conn.execute(select(o.c.organisation_id, o.c.name))}


def with_names(conn: Connection, data: TableData, names: dict[str, str] | None = None) -> TableData:
    """The organisation's name beside each partner id: people read names, systems keep ids.
    `names`: organisation_names already read (a page of many tables reads them once)."""
    if "partner_id" not in data.columns:
        return data
    at = data.columns.index("partner_id") + 1
    names = names if names is not None else organisation_names(conn)
    rows = [[*row[:at], names.get(str(row[at - 1]), ""), *row[at:]] for row in data.rows]
    return TableData(data.title, [*data.columns[:at], "partner", *data.columns[at:]], rows, data.total)


class TableQuery(Protocol):
    def __call__(self, conn: Connection, programme_id: str, f: Filters, limit: int | None = None) -> TableData: ...


TABLES: dict[str, TableQuery] = {
    "sessions": session_log,
    "participants": participants,
    "missed-sessions": missed_sessions,
    "contracts": contracts,
    "claims": claims,
    "co-producer-payments": co_producer_payments,
    "outcomes": outcomes,
    "co-production": co_production,
    "you-said-we-did": you_said_we_did,
}
