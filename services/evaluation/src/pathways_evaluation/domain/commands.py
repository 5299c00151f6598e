"""Evaluation commands: what partners, evaluators and commissioners send. Schema-level
checks (shapes, answer counts, ranges) live here so a malformed questionnaire is
`invalid` before any rule is asked."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pathways.core.ids import Id
from pathways.core.schemas import CommandData
from pydantic import AfterValidator, Field, StrictInt, StringConstraints, model_validator

from pathways_evaluation.domain import scoring
from pathways_evaluation.domain.events import (
    LadderRung,
    Level,
    RaisedBy,
    Respondent,
    Status,
    Timepoint,
    TokenismChecklist,
)
from pathways_evaluation.domain.events import schemas as schemas  # commands join its registry
from pathways_evaluation.domain.scoring import Instrument

command = schemas.command("evaluation")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Answer = Annotated[StrictInt, Field(ge=scoring.LOWEST_ANSWER, le=scoring.HIGHEST_ANSWER)]
# Upper- or lower-case hex accepted; stored lower-case so one document has one digest.
Sha256 = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[0-9a-fA-F]{64}$"),
    AfterValidator(str.lower),
]

# Fields a caller might think it should send; naming them gets a clearer answer than the
# generic "extra inputs are not permitted".
_SCORE_FIELDS = ("raw_score", "metric_score", "score", "total")


@command
class RecordOutcome(CommandData):
    """Record a completed WEMWBS (14 items) or SWEMWBS (7 items) questionnaire. Send the
    item answers only: the platform computes the scores."""

    programme_id: Id
    participant_id: Id
    measurement_id: Id
    instrument: Instrument
    timepoint: Timepoint
    measured_on: date
    answers: list[Answer] = Field(min_length=7, max_length=14)

    @model_validator(mode="before")
    @classmethod
    def _no_scores_from_the_caller(cls, data: Any) -> Any:
        if isinstance(data, dict):
            sent = [f for f in _SCORE_FIELDS if f in data]
            if sent:
                raise ValueError(
                    f"scores are computed by the platform from the item answers; "
                    f"leave out {', '.join(sent)}"
                )
        return data

    @model_validator(mode="after")
    def _answers_fit_the_instrument(self) -> RecordOutcome:
        problem = scoring.answer_problem(self.instrument, self.answers)
        if problem is not None:
            raise ValueError(problem)
        return self


@command
class SubmitFeedback(CommandData):
    """Record a rating (1 poor to 5 excellent) and comment from someone taking part."""

    programme_id: Id
    feedback_id: Id
    respondent: Respondent
    activity: Text | None = None
    rating: StrictInt = Field(ge=1, le=5)
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


@command
class AssessCoProduction(CommandData):
    """Record how far a partner co-produces: the maturity level, the rung of the ladder of
    participation, the tokenism checklist (every item answered) and the evidence."""

    programme_id: Id
    assessment_id: Id
    partner_id: Id
    assessed_on: date
    level: Level
    ladder_rung: LadderRung
    tokenism: TokenismChecklist
    evidence: LongText


@command
class ProposeDevelopment(CommandData):
    """Put a "you said" item on the tracker with what the proposer will do about it."""

    programme_id: Id
    development_id: Id
    you_said: LongText
    raised_by: RaisedBy
    we_will: LongText


@command
class SetDevelopmentStatus(CommandData):
    """Move one of your own tracker items to red, amber or green; green says what was done."""

    programme_id: Id
    development_id: Id
    status: Status
    we_did: LongText | None = None


@command
class PublishEvaluationReport(CommandData):
    """Publish an evaluation report on a period of the programme."""

    programme_id: Id
    report_id: Id
    title: Text
    period_start: date
    period_end: date
    summary: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)
    ]
    findings: list[LongText] = Field(min_length=1, max_length=50)
    document_sha256: Sha256 | None = None
