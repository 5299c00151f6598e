"""What the evaluation service keeps: its copy of the programme directory (consulted by the
rules) and the evaluation record served by the API: outcomes by pseudonymous participant,
feedback, co-production assessments, the "you said, we did" tracker and reports."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pathways.core.envelope import CloudEvent
from pathways.core.projection import Projection, Rows, Tables, update, upsert
from pathways.policy.directory import Directory, Reader
from sqlalchemy import JSON, Column, Table
from sqlmodel import Field, Session, SQLModel, select

from pathways_evaluation import survey_record
from pathways_evaluation.domain import events as e

DIRECTORY = Directory("evaluation")
HUNDRED = Decimal(100)


class OutcomeBase(SQLModel):
    programme_id: str = Field(primary_key=True)
    partner_id: str = Field(primary_key=True)
    participant_id: str = Field(primary_key=True)
    measurement_id: str = Field(primary_key=True)
    instrument: str  # WEMWBS | SWEMWBS
    timepoint: str  # baseline | follow_up
    measured_on: date
    raw_score: int


class Outcome(OutcomeBase, table=True):
    __tablename__ = "evaluation_outcome"
    # Hundredths as an integer: exact and summable in SQL on SQLite too, where a
    # Decimal column would silently become a float.
    metric_score_hundredths: int


class OutcomePublic(OutcomeBase):
    metric_score: Decimal


class Feedback(SQLModel, table=True):
    __tablename__ = "evaluation_feedback"
    programme_id: str = Field(primary_key=True)
    partner_id: str = Field(primary_key=True)
    feedback_id: str = Field(primary_key=True)
    respondent: str
    activity: str | None = None
    rating: int
    comment: str
    received_at: datetime


class CoProductionAssessment(SQLModel, table=True):
    __tablename__ = "evaluation_co_production"
    programme_id: str = Field(primary_key=True)
    assessor_id: str = Field(primary_key=True)
    assessment_id: str = Field(primary_key=True)
    partner_id: str = Field(index=True)
    assessed_on: date
    level: int
    level_name: str
    ladder_rung: str
    tokenism_flags: int
    tokenism_seen: list[str] = Field(sa_column=Column(JSON, nullable=False))
    evidence: str


class DevelopmentItem(SQLModel, table=True):
    __tablename__ = "evaluation_development"
    programme_id: str = Field(primary_key=True)
    proposed_by: str = Field(primary_key=True)
    development_id: str = Field(primary_key=True)
    you_said: str
    raised_by: str
    we_will: str
    status: str  # red | amber | green
    we_did: str | None = None
    proposed_at: datetime
    updated_at: datetime


class Report(SQLModel, table=True):
    __tablename__ = "evaluation_report"
    programme_id: str = Field(primary_key=True)
    published_by: str = Field(primary_key=True)
    report_id: str = Field(primary_key=True)
    title: str
    period_start: date
    period_end: date
    summary: str
    findings: list[str] = Field(sa_column=Column(JSON, nullable=False))
    document_sha256: str | None = None
    published_at: datetime


def _t(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


def _outcome(conn: Rows, t: Tables, _: CloudEvent, d: e.OutcomeMeasured, __: int) -> None:
    row = d.model_dump(exclude={"answers", "metric_score"})
    row["metric_score_hundredths"] = int(d.metric_score * HUNDRED)
    upsert(
        conn,
        t["evaluation_outcome"],
        row,
        ["programme_id", "partner_id", "participant_id", "measurement_id"],
    )


def _feedback(
    conn: Rows, t: Tables, cloud: CloudEvent, d: e.FeedbackSubmitted, __: int
) -> None:
    row = d.model_dump() | {"received_at": cloud.time}
    upsert(conn, t["evaluation_feedback"], row, ["programme_id", "partner_id", "feedback_id"])


def _assessed(
    conn: Rows, t: Tables, _: CloudEvent, d: e.CoProductionAssessed, __: int
) -> None:
    row = d.model_dump(exclude={"tokenism"}) | {"tokenism_seen": d.tokenism.seen()}
    upsert(
        conn, t["evaluation_co_production"], row, ["programme_id", "assessor_id", "assessment_id"]
    )


def _proposed(
    conn: Rows, t: Tables, cloud: CloudEvent, d: e.DevelopmentProposed, __: int
) -> None:
    row = d.model_dump() | {"proposed_at": cloud.time, "updated_at": cloud.time}
    upsert(
        conn, t["evaluation_development"], row, ["programme_id", "proposed_by", "development_id"]
    )


def _status_set(
    conn: Rows, t: Tables, cloud: CloudEvent, d: e.DevelopmentStatusSet, __: int
) -> None:
    values: dict[str, Any] = {"status": d.to_status, "updated_at": cloud.time}
    if d.we_did is not None:  # an amber without words keeps what was said before
        values["we_did"] = d.we_did
    keys = {"programme_id": d.programme_id, "proposed_by": d.proposed_by, "development_id": d.development_id}
    update(conn, t["evaluation_development"], keys, **values)


def _published(
    conn: Rows, t: Tables, cloud: CloudEvent, d: e.EvaluationReportPublished, __: int
) -> None:
    row = d.model_dump() | {"published_at": cloud.time}
    upsert(conn, t["evaluation_report"], row, ["programme_id", "published_by", "report_id"])


EVALUATION_RECORD = Projection(
    name="evaluation_record",
    tables=[_t(Outcome), _t(Feedback), _t(CoProductionAssessment), _t(DevelopmentItem), _t(Report),
            *survey_record.TABLES],
    handlers={
        e.OutcomeMeasured: _outcome,
        e.FeedbackSubmitted: _feedback,
        e.CoProductionAssessed: _assessed,
        e.DevelopmentProposed: _proposed,
        e.DevelopmentStatusSet: _status_set,
        e.EvaluationReportPublished: _published,
        **survey_record.HANDLERS,
    },
    schemas=e.schemas,
)


def list_outcomes(
    *,
    session: Session,
    programme_id: str,
    partner_id: str | None = None,
    instrument: str | None = None,
    reader: Reader | None = None,
) -> list[OutcomePublic]:
    """The programme's outcomes; with `reader`, only of people who consent to its purpose now
    (an evaluator reads for evaluation, a commissioner for sharing with it), of partners whose
    data-sharing agreements with it cover outcomes (pathways.policy.agreements)."""
    query = select(Outcome).where(Outcome.programme_id == programme_id)
    if partner_id is not None:
        query = query.where(Outcome.partner_id == partner_id)
    if instrument is not None:
        query = query.where(Outcome.instrument == instrument)
    if reader is not None:
        query = query.where(DIRECTORY.may_read(reader, Outcome.programme_id, Outcome.partner_id, Outcome.participant_id))
    rows = session.exec(query.order_by(Outcome.participant_id, Outcome.measured_on))  # type: ignore[arg-type]
    return [
        OutcomePublic(
            **row.model_dump(exclude={"metric_score_hundredths"}),
            metric_score=Decimal(row.metric_score_hundredths).scaleb(-2),
        )
        for row in rows
    ]


def list_feedback(
    *, session: Session, programme_id: str, partner_id: str | None = None
) -> list[Feedback]:
    query = select(Feedback).where(Feedback.programme_id == programme_id)
    if partner_id is not None:
        query = query.where(Feedback.partner_id == partner_id)
    return list(session.exec(query.order_by(Feedback.received_at)))  # type: ignore[arg-type]


def list_co_production(
    *, session: Session, programme_id: str, partner_id: str | None = None
) -> list[CoProductionAssessment]:
    query = select(CoProductionAssessment).where(
        CoProductionAssessment.programme_id == programme_id
    )
    if partner_id is not None:
        query = query.where(CoProductionAssessment.partner_id == partner_id)
    return list(session.exec(query.order_by(CoProductionAssessment.assessed_on)))  # type: ignore[arg-type]


def list_developments(
    *, session: Session, programme_id: str, status: str | None = None
) -> list[DevelopmentItem]:
    query = select(DevelopmentItem).where(DevelopmentItem.programme_id == programme_id)
    if status is not None:
        query = query.where(DevelopmentItem.status == status)
    return list(session.exec(query.order_by(DevelopmentItem.proposed_at)))  # type: ignore[arg-type]


def list_reports(*, session: Session, programme_id: str) -> list[Report]:
    query = select(Report).where(Report.programme_id == programme_id)
    return list(session.exec(query.order_by(Report.period_end, Report.published_at)))  # type: ignore[arg-type]
