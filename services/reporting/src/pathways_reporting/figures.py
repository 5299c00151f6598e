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

from scipy import stats
from sqlalchemy import Connection, func, select

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
    """Unique people programme-wide: one participant enrolled with two partners counts once."""
    t = DIRECTORY.enrolments_table
    where = [t.c.programme_id == programme_id] + ([t.c.partner_id == f.partner_id] if f.partner_id else [])
    rows = conn.execute(select(t.c.participant_id, t.c.partner_id, t.c.setting, t.c.active).where(*where)).all()
    by_partner: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_partner[r.partner_id].add(r.participant_id)
    unique = {r.participant_id for r in rows}
    settings: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        settings[r.setting].add(r.participant_id)
    a = ATTENDANCE
    attended = conn.execute(
        select(func.count(func.distinct(a.c.participant_id))).where(*_attendance_where(programme_id, f))).scalar()
    return {
        "unique": len(unique),
        "active": len({r.participant_id for r in rows if r.active}),
        "enrolments": len(rows),
        "by_partner": {p: len(ids) for p, ids in sorted(by_partner.items())},
        "by_setting": {s: len(ids) for s, ids in sorted(settings.items())},
        "attended_at_least_once": int(attended or 0),
    }


def sessions(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    s = SESSIONS
    where = [s.c.programme_id == programme_id, *f.dated(s.c.delivered_on)]
    where += [s.c.partner_id == f.partner_id] if f.partner_id else []
    where += [s.c.activity == f.activity] if f.activity else []
    delivered = conn.execute(select(s).where(*where, s.c.status == "delivered")).all()
    cancelled = conn.execute(select(func.count()).select_from(s).where(
        s.c.programme_id == programme_id, s.c.status == "cancelled",
        *([s.c.partner_id == f.partner_id] if f.partner_id else []),
        *([s.c.activity == f.activity] if f.activity else []))).scalar()
    places = sum(r.capacity for r in delivered)
    attendances = sum(r.attendance for r in delivered)
    by: dict[str, dict[str, int]] = {"partner": defaultdict(int), "activity": defaultdict(int), "site": defaultdict(int)}
    by_month: dict[str, int] = defaultdict(int)
    for r in delivered:
        by["partner"][r.partner_id] += 1
        by["activity"][r.activity] += 1
        by["site"][r.site] += 1
        by_month[r.delivered_on.strftime("%Y-%m")] += 1
    return {
        "delivered": len(delivered),
        "cancelled": int(cancelled or 0),
        "attendances": attendances,
        "hours_delivered": round(sum(r.duration_minutes for r in delivered) / 60, 1),
        "attendance_rate": round(attendances / places, 3) if places else None,  # attendances per place offered
        "by_partner": dict(sorted(by["partner"].items())),
        "by_activity": dict(sorted(by["activity"].items())),
        "by_site": dict(sorted(by["site"].items())),
        "by_month": dict(sorted(by_month.items())),
    }


def spend(conn: Connection, programme_id: str, budget_pence: int, f: Filters) -> dict[str, Any]:
    t = SPEND
    where = [t.c.programme_id == programme_id, t.c.status.in_(SPEND_STATUSES), *f.dated(t.c.on)]
    where += [t.c.partner_id == f.partner_id] if f.partner_id else []
    spent: dict[str, int] = defaultdict(int)
    by_kind: dict[str, int] = defaultdict(int)
    for r in conn.execute(select(t.c.contract_id, t.c.kind, t.c.amount_pence).where(*where)):
        spent[r.contract_id] += r.amount_pence
        by_kind[r.kind] += r.amount_pence
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
    for r in conn.execute(select(o).where(*where)):
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
