"""What the evaluation service keeps of survey links and answers: each link (found by its
secret's hash when someone opens it, listed for whoever issued it) and each answer, and
the results of a survey by group, as the API gives them."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from pathways.core import surveys
from pathways.core.envelope import CloudEvent
from pathways.core.projection import Apply, Rows, Tables, update, upsert
from pathways.core.schemas import EventData
from sqlalchemy import JSON, Column, DateTime, Table
from sqlmodel import Field, Session, SQLModel, select

from pathways_evaluation.domain import surveys as s


class SurveyLinkRecord(SQLModel, table=True):
    __tablename__ = "evaluation_survey_link"
    programme_id: str = Field(primary_key=True)
    issued_by: str = Field(primary_key=True)
    link_id: str = Field(primary_key=True)
    # Not unique: two issuers may choose one secret (a careless one, or a replayed demo). Such
    # a link opens for no one (link_for), rather than stopping this read model at the second.
    secret_sha256: str = Field(index=True)
    survey_id: str
    survey_version: int
    group: str
    participant_id: str | None = None
    co_producer_id: str | None = None
    partner_id: str | None = None
    session_id: str | None = None
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))  # UTC, and said so to PostgreSQL
    consent_purpose: str | None = None
    issued_at: datetime = Field(sa_type=DateTime(timezone=True))
    answered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class SurveyAnswerRecord(SQLModel, table=True):
    __tablename__ = "evaluation_survey_answer"
    programme_id: str = Field(primary_key=True)
    issued_by: str = Field(primary_key=True)
    link_id: str = Field(primary_key=True)
    survey_id: str = Field(index=True)
    survey_version: int
    group: str
    participant_id: str | None = None
    co_producer_id: str | None = None
    partner_id: str | None = Field(default=None, index=True)
    session_id: str | None = None
    answers: dict[str, int] = Field(sa_column=Column(JSON, nullable=False))
    comment: str
    answered_at: datetime = Field(sa_type=DateTime(timezone=True))


def _t(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


LINKS, ANSWERS = _t(SurveyLinkRecord), _t(SurveyAnswerRecord)
TABLES = [LINKS, ANSWERS]
_KEY = ["programme_id", "issued_by", "link_id"]


def _issued(conn: Rows, t: Tables, cloud: CloudEvent, d: s.SurveyLinkIssued, __: int) -> None:
    upsert(conn, t[LINKS.name], d.model_dump() | {"issued_at": cloud.time}, _KEY)


def _answered(conn: Rows, t: Tables, cloud: CloudEvent, d: s.SurveyAnswered, __: int) -> None:
    upsert(conn, t[ANSWERS.name], d.model_dump() | {"answered_at": cloud.time}, _KEY)
    update(conn, t[LINKS.name], {k: getattr(d, k) for k in _KEY}, answered_at=cloud.time)


HANDLERS: dict[str | type[EventData], Apply] = {s.SurveyLinkIssued: _issued, s.SurveyAnswered: _answered}


def link_for(session: Session, secret_sha256: str) -> SurveyLinkRecord | None:
    """The link this secret opens; None for none, or for a secret two links share."""
    found = session.exec(select(SurveyLinkRecord).where(SurveyLinkRecord.secret_sha256 == secret_sha256).limit(2)).all()
    return found[0] if len(found) == 1 else None


def links_issued(session: Session, programme_id: str, issued_by: str) -> list[SurveyLinkRecord]:
    query = select(SurveyLinkRecord).where(SurveyLinkRecord.programme_id == programme_id,
                                           SurveyLinkRecord.issued_by == issued_by)
    return list(session.exec(query.order_by(SurveyLinkRecord.issued_at, SurveyLinkRecord.link_id)))  # type: ignore[arg-type]


def results(session: Session, programme_id: str, survey_id: str, partner_id: str | None) -> dict[str, Any]:
    """A survey's answers by group: how many answered, and per question how many answered it
    with the mean (a rating) or the share who said yes (a sign). Read against the version
    each person was given; a question of an older version is kept under its own id."""
    query = select(SurveyAnswerRecord).where(SurveyAnswerRecord.programme_id == programme_id,
                                             SurveyAnswerRecord.survey_id == survey_id)
    if partner_id is not None:
        query = query.where(SurveyAnswerRecord.partner_id == partner_id)
    answered: dict[str, int] = defaultdict(int)
    totals: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row in session.exec(query):
        answered[row.group] += 1
        for question, value in row.answers.items():
            totals[row.group, question].append(value)
    survey = surveys.latest(survey_id)
    kinds = {q.id: survey.scales[q.scale].kind for q in survey.questions} if survey else {}
    by_group = {}
    for group in surveys.GROUPS:
        questions = {}
        for (g, question), values in sorted(totals.items()):
            if g != group:
                continue
            kind = kinds.get(question, "rating")
            figure = sum(values) / len(values)
            questions[question] = {"answered": len(values), "mean" if kind == "rating" else "share_yes": round(figure, 3)}
        by_group[group] = {"answered": answered.get(group, 0), "questions": questions}
    return {"programme_id": programme_id, "survey_id": survey_id, "partner_id": partner_id, "groups": by_group}
