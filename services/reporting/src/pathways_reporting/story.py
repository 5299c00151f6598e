"""The programme's story beyond the counts, as the dashboard and the printable report tell
it: showcases of participants' work, what people taking part said (the report's service
user perspective, beside the "you said, we did" tracker: feedback partners recorded, and the
surveys people answered themselves, pathways_reporting.voices), the evaluator's published
reports, and payment runs approved past a co-producer's benefits earnings limit."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

from pathways.core.envelope import CloudEvent
from pathways.core.projection import Rows, Tables, upsert
from sqlalchemy import String, Table, Text, func, select
from sqlmodel import Field, SQLModel

from pathways_reporting import voices

if TYPE_CHECKING:  # the read model (which holds this module's tables) is imported before the figures
    from sqlalchemy import Connection

    from pathways_reporting.figures import Filters

Id = String(64)
QUOTED = 6  # comments quoted in a report: the latest, each in the person's own words


class Showcase(SQLModel, table=True):
    __tablename__ = "reporting_showcase"
    programme_id: str = Field(primary_key=True, sa_type=Id)
    showcase_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(sa_type=Id)
    title: str = Field(sa_type=Text)
    held_on: date
    venue: str = Field(sa_type=Text)
    audience: int
    featured: int  # how many participants' work was shown (never who)


class ParticipantFeedback(SQLModel, table=True):
    __tablename__ = "reporting_feedback"
    programme_id: str = Field(primary_key=True, sa_type=Id)
    feedback_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(sa_type=Id)
    respondent: str = Field(sa_type=String(32))
    activity: str | None = Field(default=None, sa_type=Text)
    rating: int
    comment: str = Field(sa_type=Text)
    given_on: date  # the day it was recorded


class EvaluationReport(SQLModel, table=True):
    __tablename__ = "reporting_evaluation_report"
    programme_id: str = Field(primary_key=True, sa_type=Id)
    report_id: str = Field(primary_key=True, sa_type=Id)
    published_by: str = Field(sa_type=Id)
    title: str = Field(sa_type=Text)
    period_start: date
    period_end: date
    summary: str = Field(sa_type=Text)
    findings: str = Field(sa_type=Text)  # JSON list
    published_on: date


class EarningsWarning(SQLModel, table=True):
    __tablename__ = "reporting_earnings_warning"
    programme_id: str = Field(primary_key=True, sa_type=Id)
    sequence: int = Field(primary_key=True)
    co_producer_id: str = Field(sa_type=Id)
    partner_id: str | None = Field(default=None, sa_type=Id)
    scheme: str = Field(sa_type=Text)
    period_start: date
    period_end: date
    limit_pence: int
    earnings_after_pence: int


def _t(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


SHOWCASES, FEEDBACK, REPORTS, WARNINGS = (_t(m) for m in (Showcase, ParticipantFeedback, EvaluationReport, EarningsWarning))
TABLES = [SHOWCASES, FEEDBACK, REPORTS, WARNINGS]


def showcase_held(conn: Rows, t: Tables, _: CloudEvent, d: dict[str, Any], __: int) -> None:
    row = {k: d[k] for k in ("programme_id", "showcase_id", "partner_id", "title", "venue", "audience")}
    upsert(conn, t[SHOWCASES.name], row | {"held_on": date.fromisoformat(d["held_on"]),
                                           "featured": len(d.get("featured_participants") or [])},
           ["programme_id", "showcase_id"])


def feedback_submitted(conn: Rows, t: Tables, event: CloudEvent, d: dict[str, Any], __: int) -> None:
    row = {k: d.get(k) for k in ("programme_id", "feedback_id", "partner_id", "respondent", "activity", "rating", "comment")}
    upsert(conn, t[FEEDBACK.name], row | {"given_on": event.time.date()}, ["programme_id", "feedback_id"])


def report_published(conn: Rows, t: Tables, event: CloudEvent, d: dict[str, Any], __: int) -> None:
    row = {k: d[k] for k in ("programme_id", "report_id", "published_by", "title", "summary")}
    row |= {"period_start": date.fromisoformat(d["period_start"]), "period_end": date.fromisoformat(d["period_end"]),
            "findings": json.dumps(d.get("findings") or []), "published_on": event.time.date()}
    upsert(conn, t[REPORTS.name], row, ["programme_id", "report_id"])


def earnings_warning(conn: Rows, t: Tables, _: CloudEvent, d: dict[str, Any], sequence: int) -> None:
    row = {k: d.get(k) for k in ("programme_id", "co_producer_id", "partner_id", "scheme", "limit_pence",
                                 "earnings_after_pence")}
    row |= {"period_start": date.fromisoformat(d["period_start"]), "period_end": date.fromisoformat(d["period_end"]),
            "sequence": sequence}
    upsert(conn, t[WARNINGS.name], row, ["programme_id", "sequence"])


SERVICE_USERS = ("participant", "co_producer")  # whose words the service user perspective quotes
SEES_WARNINGS = ("commissioner", "partner", "auditor", "operator")  # as the payments service: never evaluators


def story(conn: Connection, programme_id: str, f: Filters, role: str) -> dict[str, Any]:
    """Showcases held and feedback recorded in the period, reports on any part of it, and
    warnings for periods ending in it (a partner's own, with a partner chosen; the
    evaluator's reports are the programme's). Feedback carries no date of its own: it is
    dated the day it was recorded."""
    s, fb, r = SHOWCASES, FEEDBACK, REPORTS

    def _partner(column: Any, f: Filters) -> list[Any]:
        return [column == f.partner_id] if f.partner_id else []

    showcases = [dict(row._mapping) for row in conn.execute(
        select(s).where(s.c.programme_id == programme_id, *_partner(s.c.partner_id, f), *f.dated(s.c.held_on))
        .order_by(s.c.held_on, s.c.showcase_id))]
    where = [fb.c.programme_id == programme_id, *_partner(fb.c.partner_id, f), *f.dated(fb.c.given_on)]
    if f.activity:
        where.append(fb.c.activity == f.activity)
    count, mean = conn.execute(select(func.count(), func.avg(fb.c.rating)).where(*where)).one()
    by_rating = {int(rating): int(n) for rating, n in conn.execute(
        select(fb.c.rating, func.count()).where(*where).group_by(fb.c.rating).order_by(fb.c.rating))}
    said = [*where, fb.c.respondent.in_(SERVICE_USERS), fb.c.comment != ""]
    quoted = [{"comment": row.comment, "rating": row.rating, "respondent": row.respondent, "given_on": row.given_on.isoformat()}
              for row in conn.execute(select(fb).where(*said).order_by(fb.c.given_on.desc(), fb.c.feedback_id)
                                      .limit(QUOTED))]
    reports = [{"report_id": row.report_id, "title": row.title, "period_start": row.period_start.isoformat(),
                "period_end": row.period_end.isoformat(), "summary": row.summary, "findings": json.loads(row.findings),
                "published_on": row.published_on.isoformat()}
               for row in conn.execute(select(r).where(  # a report on any part of the period
                   r.c.programme_id == programme_id, *([r.c.period_end >= f.date_from] if f.date_from else []),
                   *([r.c.period_start <= f.date_to] if f.date_to else [])).order_by(r.c.period_end, r.c.report_id))]
    w = WARNINGS
    warnings = [{"co_producer_id": row.co_producer_id, "partner_id": row.partner_id, "scheme": row.scheme,
                 "period_start": row.period_start.isoformat(), "period_end": row.period_end.isoformat(),
                 "limit_pence": row.limit_pence, "earnings_after_pence": row.earnings_after_pence}
                for row in conn.execute(select(w).where(w.c.programme_id == programme_id, *_partner(w.c.partner_id, f),
                                                        *f.dated(w.c.period_end)).order_by(w.c.period_start, w.c.sequence))
                ] if role in SEES_WARNINGS else []
    feedback = {"responses": int(count), "mean_rating": round(float(mean), 2) if count else None, "by_rating": by_rating,
                "quoted": quoted}
    return {"showcases": showcases, "earnings_warnings": warnings, "feedback": feedback, "evaluation_reports": reports,
            "voices": voices.voices(conn, programme_id, f)}
