"""What each sessions rule is given beyond its target aggregate: the directory's facts
(the sender's contracts, the people it names), consulted by handlers.py under these names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pathways.policy.facts import ContractFacts, CoProducerFacts, EnrolmentFacts


@dataclass(frozen=True, slots=True)
class Scheduling:
    """ScheduleSession: the sender's contracts, and the co-facilitators it names."""

    contracts: Sequence[ContractFacts]
    co_producers: Mapping[str, CoProducerFacts]


@dataclass(frozen=True, slots=True)
class Attendance:
    """RecordSessionDelivered: the enrolments of everyone marked present or absent."""

    enrolments: Mapping[str, EnrolmentFacts]


@dataclass(frozen=True, slots=True)
class ShowcaseFacts:
    """HoldShowcase: the sender's contracts, and the participants it features."""

    contracts: Sequence[ContractFacts]
    enrolments: Mapping[str, EnrolmentFacts]
