"""What each evaluation rule is given beyond its target aggregate: the directory's facts
(consulted by handlers.py under these names) and, for reports and assessments, the same
id under any organisation, since those are cited programme-wide."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pathways.policy.facts import ContractFacts, EnrolmentFacts, OrganisationFacts, ProgrammeFacts

from pathways_evaluation.domain.state import Recorded


@dataclass(frozen=True, slots=True)
class TakingPart:
    """SubmitFeedback, ProposeDevelopment: the sender's contracts, and the programme (its
    commissioner takes part too)."""

    contracts: Sequence[ContractFacts]
    programme: ProgrammeFacts | None


@dataclass(frozen=True, slots=True)
class OutcomeFacts(TakingPart):
    """RecordOutcome: and the participant's enrolment with the sender."""

    enrolments: Mapping[str, EnrolmentFacts]


@dataclass(frozen=True, slots=True)
class Evaluating:
    """Whether the sender is an evaluator or the programme's commissioner; its contracts only
    shape a refusal (forbidden to a partner of the programme, not found to a stranger)."""

    programme: ProgrammeFacts | None
    sender: OrganisationFacts | None
    contracts: Sequence[ContractFacts]


@dataclass(frozen=True, slots=True)
class ReportFacts(Evaluating):
    """PublishEvaluationReport: and the report id under any organisation."""

    existing: Recorded


@dataclass(frozen=True, slots=True)
class AssessmentFacts(Evaluating):
    """AssessCoProduction: the assessment id under any organisation, and the assessed
    partner's contracts."""

    existing: Recorded
    partner_contracts: Sequence[ContractFacts]
