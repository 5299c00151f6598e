"""Evaluation rules as pure functions. Facts about the programme (who commissions it,
which partners hold contracts, who is enrolled and consenting, which organisations are
evaluators) come from the service's own directory view, passed in as facts."""

from __future__ import annotations

from pathways.core.commands import CommandContext, Decision, NoFacts
from pathways.core.replies import RejectionCode, no_such_programme, reject
from pathways.policy.facts import ineligible

from pathways_evaluation.domain import commands as c
from pathways_evaluation.domain import events as e
from pathways_evaluation.domain import facts as f
from pathways_evaluation.domain import scoring
from pathways_evaluation.domain.state import Development, OutcomeRecord, Recorded


def record_outcome(
    cmd: c.RecordOutcome, ctx: CommandContext, record: OutcomeRecord, facts: f.OutcomeFacts
) -> Decision:
    if not facts.contracts:
        programme = facts.programme
        if programme is None or programme.commissioner_id != ctx.organisation:
            return no_such_programme(cmd.programme_id)  # a stranger learns nothing of it
        return _not_commissioned(ctx.organisation, cmd.programme_id, "record outcomes")
    refused = ineligible([cmd.participant_id], facts.enrolments)
    if refused:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Outcomes can only be recorded for participants enrolled with '{ctx.organisation}' "
            f"who consent; {refused.explain(ctx.organisation)}.",
            field="participant_id",
        )
    if cmd.measurement_id in record.measurement_ids:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Measurement '{cmd.measurement_id}' is already recorded for participant "
            f"'{cmd.participant_id}'. Give each completed questionnaire its own measurement id.",
            field="measurement_id",
        )
    baseline = record.baselines.get(cmd.instrument)
    if cmd.timepoint == "baseline" and baseline is not None:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Participant '{cmd.participant_id}' already has a {cmd.instrument} baseline, "
            f"measured on {baseline}. Record later questionnaires as follow-ups.",
            field="timepoint",
        )
    if cmd.timepoint == "follow_up" and baseline is None:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"A {cmd.instrument} follow-up can only be recorded after a baseline, and participant "
            f"'{cmd.participant_id}' has no {cmd.instrument} baseline with '{ctx.organisation}'. "
            "Record the baseline first.",
            field="timepoint",
        )
    if cmd.timepoint == "follow_up" and baseline is not None and cmd.measured_on < baseline:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"The follow-up is dated {cmd.measured_on}, before the {cmd.instrument} baseline "
            f"on {baseline}. A follow-up must be on or after the baseline date.",
            field="measured_on",
        )
    score = scoring.score(cmd.instrument, cmd.answers)
    return [
        e.OutcomeMeasured(
            **cmd.model_dump(),
            partner_id=ctx.organisation,
            raw_score=score.raw,
            metric_score=score.metric,
        )
    ]


def submit_feedback(
    cmd: c.SubmitFeedback, ctx: CommandContext, feedback: Recorded, facts: f.TakingPart
) -> Decision:
    if not _takes_part(ctx.organisation, facts):
        return no_such_programme(cmd.programme_id)  # neither commissioned for it nor its commissioner
    if feedback.exists:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Feedback '{cmd.feedback_id}' is already recorded. Give each response its own id.",
            field="feedback_id",
        )
    return [e.FeedbackSubmitted(**cmd.model_dump(), partner_id=ctx.organisation)]


def assess_co_production(
    cmd: c.AssessCoProduction, ctx: CommandContext, assessment: Recorded, facts: f.AssessmentFacts
) -> Decision:
    refusal = _check_evaluator_or_commissioner(
        ctx.organisation, cmd.programme_id, facts, "record a co-production assessment"
    )
    if refusal is not None:
        return refusal
    if not facts.partner_contracts:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Organisation '{cmd.partner_id}' holds no contract in programme '{cmd.programme_id}', "
            "so its co-production cannot be assessed there.",
            field="partner_id",
        )
    existing = facts.existing
    if assessment.exists or existing.exists:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Co-production assessment '{cmd.assessment_id}' is already recorded "
            f"(by '{existing.by or assessment.by}'). Choose a new assessment id.",
            field="assessment_id",
        )
    return [
        e.CoProductionAssessed(
            **cmd.model_dump(),
            assessor_id=ctx.organisation,
            level_name=e.LEVEL_NAMES[cmd.level],
            tokenism_flags=len(cmd.tokenism.seen()),
        )
    ]


