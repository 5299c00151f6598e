"""The headline figures of a programme, and of one partner within it, computed from the
reporting read model. Pure queries: the API, the dashboard and the exports all call
these, so every view of a figure is the same figure."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, case, func, select

from pathways_reporting.readmodel import (
    ATTENDANCE,
    CO_PRODUCER_PAYMENTS,
    CO_PRODUCTION,
    DEVELOPMENTS,
    DIRECTORY,
    OUTCOMES,
    SESSIONS,
    SPEND,
)

# Below this many pairs a change in wellbeing is reported but flagged as indicative only.
INDICATIVE_BELOW_PAIRS = 30
SPEND_STATUSES = ("recorded", "approved", "submitted", "paid")  # claimed or rejected expenses are not spend


@dataclass(frozen=True)
class Filters:
    """What a dashboard user narrows the figures to."""

    date_from: date | None = None
    date_to: date | None = None
    partner_id: str | None = None
    activity: str | None = None

    def dated(self, column: Any) -> list[Any]:
        return [c for c in (column >= self.date_from if self.date_from else None,
                            column <= self.date_to if self.date_to else None) if c is not None]


def programme_summary(conn: Connection, programme_id: str, f: Filters = Filters()) -> dict[str, Any] | None:
    programme = DIRECTORY.programme(conn, programme_id)
    if programme is None:
        return None
    return {
        "programme_id": programme_id,
        "commissioner_id": programme.commissioner_id,
        "starts_on": programme.starts_on.isoformat(),
        "ends_on": programme.ends_on.isoformat(),
        "filters": {"date_from": _iso(f.date_from), "date_to": _iso(f.date_to), "partner_id": f.partner_id,
                    "activity": f.activity},
        "participants": participants(conn, programme_id, f),
        "sessions": sessions(conn, programme_id, f),
        "spend": spend(conn, programme_id, programme.budget_pence, f),
        "outcomes": outcome_change(conn, programme_id, f),
        "co_production": co_production(conn, programme_id, f),
        "you_said_we_did": developments(conn, programme_id, f),
    }


def participants(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    """Unique people programme-wide: one participant enrolled with two partners counts once.
    Counted by the database (never row by row here): a programme may hold a million facts."""
    t = DIRECTORY.enrolments_table
    where = [t.c.programme_id == programme_id] + ([t.c.partner_id == f.partner_id] if f.partner_id else [])
    people = func.count(func.distinct(t.c.participant_id))
    unique, active, enrolments = conn.execute(select(
        people, func.count(func.distinct(case((t.c.active, t.c.participant_id)))), func.count()).where(*where)).one()
    by_partner = conn.execute(select(t.c.partner_id, people).where(*where).group_by(t.c.partner_id)).all()
    by_setting = conn.execute(select(t.c.setting, people).where(*where).group_by(t.c.setting)).all()
    a = ATTENDANCE
    attended = conn.execute(
        select(func.count(func.distinct(a.c.participant_id))).where(*_attendance_where(programme_id, f))).scalar()
    return {
        "unique": int(unique),
        "active": int(active),
        "enrolments": int(enrolments),
        "by_partner": {p: int(n) for p, n in sorted(by_partner)},
        "by_setting": {k: int(n) for k, n in sorted(by_setting)},
        "attended_at_least_once": int(attended or 0),
    }


def sessions(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    s = SESSIONS
    narrow = [s.c.programme_id == programme_id, *([s.c.partner_id == f.partner_id] if f.partner_id else []),
              *([s.c.activity == f.activity] if f.activity else [])]
    groups = (s.c.partner_id, s.c.activity, s.c.site, s.c.delivered_month)
    delivered = conn.execute(
        select(*groups, func.count(), func.sum(s.c.capacity), func.sum(s.c.attendance), func.sum(s.c.duration_minutes))
        .where(*narrow, s.c.status == "delivered", *f.dated(s.c.delivered_on)).group_by(*groups)).all()
    cancelled = conn.execute(select(func.count()).select_from(s).where(*narrow, s.c.status == "cancelled")).scalar()
    by: dict[str, dict[str, int]] = {"partner": defaultdict(int), "activity": defaultdict(int), "site": defaultdict(int),
                                     "month": defaultdict(int)}
    monthly: dict[str, dict[str, dict[str, int]]] = {"partner": {}, "activity": {}}  # for the stacked chart
    count = places = attendances = minutes = 0
    for partner, activity, site, month, n, capacity, attendance, duration in delivered:
        count, places, attendances, minutes = count + n, places + capacity, attendances + attendance, minutes + duration
        for key, value in (("partner", partner), ("activity", activity), ("site", site), ("month", month)):
            by[key][value] += n
        for key, value in (("partner", partner), ("activity", activity)):
            series = monthly[key].setdefault(value, {})
            series[month] = series.get(month, 0) + n
    return {
        "delivered": count,
        "cancelled": int(cancelled or 0),
        "attendances": int(attendances),
        "hours_delivered": round(minutes / 60, 1),
        "attendance_rate": round(attendances / places, 3) if places else None,  # attendances per place offered
        "by_partner": dict(sorted(by["partner"].items())),
        "by_activity": dict(sorted(by["activity"].items())),
        "by_site": dict(sorted(by["site"].items())),
        "by_month": dict(sorted(by["month"].items())),
        "by_month_and_partner": dict(sorted(monthly["partner"].items())),
        "by_month_and_activity": dict(sorted(monthly["activity"].items())),
    }


def spend(conn: Connection, programme_id: str, budget_pence: int, f: Filters) -> dict[str, Any]:
    t = SPEND
    where = [t.c.programme_id == programme_id, t.c.status.in_(SPEND_STATUSES), *f.dated(t.c.on)]
    where += [t.c.partner_id == f.partner_id] if f.partner_id else []
    spent: dict[str, int] = defaultdict(int)
    by_kind: dict[str, int] = defaultdict(int)
    for contract_id, kind, amount in conn.execute(
            select(t.c.contract_id, t.c.kind, func.sum(t.c.amount_pence)).where(*where).group_by(t.c.contract_id, t.c.kind)):
        spent[contract_id] += int(amount)
        by_kind[kind] += int(amount)
    contracts = [
        {"contract_id": k.contract_id, "partner_id": k.partner_id, "budget_pence": k.budget_pence,
         "spent_pence": spent[k.contract_id], "remaining_pence": k.budget_pence - spent[k.contract_id]}
        for k in DIRECTORY.contracts(conn, programme_id, f.partner_id)
    ]
    p = CO_PRODUCER_PAYMENTS
    paid = conn.execute(select(func.coalesce(func.sum(p.c.amount_pence), 0)).where(
        p.c.programme_id == programme_id, *f.dated(p.c.on),
        *([p.c.partner_id == f.partner_id] if f.partner_id else []))).scalar()
    return {
        "programme_budget_pence": budget_pence,
        "spent_pence": sum(c["spent_pence"] for c in contracts),
        "by_kind_pence": dict(sorted(by_kind.items())),
        "contracts": contracts,
        "co_producers_paid_pence": int(paid or 0),
    }


def outcome_change(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    """Per instrument: each participant's baseline paired with their latest follow-up (with
    the same partner), mean before and after, and a paired t-test."""
    o = OUTCOMES
    where = [o.c.programme_id == programme_id, *f.dated(o.c.measured_on)]
    where += [o.c.partner_id == f.partner_id] if f.partner_id else []
    baseline: dict[tuple[str, str, str], float] = {}
    follow_up: dict[tuple[str, str, str], tuple[date, float]] = {}
    columns = (o.c.instrument, o.c.partner_id, o.c.participant_id, o.c.timepoint, o.c.measured_on, o.c.metric_hundredths)
    for r in conn.execute(select(*columns).where(*where)):
        key = (r.instrument, r.partner_id, r.participant_id)
        score = r.metric_hundredths / 100
        if r.timepoint == "baseline":
            baseline[key] = score
        elif key not in follow_up or r.measured_on >= follow_up[key][0]:
            follow_up[key] = (r.measured_on, score)
    out: dict[str, Any] = {}
    for instrument in ("WEMWBS", "SWEMWBS"):
        pairs = [(baseline[k], follow_up[k][1]) for k in baseline if k[0] == instrument and k in follow_up]
        out[instrument] = paired_change(pairs) | {
            "baselines": sum(1 for k in baseline if k[0] == instrument)}
    return out


def paired_change(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    n = len(pairs)
    if n == 0:
        return {"pairs": 0, "indicative": True}
    before = [b for b, _ in pairs]
    after = [a for _, a in pairs]
    diffs = [a - b for b, a in pairs]
    result: dict[str, Any] = {
        "pairs": n,
        "mean_baseline": round(statistics.fmean(before), 2),
        "mean_follow_up": round(statistics.fmean(after), 2),
        "mean_change": round(statistics.fmean(diffs), 2),
        "indicative": n < INDICATIVE_BELOW_PAIRS,
        "t": None, "p_value": None,
    }
    if n >= 2 and statistics.stdev(diffs) > 0:
        from scipy import stats  # here, not at the top: it takes seconds to import, and only this needs it

        test = stats.ttest_rel(after, before)
        result["t"] = round(float(test.statistic), 3)
        result["p_value"] = round(float(test.pvalue), 4)
    elif n >= 2:  # every change the same: no spread to test against
        result["t"] = math.copysign(math.inf, result["mean_change"]) if result["mean_change"] else None
    return result


def co_production(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    """Each partner's latest assessment: its maturity level, ladder rung and tokenism flags."""
    c = CO_PRODUCTION
    where = [c.c.programme_id == programme_id, *f.dated(c.c.assessed_on)]
    where += [c.c.partner_id == f.partner_id] if f.partner_id else []
    latest: dict[str, Any] = {}
    for r in conn.execute(select(c).where(*where).order_by(c.c.assessed_on, c.c.assessment_id)):
        latest[r.partner_id] = {"assessed_on": r.assessed_on.isoformat(), "level": r.level, "ladder_rung": r.ladder_rung,
                                "tokenism_flags": r.tokenism_flags}
    return dict(sorted(latest.items()))


def developments(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    d = DEVELOPMENTS
    where = [d.c.programme_id == programme_id] + ([d.c.proposed_by == f.partner_id] if f.partner_id else [])
    items = [dict(r._mapping) for r in conn.execute(select(d).where(*where).order_by(d.c.development_id))]
    counts = {status: sum(1 for i in items if i["status"] == status) for status in ("red", "amber", "green")}
    return {"counts": counts, "items": items}


def _attendance_where(programme_id: str, f: Filters) -> list[Any]:
    a = ATTENDANCE
    where = [a.c.programme_id == programme_id, *f.dated(a.c.attended_on)]
    where += [a.c.partner_id == f.partner_id] if f.partner_id else []
    where += [a.c.activity == f.activity] if f.activity else []
    return where


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
