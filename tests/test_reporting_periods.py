"""Every headline figure honours `from`, `to`, `partner` and `activity` (issue 13, part 5),
and reads summaries only.

The oracle is a plain replay of the events in Python, figure by figure as
figures.DEFINITIONS words it, with no read model at all. The read model is the bench's
synthetic programme (two years, ten partners, cancellations, withdrawals, rejected claims,
follow-ups) applied in batches as the live runner does, so the summaries are the
incrementally kept ones; a rebuild must give the same rows."""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pathways.core.eventstore.base import StoredEvent
from pathways.core.eventstore.memory import InMemoryEventStore
from pathways.core.projection import apply_batch, dump
from pathways.core.readmodels import ProjectionPosition, make_engine
from pathways.core.rebuild import rebuild
from pathways.policy.access import Caller
from pathways_reporting import answers, figures, tables
from pathways_reporting.api import open_scope
from pathways_reporting.period import Period
from pathways_reporting.readmodel import DIRECTORY, FACTS
from scipy import stats
from sqlalchemy import Engine, event

from tests.test_cost_counting import counted

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import reporting as synthetic  # the bench's generator of a realistic programme

EVENTS = 16_000
PROGRAMME = "rpt-p1"
FACT_TABLES = {"reporting_session", "reporting_attendance", "reporting_spend", "reporting_co_producer_payment",
               "reporting_outcome", DIRECTORY.enrolments_table.name}


def stored_events() -> list[StoredEvent]:
    out = []
    for i, (subject, raw, _) in enumerate(synthetic.synthetic_events(EVENTS), start=1):
        out.append(StoredEvent(i, subject, raw, datetime(2025, 1, 1, tzinfo=UTC)))
    return out


def create(engine: Engine) -> None:
    ProjectionPosition.metadata.create_all(engine, tables=[ProjectionPosition.__table__])  # type: ignore[attr-defined]
    for projection in (DIRECTORY.projection, FACTS):
        for table in projection.tables:
            table.create(engine, checkfirst=True)


@dataclass
class Model:
    engine: Engine
    events: list[StoredEvent]
    truth: Truth


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Model]:
    events = stored_events()
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('periods') / 'live.db'}")
    create(engine)
    sizes = [1, 7, 50, 333, 1000]  # batches of every size, as a live runner meets them
    position, i = 0, 0
    while position < len(events):
        batch = events[position:position + sizes[i % len(sizes)]]
        i += 1
        for projection in (DIRECTORY.projection, FACTS):
            with engine.begin() as conn:
                apply_batch(conn, projection, projection.live_tables(), projection.name, batch)
        position += len(batch)
    yield Model(engine, events, Truth.of(events))
    engine.dispose()


# --- the oracle: the figures straight from the events --------------------------------


