"""Evaluation aggregates, folded from their own events: a participant's outcome record
with one partner, a feedback entry, a co-production assessment, a tracker item and an
evaluation report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType

from pathways.core.commands import AggregateType
from pathways.core.schemas import EventData

from pathways_evaluation.domain.events import (
    CoProductionAssessed,
    DevelopmentProposed,
    DevelopmentStatusSet,
    EvaluationReportPublished,
    FeedbackSubmitted,
    OutcomeMeasured,
)


@dataclass(frozen=True)
class OutcomeRecord:
    """What the rules need of a participant's questionnaires with one partner."""

    measurement_ids: frozenset[str] = frozenset()
    baselines: Mapping[str, date] = field(default_factory=lambda: MappingProxyType({}))


def _evolve_outcomes(state: OutcomeRecord, event: EventData) -> OutcomeRecord:
    if not isinstance(event, OutcomeMeasured):
        return state
    baselines = dict(state.baselines)
    if event.timepoint == "baseline":
        baselines[event.instrument] = event.measured_on
    return OutcomeRecord(
        state.measurement_ids | {event.measurement_id}, MappingProxyType(baselines)
    )


@dataclass(frozen=True)
class Recorded:
    """A write-once record (feedback, assessment, report): all a rule asks is whether it
    exists already, and who made it."""

    exists: bool = False
    by: str = ""


def _write_once(by: str) -> Callable[[Recorded, EventData], Recorded]:
    def evolve(_: Recorded, event: EventData) -> Recorded:
        return Recorded(True, str(getattr(event, by)))

    return evolve


@dataclass(frozen=True)
class Development:
    proposed: bool = False
    status: str = ""


def _evolve_development(state: Development, event: EventData) -> Development:
    if isinstance(event, DevelopmentProposed):
        return Development(True, event.status)
    if isinstance(event, DevelopmentStatusSet):
        return replace(state, status=event.to_status)
    return state


OUTCOME_RECORD = AggregateType(
    "outcome record", OutcomeRecord(), _evolve_outcomes, (OutcomeMeasured,)
)
FEEDBACK = AggregateType(
    "feedback entry", Recorded(), _write_once("partner_id"), (FeedbackSubmitted,)
)
ASSESSMENT = AggregateType(
    "co-production assessment", Recorded(), _write_once("assessor_id"), (CoProductionAssessed,)
)
DEVELOPMENT = AggregateType(
    "development", Development(), _evolve_development, (DevelopmentProposed, DevelopmentStatusSet)
)
REPORT = AggregateType(
    "evaluation report", Recorded(), _write_once("published_by"), (EvaluationReportPublished,)
)
