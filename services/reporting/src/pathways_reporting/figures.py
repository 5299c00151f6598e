"""The headline figures of a programme, and of one partner within it, read from the
reporting read model's summaries (answers.py), never from its rows of facts: a page costs
the same with a million facts as with a thousand. Pure queries: the API, the dashboard and
the exports all call these, so every view of a figure is the same figure.

Every figure honours the period (`from`, `to`) and the partner and activity filters, as
DEFINITIONS says; the page shows those definitions beside the figures."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pathways.policy.directory import Reader
from sqlalchemy import Connection, Select, and_, case, func, select, tuple_, union, union_all

from pathways_reporting import answers as a
from pathways_reporting.period import Period
from pathways_reporting.readmodel import CO_PRODUCTION, DEVELOPMENTS, DIRECTORY

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
    # Who reads people's own records here, and for what (pathways.policy.scope.Scope.reader):
    # a table of them then holds only those the reader may read now. None, or a reader that
    # answers None: a partner reading its own, an auditor or the operator under the law.
    readers: Callable[[str], Reader | None] | None = None

    def reader(self, data: str) -> Reader | None:
        return self.readers(data) if self.readers is not None else None

    def dated(self, column: Any) -> list[Any]:
        return [c for c in (column >= self.date_from if self.date_from else None,
                            column <= self.date_to if self.date_to else None) if c is not None]

    def by_end(self, column: Any) -> list[Any]:
        """On or before the period's last day."""
        return [column <= self.date_to] if self.date_to else []

    @property
    def period(self) -> Period:
        return Period.of(self.date_from, self.date_to)


# What each figure counts in a period and under the filters (shown on the page).
DEFINITIONS = {
    "participants": "People enrolled on or before the period's last day, each counted once however many partners "
                    "enrol them. With an activity chosen: people who attended a session of it in the period.",
    "enrolments": "Enrolments made in the period (one person enrolled by two partners is two enrolments).",
    "active": "Enrolments made by the period's last day and not withdrawn or completed by then.",
    "by_setting": "Enrolments made by the period's last day, by the setting (ward or community) at enrolment.",
    "attended": "People who attended at least one session in the period.",
    "sessions": "Sessions delivered in the period (by the day delivered); cancelled: sessions planned for a day in "
                "the period and cancelled.",
    "attendance_rate": "Attendances at sessions delivered in the period, per place they offered.",
    "spend": "Involvement recorded, expenses approved and invoices submitted or paid, dated in the period. With an "
             "activity chosen: the contracts commissioned for it.",
    "outcomes": "Each person's first baseline paired with their latest follow-up in the period (both in the period), "
                "with the same partner. With an activity chosen: people who came to a session of it with that partner by "
                "the end of the period's last month.",
    "co_production": "Each partner's latest assessment in the period. With an activity chosen: partners commissioned "
                     "for it.",
    "you_said_we_did": "Items proposed in the period, by their status now. With an activity chosen: items of partners "
                       "commissioned for it.",
}


def programme_summary(conn: Connection, programme_id: str, f: Filters = Filters()) -> dict[str, Any] | None:
    from pathways_reporting.journey_figures import journey  # it builds on this module's filters

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
        "journey": journey(conn, programme_id, f),
    }