@dataclass
class Truth:
    first_enrolled: dict[str, date] = field(default_factory=dict)
    enrolments: list[tuple[str, str, str, date]] = field(default_factory=list)  # partner, person, setting, day
    withdrawals: list[tuple[str, date]] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    lines: list[tuple[str, date, int]] = field(default_factory=list)
    measures: list[dict[str, Any]] = field(default_factory=list)
    assessments: list[dict[str, Any]] = field(default_factory=list)
    proposals: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    contracts: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # contract -> partner, activities

    @classmethod
    def of(cls, events: list[StoredEvent]) -> Truth:
        t = cls()
        spend = {"InvolvementRecorded": ("involvement", "involvement_id", "worked_on", "recorded"),
                 "ExpenseClaimed": ("expense", "claim_id", "incurred_on", "claimed"),
                 "InvoiceSubmitted": ("invoice", "invoice_id", "period_end", "submitted")}
        moves = {"ExpenseApproved": ("expense", "claim_id", "approved"), "ExpenseRejected": ("expense", "claim_id", "rejected"),
                 "InvoicePaid": ("invoice", "invoice_id", "paid")}
        for stored in events:
            e = stored.event
            d, name = e.data, e.type.rsplit(".", 1)[1]
            if d.get("programme_id") != PROGRAMME:
                continue
            def day(key: str, d: dict[str, Any] = d) -> date:
                return date.fromisoformat(d[key])

            if name == "PartnerCommissioned":
                t.contracts[d["contract_id"]] = (d["partner_id"], d["activities"])
            elif name == "ParticipantEnrolled":
                held = t.first_enrolled.get(d["participant_id"])
                t.first_enrolled[d["participant_id"]] = min(held, day("enrolled_on")) if held else day("enrolled_on")
                t.enrolments.append((d["partner_id"], d["participant_id"], d["setting"], day("enrolled_on")))
            elif name == "ParticipantWithdrawn":
                t.withdrawals.append((d["partner_id"], day("withdrawn_on")))
            elif name == "SessionScheduled":
                t.sessions[d["session_id"]] = {"partner": d["partner_id"], "activity": d["activity"], "status": "scheduled",
                                               "day": datetime.fromisoformat(d["starts_at"]).date(),
                                               "capacity": d["capacity"], "minutes": d["duration_minutes"], "came": []}
            elif name == "SessionDelivered":
                t.sessions[d["session_id"]] |= {"status": "delivered", "day": day("delivered_on"), "came": d["attendees"],
                                                "minutes": d["duration_minutes"]}
            elif name == "SessionCancelled":
                t.sessions[d["session_id"]]["status"] = "cancelled"
            elif name in spend:
                kind, key, on, status = spend[name]
                t.items[(d["contract_id"], kind, d[key])] = {"partner": d["partner_id"], "day": day(on), "status": status,
                                                             "amount": d["amount_pence"]}
            elif name in moves:
                kind, key, status = moves[name]
                t.items[(d["contract_id"], kind, d[key])]["status"] = status
            elif name == "PaymentRunIssued":
                t.lines += [(x["partner_id"], date.fromisoformat(x["on"]), x["amount_pence"]) for x in d["lines"]]
            elif name == "OutcomeMeasured":
                t.measures.append(d | {"on": day("measured_on")})
            elif name == "CoProductionAssessed":
                t.assessments.append(d | {"on": day("assessed_on")})
            elif name == "DevelopmentProposed":
                t.proposals[(d["proposed_by"], d["development_id"])] = {"on": e.time.date(), "status": d["status"]}
            elif name == "DevelopmentStatusSet":
                t.proposals[(d["proposed_by"], d["development_id"])]["status"] = d["to_status"]
        return t

    def figures(self, f: figures.Filters) -> dict[str, Any]:
        def within(day: date) -> bool:
            return (f.date_from is None or day >= f.date_from) and (f.date_to is None or day <= f.date_to)

        def by_end(day: date) -> bool:
            return f.date_to is None or day <= f.date_to

        def partner_ok(p: str) -> bool:
            return f.partner_id in (None, p)

        for_activity = {p for p, acts in self.contracts.values() if f.activity in acts} if f.activity else None
        came = {p for s in self.sessions.values() if s["status"] == "delivered" and within(s["day"])
                and partner_ok(s["partner"]) and f.activity in (None, s["activity"]) for p in s["came"]}
        enrolled = [e for e in self.enrolments if partner_ok(e[0]) and by_end(e[3])]
        people_of: dict[str, set[str]] = defaultdict(set)
        by_setting: dict[str, int] = defaultdict(int)
        for partner, person, setting, _ in enrolled:
            people_of[partner].add(person)
            by_setting[setting] += 1
        by_partner = {p: len(people) for p, people in people_of.items()}
        if f.activity:
            unique = len(came)
        elif f.partner_id:
            unique = len(people_of[f.partner_id])
        else:
            unique = sum(1 for d in self.first_enrolled.values() if by_end(d))
        delivered = [s for s in self.sessions.values() if s["status"] == "delivered" and within(s["day"])
                     and partner_ok(s["partner"]) and f.activity in (None, s["activity"])]
        contracts = {c for c, (p, acts) in self.contracts.items() if partner_ok(p) and f.activity in (None, *acts)}
        spent = sum(i["amount"] for (c, _, _), i in self.items.items() if c in contracts and within(i["day"])
                    and i["status"] in figures.SPEND_STATUSES)
        latest: dict[str, Any] = {}
        for a in sorted(self.assessments, key=lambda a: (a["on"], a["assessment_id"])):
            if within(a["on"]) and partner_ok(a["partner_id"]) and (for_activity is None or a["partner_id"] in for_activity):
                latest[a["partner_id"]] = a["level"]
        proposals = [p for (by, _), p in self.proposals.items() if within(p["on"]) and partner_ok(by)
                     and (for_activity is None or by in for_activity)]
        return {
            "unique": unique, "enrolments": sum(1 for e in self.enrolments if partner_ok(e[0]) and within(e[3])),
            "active": len(enrolled) - sum(1 for p, d in self.withdrawals if partner_ok(p) and by_end(d)),
            "by_partner": dict(sorted(by_partner.items())), "by_setting": dict(sorted(by_setting.items())),
            "attended": len(came),
            "delivered": len(delivered), "attendances": sum(len(s["came"]) for s in delivered),
            "places": sum(s["capacity"] for s in delivered),
            "cancelled": sum(1 for s in self.sessions.values() if s["status"] == "cancelled" and within(s["day"])
                             and partner_ok(s["partner"]) and f.activity in (None, s["activity"])),
            "spent": spent,
            "paid": sum(n for p, d, n in self.lines if within(d) and partner_ok(p)
                        and (for_activity is None or p in for_activity)),
            "outcomes": self.pairs(f, within, partner_ok),
            "co_production": dict(sorted(latest.items())),
            "tracker": sum(1 for _ in proposals),
        }

    def pairs(self, f: figures.Filters, within: Any, partner_ok: Any) -> dict[str, list[tuple[float, float]]]:
        # With an activity: people who came to it with the pair's partner by the end of the period's last month.
        month_end = None if f.date_to is None else (f.date_to.replace(day=28) + timedelta(days=4)).replace(day=1)
        attended_activity = {(s["partner"], p) for s in self.sessions.values() if s["status"] == "delivered"
                             and s["activity"] == f.activity and (month_end is None or s["day"] < month_end)
                             for p in s["came"]} if f.activity else None
        first: dict[tuple[str, str, str], dict[str, Any]] = {}
        follow: dict[tuple[str, str, str], dict[str, Any]] = {}
        for m in sorted(self.measures, key=lambda m: (m["on"], m["measurement_id"])):
            key = (m["instrument"], m["partner_id"], m["participant_id"])
            if m["timepoint"] == "baseline":
                first.setdefault(key, m)
            elif within(m["on"]):
                follow[key] = m  # the latest in the period
        out: dict[str, list[tuple[float, float]]] = {"WEMWBS": [], "SWEMWBS": []}
        for key, m in follow.items():
            b = first.get(key)
            if b is None or not partner_ok(key[1]) or (f.date_from and b["on"] < f.date_from):
                continue
            if attended_activity is not None and (key[1], key[2]) not in attended_activity:
                continue
            out[key[0]].append((float(b["metric_score"]), float(m["metric_score"])))
        return out


