"""Targets and progress against them: what a commissioner contracts a partner (or the whole
programme) for in a period (people, sessions, hours, moves into the community...), the
figure the record gives so far, and whether it is on track.

The rule (shown on the page): a target is *met* once the figure reaches it, and *not met*
if its period ended short of it. Otherwise the figure is compared with what an even pace
would have reached by today (the target times the share of the period gone): *on track* at
90 % of that pace or more, *at risk* from 70 %, *behind* below; *not started* before the
period begins. Each figure is the headline figure
of the same name for the target's period and partner, so a target reads exactly as the
dashboard does when filtered to them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pathways.core.envelope import CloudEvent
from pathways.core.projection import Rows, Tables, upsert
from sqlalchemy import String, Table, Text, select
from sqlmodel import Field, SQLModel

if TYPE_CHECKING:
    from sqlalchemy import Connection

Id = String(64)


class Target(SQLModel, table=True):
    __tablename__ = "reporting_target"
    programme_id: str = Field(primary_key=True, sa_type=Id)
    target_id: str = Field(primary_key=True, sa_type=Id)
    contract_id: str | None = Field(default=None, sa_type=Id)  # both empty: the whole programme
    partner_id: str | None = Field(default=None, sa_type=Id)
    indicator: str = Field(sa_type=String(32))
    target: int
    period_start: date
    period_end: date
    note: str | None = Field(default=None, sa_type=Text)


TARGETS: Table = Target.__table__  # type: ignore[attr-defined]
TABLES = [TARGETS]
ON_TRACK, AT_RISK = 0.9, 0.7

RULE = ("Met: the figure has reached the target; not met: the period ended short of it. Otherwise it is compared with "
        "an even pace (the target times the share of the period gone by today): on track at 90 % of that pace or more, "
        "at risk from 70 %, behind below; not started before the period begins. Each figure is the dashboard's, "
        "filtered to the target's period and partner.")


def _journey(key: str) -> Callable[[dict[str, Any]], float]:
    return lambda s: float(s["journey"]["funnel"][key])


# Each indicator as the headline figure it reads, from the summary for the target's period and partner.
INDICATORS: dict[str, tuple[str, Callable[[dict[str, Any]], float]]] = {
    "participants": ("people enrolled by the period's end (unique)", lambda s: float(s["participants"]["unique"])),
    "enrolments": ("enrolments", lambda s: float(s["participants"]["enrolments"])),
    "sessions": ("sessions delivered", lambda s: float(s["sessions"]["delivered"])),
    "hours": ("hours of activity", lambda s: float(s["sessions"]["hours_delivered"])),
    "attendances": ("attendances", lambda s: float(s["sessions"]["attendances"])),
    "referrals": ("referrals received", _journey("referred")),
    "transitions": ("moves from ward to community", lambda s: float(s["journey"]["transitions"]["to_community"])),
    "moved_on": ("people moved on", _journey("moved_on")),
    "wellbeing_pairs": ("wellbeing measured before and after (pairs)",
                        lambda s: float(sum(o["pairs"] for o in s["outcomes"].values()))),
}


def target_set(conn: Rows, t: Tables, _: CloudEvent, d: dict[str, Any], __: int) -> None:
    row = {k: d.get(k) for k in ("programme_id", "target_id", "contract_id", "partner_id", "indicator", "target", "note")}
    row |= {"period_start": date.fromisoformat(d["period_start"]), "period_end": date.fromisoformat(d["period_end"])}
    upsert(conn, t[TARGETS.name], row, ["programme_id", "target_id"])


def status(actual: float, target: int, start: date, end: date, today: date) -> tuple[str, float | None]:
    """(status, the figure an even pace would have reached by today)."""
    if today < start:
        return "not started", 0.0
    if actual >= target:
        return "met", None
    if today > end:
        return "not met", float(target)
    gone = (min(today, end) - start).days + 1
    expected = target * gone / ((end - start).days + 1)
    pace = actual / expected if expected else 1.0
    return ("on track" if pace >= ON_TRACK else "at risk" if pace >= AT_RISK else "behind"), round(expected, 1)


def progress(conn: Connection, programme_id: str, partner_id: str | None = None,
             today: date | None = None) -> list[dict[str, Any]]:
    """Every target of the programme, with its figure and status; a partner sees its own
    contracts' targets only (a programme's figure would tell it the other partners')."""
    from pathways_reporting import figures  # the read model (which holds this module's table) comes first

    today = today or datetime.now(UTC).date()
    t = TARGETS
    query = select(t).where(t.c.programme_id == programme_id).order_by(t.c.period_start, t.c.target_id)
    out = []
    summaries: dict[tuple[date, date, str | None], dict[str, Any]] = {}
    for row in conn.execute(query):
        if partner_id is not None and row.partner_id != partner_id:
            continue
        key = (row.period_start, row.period_end, row.partner_id)
        if key not in summaries:  # targets of one period and partner share one summary
            period = figures.Filters(row.period_start, row.period_end, row.partner_id)
            found = figures.programme_summary(conn, programme_id, period)
            assert found is not None
            summaries[key] = found
        label, read = INDICATORS[row.indicator]
        actual = read(summaries[key])
        state, expected = status(actual, row.target, row.period_start, row.period_end, today)
        out.append({"target_id": row.target_id, "indicator": row.indicator, "label": label, "contract_id": row.contract_id,
                    "partner_id": row.partner_id, "period_start": row.period_start.isoformat(),
                    "period_end": row.period_end.isoformat(), "target": row.target, "actual": actual,
                    "expected_by_now": expected, "status": state, "note": row.note})
    return out