def propose_development(
    cmd: c.ProposeDevelopment, ctx: CommandContext, development: Development, facts: f.TakingPart
) -> Decision:
    if not _takes_part(ctx.organisation, facts):
        return no_such_programme(cmd.programme_id)  # neither commissioned for it nor its commissioner
    if development.proposed:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Development '{cmd.development_id}' is already on the tracker; change its status "
            "instead.",
            field="development_id",
        )
    return [e.DevelopmentProposed(**cmd.model_dump(), proposed_by=ctx.organisation, status="red")]


def set_development_status(
    cmd: c.SetDevelopmentStatus, ctx: CommandContext, development: Development, _: NoFacts
) -> Decision:
    if not development.proposed:
        return reject(
            RejectionCode.NOT_FOUND,
            f"There is no development '{cmd.development_id}' proposed by '{ctx.organisation}' "
            f"in programme '{cmd.programme_id}'. Only the organisation that proposed it can "
            "update it.",
        )
    if development.status == cmd.status:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Development '{cmd.development_id}' is already {cmd.status}.",
            field="status",
        )
    if cmd.status == "green" and cmd.we_did is None:
        return reject(
            RejectionCode.RULE_VIOLATION,
            "A development can only turn green with a 'we did' description of what was done.",
            field="we_did",
        )
    return [
        e.DevelopmentStatusSet(
            programme_id=cmd.programme_id,
            development_id=cmd.development_id,
            proposed_by=ctx.organisation,
            from_status=development.status,
            to_status=cmd.status,
            we_did=cmd.we_did,
        )
    ]


def publish_report(
    cmd: c.PublishEvaluationReport, ctx: CommandContext, report: Recorded, facts: f.ReportFacts
) -> Decision:
    refusal = _check_evaluator_or_commissioner(
        ctx.organisation, cmd.programme_id, facts, "publish an evaluation report"
    )
    if refusal is not None:
        return refusal
    programme = facts.programme
    assert programme is not None  # _check_evaluator_or_commissioner refused the command otherwise
    if cmd.period_start > cmd.period_end:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"The report period starts on {cmd.period_start}, after it ends on {cmd.period_end}.",
            field="period_start",
        )
    if cmd.period_start < programme.starts_on or cmd.period_end > programme.ends_on:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"The report period {cmd.period_start} to {cmd.period_end} must lie within the "
            f"programme's dates, {programme.starts_on} to {programme.ends_on}.",
            field="period_end" if cmd.period_end > programme.ends_on else "period_start",
        )
    existing = facts.existing
    if report.exists or existing.exists:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Evaluation report '{cmd.report_id}' is already published (by "
            f"'{existing.by or report.by}'). Choose a new report id.",
            field="report_id",
        )
    return [e.EvaluationReportPublished(**cmd.model_dump(), published_by=ctx.organisation)]


def _takes_part(organisation: str, facts: f.TakingPart) -> bool:
    """A commissioned partner, or the programme's commissioner."""
    programme = facts.programme
    commissioner = programme is not None and programme.commissioner_id == organisation
    return bool(facts.contracts) or commissioner


def _check_evaluator_or_commissioner(
    organisation: str, programme_id: str, facts: f.Evaluating, action: str
) -> Decision | None:
    programme = facts.programme
    if programme is None:
        return no_such_programme(programme_id)
    sender = facts.sender
    if programme.commissioner_id == organisation or (
        sender is not None and sender.kind == "evaluator"
    ):
        return None
    if not facts.contracts:
        return no_such_programme(programme_id)  # neither evaluator, nor its commissioner, nor commissioned for it
    return reject(
        RejectionCode.FORBIDDEN,
        f"Only an evaluator or the commissioner of programme '{programme_id}' can {action}; "
        f"organisation '{organisation}' is neither.",
    )


def _not_commissioned(organisation: str, programme_id: str, action: str) -> Decision:
    return reject(
        RejectionCode.FORBIDDEN,
        f"Organisation '{organisation}' is not commissioned for programme '{programme_id}', "
        f"so it cannot {action} there.",
    )