def read(model: Model, f: figures.Filters) -> dict[str, Any]:
    with model.engine.connect() as conn:
        s = figures.programme_summary(conn, PROGRAMME, f)
    assert s is not None
    p, se = s["participants"], s["sessions"]
    return {
        "unique": p["unique"], "enrolments": p["enrolments"], "active": p["active"], "by_partner": p["by_partner"],
        "by_setting": p["by_setting"], "attended": p["attended_at_least_once"], "delivered": se["delivered"],
        "attendances": se["attendances"], "cancelled": se["cancelled"], "spent": s["spend"]["spent_pence"],
        "paid": s["spend"]["co_producers_paid_pence"], "outcomes": s["outcomes"],
        "co_production": {k: v["level"] for k, v in s["co_production"].items()},
        "tracker": sum(s["you_said_we_did"]["counts"].values()), "rate": se["attendance_rate"],
    }


def check(model: Model, f: figures.Filters) -> dict[str, Any]:
    got, want = read(model, f), model.truth.figures(f)
    for key in ("unique", "enrolments", "active", "by_partner", "by_setting", "attended", "delivered", "attendances",
                "cancelled", "spent", "paid", "co_production", "tracker"):
        assert got[key] == want[key], (key, f)
    assert got["rate"] == (round(want["attendances"] / want["places"], 3) if want["places"] else None)
    for instrument, pairs in want["outcomes"].items():
        o = got["outcomes"][instrument]
        assert o["pairs"] == len(pairs), (instrument, f)
        if pairs:
            assert o["mean_baseline"] == pytest.approx(sum(b for b, _ in pairs) / len(pairs), abs=0.006)
            assert o["mean_follow_up"] == pytest.approx(sum(a for _, a in pairs) / len(pairs), abs=0.006)
        if len(pairs) >= 2 and len({a - b for b, a in pairs}) > 1:
            test = stats.ttest_rel([a for _, a in pairs], [b for b, _ in pairs])
            assert o["t"] == pytest.approx(float(test.statistic), abs=0.002)
            assert o["p_value"] == pytest.approx(float(test.pvalue), abs=0.0002)
    return want


