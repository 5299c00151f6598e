"""Which aggregate each evaluation command writes, which it reads, and what it consults in
the directory. Every write goes to a subject owned by the sender, so a partner's outcome
record and a proposer's tracker item can only ever be changed by that organisation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pathways.core.commands import AggregateType, CommandContext, CommandHandler, Load, handlers_by_name
from pathways.core.subjects import ANY_ORGANISATION, AggregateRef
from sqlalchemy import Connection

from pathways_evaluation.domain import commands as c
from pathways_evaluation.domain import decide, survey_rules
from pathways_evaluation.domain import facts as f
from pathways_evaluation.domain import surveys as s
from pathways_evaluation.domain.state import (
    ASSESSMENT,
    DEVELOPMENT,
    FEEDBACK,
    OUTCOME_RECORD,
    REPORT,
)
from pathways_evaluation.readmodel import DIRECTORY

CONTEXT = "evaluation"


Target = Callable[[Any, CommandContext], Load[Any]]
Reads = Callable[[Any, CommandContext], Mapping[str, Load[Any]]]


def _owned(aggregate: AggregateType[Any], id_field: str) -> Target:
    """The aggregate named by the command's `id_field`, under the sender's organisation."""

    def target(cmd: Any, ctx: CommandContext) -> Load[Any]:
        ref = AggregateRef(CONTEXT, cmd.programme_id, ctx.organisation, getattr(cmd, id_field))
        return Load(ref, aggregate)

    return target


def _anyone_s(aggregate: AggregateType[Any], id_field: str) -> Reads:
    """The same id under any organisation: reports and assessments are cited programme-wide,
    so their ids must not repeat whoever published them."""

    def reads(cmd: Any, _: CommandContext) -> Mapping[str, Load[Any]]:
        ref = AggregateRef(CONTEXT, cmd.programme_id, ANY_ORGANISATION, getattr(cmd, id_field))
        return {"existing": Load(ref, aggregate)}

    return reads


def _takes_part(cmd: Any, ctx: CommandContext, conn: Connection) -> Mapping[str, Any]:
    return {
        "contracts": DIRECTORY.contracts(conn, cmd.programme_id, ctx.organisation),
        "programme": DIRECTORY.programme(conn, cmd.programme_id),
    }


def _evaluator_or_commissioner(cmd: Any, ctx: CommandContext, conn: Connection) -> dict[str, Any]:
    return {
        "programme": DIRECTORY.programme(conn, cmd.programme_id),
        "sender": DIRECTORY.organisation(conn, ctx.organisation),
        # only for a refusal: forbidden to a partner of the programme, not found to a stranger
        "contracts": DIRECTORY.contracts(conn, cmd.programme_id, ctx.organisation),
    }


def _asking(cmd: s.IssueSurveyLink, ctx: CommandContext, conn: Connection) -> dict[str, Any]:
    partner = cmd.partner_id or ctx.organisation  # a partner's link is about its own work
    participant = [cmd.respondent_id] if cmd.group == "participant" and cmd.respondent_id else []
    co_producer = [cmd.respondent_id] if cmd.group == "co_producer" and cmd.respondent_id else []
    return _evaluator_or_commissioner(cmd, ctx, conn) | {
        "partner_contracts": DIRECTORY.contracts(conn, cmd.programme_id, cmd.partner_id) if cmd.partner_id else [],
        "enrolments": DIRECTORY.enrolments(conn, cmd.programme_id, partner, participant) if participant else {},
        "co_producers": DIRECTORY.co_producers(conn, cmd.programme_id, co_producer),
    }


HANDLERS = handlers_by_name(
    CommandHandler(
        c.RecordOutcome,
        target=_owned(OUTCOME_RECORD, "participant_id"),
        facts=f.OutcomeFacts,
        consults=lambda cmd, ctx, conn: {
            "contracts": DIRECTORY.contracts(conn, cmd.programme_id, ctx.organisation),
            "programme": DIRECTORY.programme(conn, cmd.programme_id),
            "enrolments": DIRECTORY.enrolments(
                conn, cmd.programme_id, ctx.organisation, [cmd.participant_id]
            ),
        },
        decide=decide.record_outcome,
    ),
    CommandHandler(
        c.SubmitFeedback,
        target=_owned(FEEDBACK, "feedback_id"),
        facts=f.TakingPart,
        consults=_takes_part,
        decide=decide.submit_feedback,
    ),
    CommandHandler(
        c.AssessCoProduction,
        target=_owned(ASSESSMENT, "assessment_id"),
        facts=f.AssessmentFacts,
        reads=_anyone_s(ASSESSMENT, "assessment_id"),
        consults=lambda cmd, ctx, conn: (
            _evaluator_or_commissioner(cmd, ctx, conn)
            | {
                "partner_contracts": DIRECTORY.contracts(conn, cmd.programme_id, cmd.partner_id),
            }
        ),
        decide=decide.assess_co_production,
    ),
    CommandHandler(
        c.ProposeDevelopment,
        target=_owned(DEVELOPMENT, "development_id"),
        facts=f.TakingPart,
        consults=_takes_part,
        decide=decide.propose_development,
    ),
    CommandHandler(
        c.SetDevelopmentStatus,
        target=_owned(DEVELOPMENT, "development_id"),
        decide=decide.set_development_status,
    ),
    CommandHandler(
        c.PublishEvaluationReport,
        target=_owned(REPORT, "report_id"),
        facts=f.ReportFacts,
        reads=_anyone_s(REPORT, "report_id"),
        consults=_evaluator_or_commissioner,
        decide=decide.publish_report,
    ),
    CommandHandler(
        s.IssueSurveyLink,
        target=_owned(s.SURVEY_LINK, "link_id"),
        facts=survey_rules.LinkFacts,
        consults=_asking,
        decide=survey_rules.issue_survey_link,
    ),
    CommandHandler(  # sent for the person by the answer page, as the link's issuer (survey_page.py)
        s.AnswerSurvey,
        target=_owned(s.SURVEY_LINK, "link_id"),
        facts=survey_rules.AnswerFacts,
        consults=lambda cmd, ctx, conn: {"enrolments": DIRECTORY.enrolled_anywhere(
            conn, cmd.programme_id, cmd.participant_id) if cmd.participant_id else []},
        decide=survey_rules.answer_survey,
    ),
)