def participants(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    e, w, pp = a.ENROLMENT_DAYS, a.WITHDRAWAL_DAYS, a.PARTNER_PEOPLE
    in_period = case((and_(*f.dated(e.c.day)), e.c.enrolled), else_=0) if f.date_from or f.date_to else e.c.enrolled
    by_setting: dict[str, int] = defaultdict(int)
    made = enrolments = 0
    for setting, enrolled, in_it in conn.execute(  # one read, in the key's order
            select(e.c.setting, func.sum(e.c.enrolled), func.sum(in_period))
            .where(e.c.programme_id == programme_id, *_partner(e.c.partner_id, f), *f.by_end(e.c.day))
            .group_by(e.c.partner_id, e.c.setting)):
        by_setting[setting] += int(enrolled)
        enrolments += int(enrolled)
        made += int(in_it)
    by_partner = {p: int(n) for p, n in conn.execute(  # people, not enrolments: enrolled again is still one person
        select(pp.c.partner_id, func.count()).where(pp.c.programme_id == programme_id, *_partner(pp.c.partner_id, f),
                                                    *f.by_end(pp.c.first_enrolled_on)).group_by(pp.c.partner_id))}
    withdrawn = conn.execute(select(func.coalesce(func.sum(w.c.withdrawn), 0)).where(
        w.c.programme_id == programme_id, *_partner(w.c.partner_id, f), *f.by_end(w.c.day))).scalar()
    attended = _attended(conn, programme_id, f)
    if f.activity:
        unique = attended
    elif f.partner_id:
        unique = sum(by_partner.values())
    else:
        people = a.PEOPLE
        unique = int(conn.execute(select(func.count()).select_from(people).where(
            people.c.programme_id == programme_id, *f.by_end(people.c.first_enrolled_on))).scalar() or 0)
    return {
        "unique": int(unique),
        "active": enrolments - int(withdrawn or 0),
        "enrolments": made,
        "by_partner": dict(sorted(by_partner.items())),
        "by_setting": dict(sorted(by_setting.items())),
        "attended_at_least_once": attended,
    }


def _attended(conn: Connection, programme_id: str, f: Filters) -> int:
    """People who came in the period: whole months from the year rows, part-months from
    the month rows, each person once (UNION)."""
    found = []
    for t, condition in ((a.ATTENDED_YEARS, f.period.year_condition(a.ATTENDED_YEARS.c.year, a.ATTENDED_YEARS.c.months)),
                         (a.ATTENDED, f.period.part_bits_condition(a.ATTENDED.c.month, a.ATTENDED.c.days))):
        if condition is not None:
            found.append(select(t.c.participant_id).where(
                t.c.programme_id == programme_id, condition, *_partner(t.c.partner_id, f), *_activity(t.c.activity, f)))
    if not found:
        return 0
    people = (union(*found) if len(found) > 1 else found[0].distinct()).subquery()
    return int(conn.execute(select(func.count()).select_from(people)).scalar() or 0)


def _in_period(f: Filters, whole: Select[Any], month: Any, part: Select[Any], day: Any) -> Select[Any] | None:
    """The period's rows of a summary kept by month and by day: whole months from one table,
    part-months from the other."""
    months, days = f.period.month_condition(month), f.period.day_condition(day)
    found = [q.where(c) for q, c in ((whole, months), (part, days)) if c is not None]
    if not found:
        return None
    return found[0] if len(found) == 1 else union_all(*found)  # type: ignore[return-value]


def sessions(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    def of(t: Any) -> Select[Any]:
        return select(t.c.partner_id, t.c.activity, t.c.site, t.c.month, t.c.status,
                      *(t.c[c] for c in a.SESSION_COUNTS)).where(
            t.c.programme_id == programme_id, *_partner(t.c.partner_id, f), *_activity(t.c.activity, f))

    m, d = a.SESSION_MONTHS, a.SESSION_DAYS
    query = _in_period(f, of(m), m.c.month, of(d), d.c.day)
    found = conn.execute(query).all() if query is not None else []
    by: dict[str, dict[str, int]] = {"partner": defaultdict(int), "activity": defaultdict(int), "site": defaultdict(int),
                                     "month": defaultdict(int)}
    monthly: dict[str, dict[str, dict[str, int]]] = {"partner": {}, "activity": {}}  # for the stacked chart
    count = places = attendances = minutes = cancelled = 0
    for partner, activity, site, month, status, n, capacity, attendance, duration in found:
        if status == "cancelled":
            cancelled += n
        if status != "delivered":
            continue
        count, places, attendances, minutes = count + n, places + capacity, attendances + attendance, minutes + duration
        for key, value in (("partner", partner), ("activity", activity), ("site", site), ("month", month)):
            by[key][value] += n
        for key, value in (("partner", partner), ("activity", activity)):
            series = monthly[key].setdefault(value, {})
            series[month] = series.get(month, 0) + n
    return {
        "delivered": count,
        "cancelled": cancelled,
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


def has_records(conn: Connection, programme_id: str, partner_id: str | None = None) -> bool:
    """Has anyone been enrolled or any session planned (by this partner), whenever: a page
    with nothing yet says so, where a period that holds nothing shows its zeros."""
    e, s = a.ENROLMENT_DAYS, a.SESSION_MONTHS
    for t in (e, s):
        found = conn.execute(select(t.c.programme_id).where(
            t.c.programme_id == programme_id, *([t.c.partner_id == partner_id] if partner_id else [])).limit(1)).first()
        if found is not None:
            return True
    return False


def session_count(conn: Connection, programme_id: str, f: Filters) -> int:
    """Sessions listed in the period (delivered on, else planned for, a day in it), any status."""
    def of(t: Any) -> Select[Any]:
        return select(t.c.sessions).where(t.c.programme_id == programme_id, *_partner(t.c.partner_id, f),
                                          *_activity(t.c.activity, f))

    m, d = a.SESSION_MONTHS, a.SESSION_DAYS
    query = _in_period(f, of(m), m.c.month, of(d), d.c.day)
    if query is None:
        return 0
    return int(conn.execute(select(func.coalesce(func.sum(query.subquery().c.sessions), 0))).scalar() or 0)


def spend(conn: Connection, programme_id: str, budget_pence: int, f: Filters) -> dict[str, Any]:
    commissioned = [k for k in DIRECTORY.contracts(conn, programme_id, f.partner_id)
                    if not f.activity or f.activity in k.activities]
    chosen = {k.contract_id for k in commissioned}

    def of(t: Any) -> Select[Any]:
        return select(t.c.contract_id, t.c.kind, t.c.amount_pence).where(
            t.c.programme_id == programme_id, t.c.status.in_(SPEND_STATUSES), *_partner(t.c.partner_id, f))

    m, d = a.SPEND_MONTHS, a.SPEND_DAYS
    query = _in_period(f, of(m), m.c.month, of(d), d.c.on)
    spent: dict[str, int] = defaultdict(int)
    by_kind: dict[str, int] = defaultdict(int)
    for contract_id, kind, amount in conn.execute(query) if query is not None else []:
        if contract_id in chosen:
            spent[contract_id] += int(amount)
            by_kind[kind] += int(amount)
    contracts = [
        {"contract_id": k.contract_id, "partner_id": k.partner_id, "budget_pence": k.budget_pence,
         "spent_pence": spent[k.contract_id], "remaining_pence": k.budget_pence - spent[k.contract_id]}
        for k in commissioned
    ]
    p = a.PAYMENT_DAYS
    partners = _partners_for(conn, programme_id, f)
    paid = conn.execute(select(func.coalesce(func.sum(p.c.amount_pence), 0)).where(
        p.c.programme_id == programme_id, *f.dated(p.c.on), *_partner(p.c.partner_id, f),
        *([p.c.partner_id.in_(partners)] if partners is not None else []))).scalar()
    return {
        "programme_budget_pence": budget_pence,
        "spent_pence": sum(c["spent_pence"] for c in contracts),
        "by_kind_pence": dict(sorted(by_kind.items())),
        "contracts": contracts,
        "co_producers_paid_pence": int(paid or 0),
    }


def outcome_change(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    """Per instrument: each person's first baseline paired with their latest follow-up in the
    period (with the same partner), mean before and after, and a paired t-test, from sums."""
    p, b = a.PAIRS, a.BASELINE_DAYS
    where = [p.c.programme_id == programme_id, *_partner(p.c.partner_id, f), *f.dated(p.c.follow_up_on)]
    where += [p.c.baseline_on >= f.date_from] if f.date_from else []
    nxt = p.c.next_follow_up_on
    where += [(nxt.is_(None)) | (nxt > f.date_to)] if f.date_to else [nxt.is_(None)]
    if f.activity:
        where.append(came_to_activity(programme_id, f, p.c.partner_id, p.c.participant_id))
    change = p.c.follow_up - p.c.baseline
    sums = {r[0]: r[1:] for r in conn.execute(
        select(p.c.instrument, func.count(), func.sum(p.c.baseline), func.sum(p.c.follow_up), func.sum(change),
               func.sum(change * change)).where(*where).group_by(p.c.instrument))}
    baselines: dict[str, int] = defaultdict(int)
    for instrument, n in conn.execute(select(b.c.instrument, func.sum(b.c.baselines)).where(  # in the key's order
            b.c.programme_id == programme_id, *_partner(b.c.partner_id, f), *f.dated(b.c.day))
            .group_by(b.c.partner_id, b.c.instrument)):
        baselines[instrument] += int(n)
    out: dict[str, Any] = {}
    for instrument in ("WEMWBS", "SWEMWBS"):
        n, before, after, diff, square = sums.get(instrument, (0, 0, 0, 0, 0))
        out[instrument] = change_from_sums(int(n), int(before or 0), int(after or 0), int(diff or 0), int(square or 0)) | {
            "baselines": int(baselines.get(instrument) or 0)}
    return out


def came_to_activity(programme_id: str, f: Filters, partner_id: Any, participant_id: Any) -> Any:
    """A condition on rows of people: the person first came to a session of the chosen
    activity with the row's partner by the end of the period's last month (the grain the
    summary keeps). A change measured with one partner is not put down to an activity the
    person came to with another, or only after the period."""
    t = a.ACTIVITY_PEOPLE
    return tuple_(partner_id, participant_id).in_(select(t.c.partner_id, t.c.participant_id).where(
        t.c.programme_id == programme_id, t.c.activity == f.activity, *_partner(t.c.partner_id, f),
        *([t.c.first_month <= f"{f.date_to:%Y-%m}"] if f.date_to else [])))


def change_from_sums(n: int, before: int, after: int, diff: int, square: int) -> dict[str, Any]:
    """A paired t-test from the pairs' sums, in hundredths (exact integers): what
    scipy.stats.ttest_rel gives for the pairs themselves."""
    if n == 0:
        return {"pairs": 0, "indicative": True}
    mean_change = diff / n / 100
    result: dict[str, Any] = {
        "pairs": n,
        "mean_baseline": round(before / n / 100, 2),
        "mean_follow_up": round(after / n / 100, 2),
        "mean_change": round(mean_change, 2),
        "indicative": n < INDICATIVE_BELOW_PAIRS,
        "t": None, "p_value": None,
    }
    spread = n * square - diff * diff  # n(n-1) times the variance of the changes, in hundredths squared
    if n >= 2 and spread > 0:
        from scipy import stats  # here, not at the top: it takes seconds to import, and only this needs it

        t = mean_change / (math.sqrt(spread / (n * (n - 1))) / 100 / math.sqrt(n))
        result["t"] = round(t, 3)
        result["p_value"] = round(float(2 * stats.t.sf(abs(t), n - 1)), 4)
    elif n >= 2:  # every change the same: no spread to test against
        result["t"] = math.copysign(math.inf, result["mean_change"]) if result["mean_change"] else None
    return result


def co_production(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    """Each partner's latest assessment: its maturity level, ladder rung and tokenism flags."""
    c = CO_PRODUCTION  # a few rows a quarter per partner: already the answer's grain
    partners = _partners_for(conn, programme_id, f)
    where = [c.c.programme_id == programme_id, *f.dated(c.c.assessed_on), *_partner(c.c.partner_id, f)]
    where += [c.c.partner_id.in_(partners)] if partners is not None else []
    latest: dict[str, Any] = {}
    for r in conn.execute(select(c).where(*where).order_by(c.c.assessed_on, c.c.assessment_id)):
        latest[r.partner_id] = {"assessed_on": r.assessed_on.isoformat(), "level": r.level, "ladder_rung": r.ladder_rung,
                                "tokenism_flags": r.tokenism_flags}
    return dict(sorted(latest.items()))


def developments(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    d = DEVELOPMENTS  # one row per tracker item: already the answer's grain
    partners = _partners_for(conn, programme_id, f)
    where = [d.c.programme_id == programme_id, *_partner(d.c.proposed_by, f), *f.dated(d.c.proposed_on)]
    where += [d.c.proposed_by.in_(partners)] if partners is not None else []
    items = [dict(r._mapping) for r in conn.execute(select(d).where(*where).order_by(d.c.development_id))]
    counts = {status: sum(1 for i in items if i["status"] == status) for status in ("red", "amber", "green")}
    return {"counts": counts, "items": items}


def _partner(column: Any, f: Filters) -> list[Any]:
    return [column == f.partner_id] if f.partner_id else []


def _activity(column: Any, f: Filters) -> list[Any]:
    return [column == f.activity] if f.activity else []


def _partners_for(conn: Connection, programme_id: str, f: Filters) -> set[str] | None:
    """With an activity chosen, the partners commissioned for it; None: every partner."""
    if not f.activity:
        return None
    return {k.partner_id for k in DIRECTORY.contracts(conn, programme_id, f.partner_id) if f.activity in k.activities}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