def test_two_quarters_each_give_their_own_figures(model: Model) -> None:
    q1 = check(model, figures.Filters(date(2025, 1, 1), date(2025, 3, 31)))
    q2 = check(model, figures.Filters(date(2025, 4, 1), date(2025, 6, 30)))
    whole = check(model, figures.Filters())
    assert q1["delivered"] and q2["delivered"]  # the programme ran in both
    assert q1["delivered"] + q2["delivered"] <= whole["delivered"]
    assert q1["enrolments"] and q2["enrolments"] and q1["unique"] < q2["unique"]  # enrolled by the end of each


def test_a_month_before_the_programme_started_counts_nothing(model: Model) -> None:
    got = read(model, figures.Filters(date(2024, 11, 1), date(2024, 11, 30)))
    assert got["unique"] == got["enrolments"] == got["active"] == got["attended"] == 0
    assert got["delivered"] == got["cancelled"] == got["spent"] == got["paid"] == got["tracker"] == 0
    assert got["by_partner"] == got["by_setting"] == got["co_production"] == {}
    assert got["outcomes"]["WEMWBS"]["pairs"] == got["outcomes"]["SWEMWBS"]["pairs"] == 0


def _partners(model: Model) -> list[str]:
    return sorted({p for p, _ in model.truth.contracts.values()})


days = st.dates(min_value=date(2024, 12, 20), max_value=date(2026, 3, 31))  # across a new year, with data on both sides


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.none() | days, end=st.none() | days, partner=st.none() | st.integers(0, 9),
       activity=st.none() | st.sampled_from(synthetic.ACTIVITIES[:6]))
def test_any_period_partner_and_activity_give_the_figures_the_events_give(
    model: Model, start: date | None, end: date | None, partner: int | None, activity: str | None,
) -> None:
    if start and end and start > end:
        start, end = end, start
    chosen = _partners(model)[partner] if partner is not None else None
    f = figures.Filters(start, end, chosen, activity)
    check(model, f)
    with model.engine.connect() as conn:  # a page of the session log counts its rows from the summaries
        assert tables.session_log(conn, PROGRAMME, f, limit=3).total == len(tables.session_log(conn, PROGRAMME, f).rows)
        # Every table's total, as the commissioner reads it (only people who consent to sharing with
        # them): the rows a page does not show are counted as the whole table holds them.
        programme = DIRECTORY.programme(conn, PROGRAMME)
        assert programme is not None
        scoped = open_scope(conn, Caller(programme.commissioner_id, "commissioner"), PROGRAMME, f).filters
        for key, build in tables.TABLES.items():
            assert build(conn, PROGRAMME, scoped, limit=3).total == len(build(conn, PROGRAMME, scoped).rows), key


