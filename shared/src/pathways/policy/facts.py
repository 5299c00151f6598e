"""The registry's facts as a service's rules read them: plain values, no database.

A service learns them from the registry's events into its own copy of the programme
directory (pathways.policy.directory) and hands them to its pure decide functions, which import
this module and nothing that reaches a database or NATS."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class OrganisationFacts:
    organisation_id: str
    name: str
    kind: str


@dataclass(frozen=True)
class ProgrammeFacts:
    programme_id: str
    commissioner_id: str
    starts_on: date
    ends_on: date
    budget_pence: int


@dataclass(frozen=True)
class ContractFacts:
    programme_id: str
    contract_id: str
    partner_id: str
    budget_pence: int
    activities: tuple[str, ...]
    starts_on: date
    ends_on: date

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


@dataclass(frozen=True)
class EnrolmentFacts:
    participant_id: str
    partner_id: str
    setting: str
    consent: bool  # to taking part: what recording attendance, outcomes or feedback needs
    active: bool
    consents: frozenset[str] = frozenset()  # every purpose consented to (pathways.policy.consent)


@dataclass(frozen=True)
class CoProducerFacts:
    co_producer_id: str
    engaged_by: str
    role: str
    hourly_rate_pence: int
    receives_benefits: bool


@dataclass(frozen=True)
class Ineligible:
    """Participants a partner may not record anything for, and why."""

    not_enrolled: tuple[str, ...]
    withdrawn: tuple[str, ...]
    without_consent: tuple[str, ...]
    purpose: str = "taking_part"  # what the consent was needed for

    def __bool__(self) -> bool:
        return bool(self.not_enrolled or self.withdrawn or self.without_consent)

    def explain(self, partner_id: str) -> str:
        parts = []
        if self.not_enrolled:
            parts.append(f"not enrolled with '{partner_id}': {', '.join(self.not_enrolled)}")
        if self.withdrawn:
            parts.append(f"withdrawn or completed: {', '.join(self.withdrawn)}")
        if self.without_consent:
            needed = "" if self.purpose == "taking_part" else f" to {self.purpose.replace('_', ' ')}"
            parts.append(f"without consent{needed} on record: {', '.join(self.without_consent)}")
        return "; ".join(parts)


def ineligible(participant_ids: Iterable[str], enrolments: Mapping[str, EnrolmentFacts],
               purpose: str = "taking_part") -> Ineligible:
    """Who, of `participant_ids`, is not actively enrolled with the partner whose
    enrolments these are, or does not consent to `purpose` (taking part, unless the use
    needs another: a showcase needs photographs_and_showcases)."""
    ids = list(participant_ids)

    def consents(p: str) -> bool:
        facts = enrolments[p]
        return facts.consent if purpose == "taking_part" else purpose in facts.consents

    return Ineligible(
        tuple(p for p in ids if p not in enrolments),
        tuple(p for p in ids if p in enrolments and not enrolments[p].active),
        tuple(p for p in ids if p in enrolments and enrolments[p].active and not consents(p)),
        purpose,
    )
