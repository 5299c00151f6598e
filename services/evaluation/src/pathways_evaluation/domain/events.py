"""Evaluation events: outcomes measured, feedback given, co-production assessed, the
"you said, we did" tracker, and published evaluation reports."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pathways.core.ids import Id
from pathways.core.schemas import EventData, SchemaRegistry
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from pathways_evaluation.domain.scoring import Instrument

schemas = SchemaRegistry()
event = schemas.event("evaluation")

Timepoint = Literal["baseline", "follow_up"]
Respondent = Literal["participant", "co_producer", "carer", "staff"]
RaisedBy = Literal["participants", "co_producers", "carers", "staff"]
Status = Literal["red", "amber", "green"]
Level = Literal[1, 2, 3]
LadderRung = Literal[
    "coercion", "educating", "informing", "consultation", "engagement", "co_design", "co_production"
]

# The three levels of co-production maturity (the rehabilitation paper's Figure 1).
LEVEL_NAMES: dict[int, str] = {
    1: "laying the foundations",
    2: "identifying and building skills",
    3: "working in partnership",
}


class TokenismChecklist(BaseModel):
    """Signs that involvement was tokenistic (the festival blog's checklist): true where
    the sign was seen. Every item must be answered, so "not seen" is never a missing box."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    not_involved_until_the_end: StrictBool = Field(description="Not involved until the end")
    solution_already_decided: StrictBool = Field(description="Solution already decided")
    suggestions_rejected_as_not_fitting: StrictBool = Field(
        description="Suggestions rejected as not fitting"
    )
    not_reflected_in_final_service: StrictBool = Field(description="Not reflected in final service")
    consulted_and_never_heard_of_again: StrictBool = Field(
        description="Consulted and never heard of again"
    )
    no_expenses_or_fee: StrictBool = Field(description="No expenses or fee")
    too_little_notice_or_impossible_times: StrictBool = Field(
        description="Too little notice or impossible times"
    )
    inaccessible_venue: StrictBool = Field(description="Inaccessible venue")
    key_stakeholders_absent: StrictBool = Field(description="Key stakeholders absent")
    comments_not_documented: StrictBool = Field(description="Comments not documented")

    def seen(self) -> list[str]:
        """The items ticked, in checklist order."""
        return [name for name, value in self.model_dump().items() if value]


@event
class OutcomeMeasured(EventData):
    """A wellbeing questionnaire a participant completed, scored by the platform."""

    programme_id: Id
    participant_id: Id
    partner_id: Id
    measurement_id: Id
    instrument: Instrument
    timepoint: Timepoint
    measured_on: date
    answers: list[int]
    raw_score: int = Field(ge=7, le=70)
    metric_score: Decimal = Field(ge=7, le=70, decimal_places=2)


@event
class FeedbackSubmitted(EventData):
    """A rating and comment from someone taking part, gathered by a partner."""

    programme_id: Id
    feedback_id: Id
    partner_id: Id
    respondent: Respondent
    activity: str | None
    rating: int = Field(ge=1, le=5)
    comment: str


@event
class CoProductionAssessed(EventData):
    """An evaluator's or commissioner's evidence of how far a partner co-produces."""

    programme_id: Id
    assessment_id: Id
    partner_id: Id
    assessor_id: Id
    assessed_on: date
    level: Level
    level_name: str
    ladder_rung: LadderRung
    tokenism: TokenismChecklist
    tokenism_flags: int = Field(ge=0, le=10)
    evidence: str


@event
class DevelopmentProposed(EventData):
    """ "You said": something raised, and what the proposer will do about it."""

    programme_id: Id
    development_id: Id
    proposed_by: Id
    you_said: str
    raised_by: RaisedBy
    we_will: str
    status: Status


@event
class DevelopmentStatusSet(EventData):
    """Progress on a "you said, we did" item; green carries what was done."""

    programme_id: Id
    development_id: Id
    proposed_by: Id
    from_status: Status
    to_status: Status
    we_did: str | None


@event
class EvaluationReportPublished(EventData):
    """An evaluation report on a period of the programme; the document itself stays
    outside the stream, identified by its SHA-256."""

    programme_id: Id
    report_id: Id
    published_by: Id
    title: str
    period_start: date
    period_end: date
    summary: str
    findings: list[str]
    document_sha256: str | None