def test_the_summary_reads_summaries_only(model: Model) -> None:
    statements: list[str] = []

    def seen(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        statements.append(sql)

    event.listen(model.engine, "before_cursor_execute", seen)
    try:
        for f in (figures.Filters(), figures.Filters(date(2025, 2, 10), date(2025, 5, 20), _partners(model)[0], "yoga")):
            with model.engine.connect() as conn:
                figures.programme_summary(conn, PROGRAMME, f)
    finally:
        event.remove(model.engine, "before_cursor_execute", seen)
    read_tables = {t for sql in statements for t in re.findall(r'(?:FROM|JOIN)\s+"?(\w+)"?', sql)}
    assert read_tables, statements
    assert read_tables & FACT_TABLES == set(), read_tables
    assert read_tables & {t.name for t in answers.TABLES}  # and it does read the summaries


async def test_a_rebuild_fills_the_summaries_the_batches_kept(model: Model, tmp_path: Path) -> None:
    store = InMemoryEventStore()
    store._events = list(model.events)  # the same stored events, sequence for sequence
    engine = make_engine(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    create(engine)
    for projection in (DIRECTORY.projection, FACTS):
        await rebuild(projection, engine, store)
    kept, rebuilt = dump(model.engine, FACTS), dump(engine, FACTS)
    for table in answers.TABLES:
        assert kept[table.name] == rebuilt[table.name], table.name
        assert kept[table.name], table.name  # the programme put something in every summary
    engine.dispose()


def test_statements_per_batch_grow_with_the_tables_not_with_the_events(model: Model, tmp_path: Path) -> None:
    """One batch of 500 events and one of 8,000: the writes, the group lookups and the
    summary refreshes are statements per table, each executed for many rows."""
    counts = {}
    for size in (500, 8_000):
        engine = make_engine(f"sqlite:///{tmp_path / f'{size}.db'}")
        create(engine)
        statements = counted(engine)
        with engine.begin() as conn:
            apply_batch(conn, FACTS, FACTS.live_tables(), FACTS.name, model.events[:size])
        counts[size] = len(statements)
        engine.dispose()
    bound = 2 + 3 * len(FACTS.tables) + 3 * len(FACTS.summaries)  # position; shapes of row per table; lookups and refreshes
    assert counts[8_000] <= bound, counts
    assert counts[8_000] <= counts[500] * 2, counts


def test_a_batch_of_sessions_delivered_reads_none_of_the_attendance_history(model: Model, tmp_path: Path) -> None:
    """Who came is added into (an OR of day and month bits, the first month): a batch costs
    the same whatever each person's history. Recomputed per person a batch touched, it read
    every attendance of theirs so far, per batch, three times over."""
    engine = make_engine(f"sqlite:///{tmp_path / 'history.db'}")
    create(engine)
    history, batch = model.events[:12_000], model.events[12_000:14_000]
    for start in range(0, len(history), 2_000):
        with engine.begin() as conn:
            apply_batch(conn, FACTS, FACTS.live_tables(), FACTS.name, history[start:start + 2_000])
    statements = counted(engine)
    with engine.begin() as conn:
        apply_batch(conn, FACTS, FACTS.live_tables(), FACTS.name, batch)
    assert any('"reporting_attendance"' in sql or "reporting_attendance " in sql for sql in statements)  # it wrote some
    assert any(stored.event.type.endswith("SessionDelivered") for stored in batch)
    read = [sql for sql in statements if re.search(r'(?:FROM|JOIN)\s+"?reporting_attendance\b', sql)]
    assert read == [], read
    engine.dispose()


def test_a_rebuild_s_batches_leave_the_summaries_it_fills_whole_to_the_fill(model: Model, tmp_path: Path) -> None:
    """A rebuild computes who came once, in SQL, at the end: its batches write none of it
    (adding 640,000 attendances in one by one cost a rebuild more), while a live batch does."""
    added = {s.table.name for s in FACTS.summaries if not s.refreshed}
    assert added == {answers.ATTENDED.name, answers.ATTENDED_YEARS.name, answers.ACTIVITY_PEOPLE.name}
    written = {}
    for summarise in (True, False):
        engine = make_engine(f"sqlite:///{tmp_path / f'{summarise}.db'}")
        create(engine)
        statements = counted(engine)
        with engine.begin() as conn:
            apply_batch(conn, FACTS, FACTS.live_tables(), FACTS.name, model.events[:4_000], summarise=summarise)
        written[summarise] = {t for sql in statements for t in added if re.search(rf'INSERT INTO "?{t}\b', sql)}
        engine.dispose()
    assert written == {True: added, False: set()}, written


def _copy(template: StoredEvent, sequence: int, **data: Any) -> StoredEvent:
    cloud = template.event
    return StoredEvent(sequence, template.subject, cloud.model_copy(update={"id": f"e-{sequence}", "data": cloud.data | data})
                       .to_bytes(), template.stored_at)


def test_people_are_counted_once_when_enrolments_come_out_of_date_order_or_again_after_a_withdrawal(
    model: Model, tmp_path: Path,
) -> None:
    """A later-recorded enrolment with an earlier date, and a person enrolled again by the
    same partner after withdrawing: each person still counts once, from their earliest day."""
    enrolled = next(e for e in model.events if e.event.type.endswith("ParticipantEnrolled"))
    withdrawn = next(e for e in model.events if e.event.type.endswith("ParticipantWithdrawn"))
    setup = [e for e in model.events[:enrolled.sequence] if not e.event.type.endswith(("ParticipantEnrolled",))]
    a, b = sorted(p for p, _ in model.truth.contracts.values())[:2]
    n = len(model.events)
    crafted = [
        _copy(enrolled, n + 1, participant_id="px-late", partner_id=a, enrolled_on="2025-03-10"),
        _copy(enrolled, n + 2, participant_id="px-late", partner_id=b, enrolled_on="2025-02-01"),
        _copy(enrolled, n + 3, participant_id="px-again", partner_id=a, enrolled_on="2025-01-20"),
        _copy(withdrawn, n + 4, participant_id="px-again", partner_id=a, withdrawn_on="2025-02-01"),
        _copy(enrolled, n + 5, participant_id="px-again", partner_id=a, enrolled_on="2025-03-01"),
    ]
    engine = make_engine(f"sqlite:///{tmp_path / 'crafted.db'}")
    create(engine)
    for projection in (DIRECTORY.projection, FACTS):
        with engine.begin() as conn:
            apply_batch(conn, projection, projection.live_tables(), projection.name, [*setup, *crafted])
    with engine.connect() as conn:
        feb = figures.participants(conn, PROGRAMME, figures.Filters(date_to=date(2025, 2, 28)))
        assert feb["unique"] == 2 and feb["by_partner"] == {a: 1, b: 1}  # px-late counts from 1 February, with b
        with_a = figures.participants(conn, PROGRAMME, figures.Filters(partner_id=a))
        assert with_a["unique"] == 2 and with_a["enrolments"] == 3 and with_a["active"] == 2
    engine.dispose()


def _days_of(p: Period, lo: date, hi: date) -> set[date]:
    """Every day from lo to hi that the period's whole months or part-months hold."""
    out, day = set(), lo
    while day <= hi:
        month = f"{day.year:04d}-{day.month:02d}"
        first, last = p.whole if p.whole is not None else ("9999-99", "0000-00")
        whole = (first is None or month >= first) and (last is None or month <= last)
        parts = [a <= day <= b for a, b in p.parts]
        assert not (whole and any(parts)) and sum(parts) <= 1, (p, day)  # no day read twice
        if whole or any(parts):
            out.add(day)
        day += timedelta(days=1)
    return out


@settings(max_examples=300, deadline=None)
@given(start=st.none() | st.dates(date(2023, 11, 1), date(2025, 3, 31)), end=st.none() | st.dates(date(2023, 11, 1),
                                                                                                    date(2025, 3, 31)))
def test_a_period_is_exactly_its_days_as_whole_months_and_part_months(start: date | None, end: date | None) -> None:
    lo, hi = date(2023, 10, 1), date(2025, 4, 30)
    want = {d for d in (lo + timedelta(days=i) for i in range((hi - lo).days + 1))
            if (start is None or d >= start) and (end is None or d <= end)}
    assert _days_of(Period.of(start, end), lo, hi) == want


def test_the_calendar_s_first_and_last_months_are_periods_too() -> None:
    assert Period.of(date(9999, 12, 15), None).parts == ((date(9999, 12, 15), date(9999, 12, 31)),)
    assert Period.of(None, date(1, 1, 15)).parts == ((date(1, 1, 1), date(1, 1, 15)),)
