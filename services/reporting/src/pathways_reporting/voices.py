"""The service user perspective from people's own answers: the surveys they answered from
one-time links (pathways.core.surveys), counted as the answers arrive, and what they said in
their own words.

- One row of counters per programme, partner, survey, group, question and day: how many
  answered the question and the sum of their answers (a yes is 1, so for a yes/no question
  the sum is how many said yes). The row with no question counts the people who answered
  at all and the links issued, so "how many people answered" is read, never recounted.
- A link issued by the evaluator or the commissioner about the whole programme is kept
  under no partner: it shows when no partner is chosen.
- Each group (participants, co-producers, partners' staff, the commissioner's) is kept apart,
  so the tokenism checklist can be shown group beside group, as the festival blog asks."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING, Any

from pathways.core import surveys
from pathways.core.envelope import CloudEvent
from pathways.core.projection import Rows, Tables, upsert
from pathways.core.rows import accumulate
from sqlalchemy import String, Table, Text, func, select
from sqlmodel import Field, SQLModel

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from pathways_reporting.figures import Filters

Id = String(64)
WHOLE_PROGRAMME = ""  # the partner of a link about the programme as a whole
RESPONSE = ""  # the question of the row that counts responses and links
QUOTED = 6


class SurveyDay(SQLModel, table=True):
    __tablename__ = "reporting_survey_day"
    __table_args__ = {"info": {"accumulate": {"issued": "sum", "answered": "sum", "total": "sum"}}}
    programme_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(primary_key=True, sa_type=Id)
    survey_id: str = Field(primary_key=True, sa_type=Id)
    group: str = Field(primary_key=True, sa_type=String(16))
    question_id: str = Field(primary_key=True, sa_type=String(64))
    day: date = Field(primary_key=True)
    issued: int = 0  # links issued that day (on the response row)
    answered: int = 0  # people who answered (the response row) or answered this question
    total: int = 0  # the sum of their answers to it


class SurveyComment(SQLModel, table=True):
    __tablename__ = "reporting_survey_comment"
    programme_id: str = Field(primary_key=True, sa_type=Id)
    issued_by: str = Field(primary_key=True, sa_type=Id)
    link_id: str = Field(primary_key=True, sa_type=Id)
    partner_id: str = Field(sa_type=Id)
    survey_id: str = Field(sa_type=Id)
    group: str = Field(sa_type=String(16))
    comment: str = Field(sa_type=Text)
    given_on: date


def _t(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


DAYS, COMMENTS = _t(SurveyDay), _t(SurveyComment)
DAYS.dialect_options["sqlite"]["with_rowid"] = False  # counters read with their key (answers.py)
TABLES = [DAYS, COMMENTS]


def _key(d: dict[str, Any], day: date) -> dict[str, Any]:
    return {"programme_id": d["programme_id"], "partner_id": d.get("partner_id") or WHOLE_PROGRAMME,
            "survey_id": d["survey_id"], "group": d["group"], "day": day}


def link_issued(conn: Rows, t: Tables, event: CloudEvent, d: dict[str, Any], __: int) -> None:
    accumulate(conn, t[DAYS.name], _key(d, event.time.date()) | {"question_id": RESPONSE, "issued": 1})


def survey_answered(conn: Rows, t: Tables, event: CloudEvent, d: dict[str, Any], __: int) -> None:
    key = _key(d, event.time.date())
    accumulate(conn, t[DAYS.name], key | {"question_id": RESPONSE, "answered": 1})
    for question, value in (d.get("answers") or {}).items():
        accumulate(conn, t[DAYS.name], key | {"question_id": question, "answered": 1, "total": int(value)})
    if d.get("comment"):
        upsert(conn, t[COMMENTS.name], {k: d[k] for k in ("programme_id", "issued_by", "link_id", "survey_id", "group")}
               | {"partner_id": key["partner_id"], "comment": d["comment"], "given_on": key["day"]},
               ["programme_id", "issued_by", "link_id"])


def voices(conn: Connection, programme_id: str, f: Filters) -> dict[str, Any]:
    """Each survey answered in the period: per group, how many people answered (and how many
    links went out), and per question how many answered it with the mean (a rating) or the
    share who said yes; and the latest things people taking part and co-producers said. A
    partner chosen (or a partner's own view): that partner's links only."""
    s = DAYS
    where = [s.c.programme_id == programme_id, *f.dated(s.c.day)]
    if f.partner_id:
        where.append(s.c.partner_id == f.partner_id)
    counters = [func.coalesce(func.sum(column), 0) for column in (s.c.issued, s.c.answered, s.c.total)]
    sums = conn.execute(select(s.c.survey_id, s.c.group, s.c.question_id, *counters).where(*where)
                        .group_by(s.c.survey_id, s.c.group, s.c.question_id))
    found: dict[str, dict[str, Any]] = defaultdict(lambda: {"groups": {}, "questions": defaultdict(dict)})
    for survey_id, group, question, issued, answered, total in sums:
        if question == RESPONSE:
            found[survey_id]["groups"][group] = {"answered": int(answered), "issued": int(issued)}
        elif answered:
            found[survey_id]["questions"][question][group] = (int(answered), int(total))
    shown = [_survey(survey_id, counts) for survey_id, counts in sorted(found.items())]
    c = COMMENTS
    said = [c.c.programme_id == programme_id, c.c.group.in_(surveys.PEOPLE), *f.dated(c.c.given_on)]
    if f.partner_id:
        said.append(c.c.partner_id == f.partner_id)
    quoted = [{"comment": r.comment, "group": r.group, "survey_id": r.survey_id, "given_on": r.given_on.isoformat()}
              for r in conn.execute(select(c).where(*said).order_by(c.c.given_on.desc(), c.c.link_id).limit(QUOTED))]
    people = sum(g.get("answered", 0) for survey in shown for name, g in survey["groups"].items()
                 if name in surveys.PEOPLE)
    return {"surveys": shown, "people_answered": people, "quoted": quoted}


def _survey(survey_id: str, counts: dict[str, Any]) -> dict[str, Any]:
    definition = surveys.latest(survey_id)
    groups = [g for g in surveys.GROUPS if g in counts["groups"]]
    questions = []
    asked = [q.id for q in definition.questions] if definition else []
    for question_id in [*asked, *sorted(set(counts["questions"]) - set(asked))]:  # older versions' questions last
        by_group = counts["questions"].get(question_id)
        if not by_group:
            continue
        q = definition.question(question_id) if definition else None
        kind = definition.scales[q.scale].kind if definition and q else "rating"
        figures = {g: {"answered": n, "mean" if kind == "rating" else "share_yes": round(total / n, 3)}
                   for g, (n, total) in by_group.items()}
        top = max(definition.scales[q.scale].values()) if definition and q else None
        questions.append({"question_id": question_id, "text": q.text if q else question_id.replace("_", " "),
                          "kind": kind, "out_of": top, "by_group": figures})
    return {"survey_id": survey_id, "title": definition.title if definition else survey_id,
            "groups": {g: counts["groups"][g] for g in groups}, "questions": questions}
