"""Registry aggregates: the state each decision needs, folded from its events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from pathways.core.commands import AggregateType
from pathways.core.schemas import EventData
from pathways.policy.consent import SINGLE_FLAG, TAKING_PART

from pathways_registry.domain.events import (
    ConsentRecorded,
    ConsentWithdrawn,
    CoProducerRegistered,
    DataSharingAgreementEnded,
    DataSharingAgreementRecorded,
    OrganisationRegistered,
    ParticipantCompleted,
    ParticipantDataErased,
    ParticipantEnrolled,
    ParticipantReferred,
    ParticipantTransitioned,
    ParticipantWithdrawn,
    PartnerCommissioned,
    ProgrammeLaunched,
    ReferralAccepted,
    ReferralDeclined,
    RetentionRuleSet,
    SafeguardingLeadAppointed,
    SafeguardingLeadStoodDown,
    TargetSet,
)


@dataclass(frozen=True)
class Organisation:
    registered: bool = False
    name: str = ""
    kind: str = ""


def _evolve_organisation(state: Organisation, event: EventData) -> Organisation:
    if isinstance(event, OrganisationRegistered):
        return Organisation(True, event.name, event.kind)
    return state


@dataclass(frozen=True)
class Contract:
    contract_id: str
    partner_id: str
    budget_pence: int
    starts_on: date
    ends_on: date


@dataclass(frozen=True)
class Agreement:
    """A data-sharing agreement as its rules need it (pathways_registry.domain.sharing)."""

    data: tuple[str, ...]
    starts_on: date
    ends_on: date
    ended: bool = False


@dataclass(frozen=True)
class Programme:
    launched: bool = False
    commissioner_id: str = ""
    name: str = ""
    starts_on: date = date.min
    ends_on: date = date.min
    budget_pence: int = 0
    contracts: tuple[Contract, ...] = ()
    safeguarding_leads: frozenset[str] = frozenset()  # organisations (pathways_registry.domain.safeguarding)
    retention_years: int | None = None  # personal details kept until this many years after it ends
    agreements: Mapping[str, Agreement] = field(default_factory=dict)  # by id

    @property
    def committed_pence(self) -> int:
        return sum(c.budget_pence for c in self.contracts)

    def contracts_of(self, partner_id: str) -> list[Contract]:
        return [c for c in self.contracts if c.partner_id == partner_id]


def _evolve_programme(state: Programme, event: EventData) -> Programme:
    if isinstance(event, ProgrammeLaunched):
        return Programme(
            True, event.commissioner_id, event.name, event.starts_on, event.ends_on, event.budget_pence
        )
    if isinstance(event, PartnerCommissioned):
        contract = Contract(
            event.contract_id, event.partner_id, event.budget_pence, event.starts_on, event.ends_on
        )
        return replace(state, contracts=(*state.contracts, contract))
    if isinstance(event, SafeguardingLeadAppointed):
        return replace(state, safeguarding_leads=state.safeguarding_leads | {event.organisation_id})
    if isinstance(event, DataSharingAgreementRecorded):
        held = Agreement(tuple(event.data), event.starts_on, event.ends_on)
        return replace(state, agreements={**state.agreements, event.agreement_id: held})
    if isinstance(event, DataSharingAgreementEnded) and event.agreement_id in state.agreements:
        ended = replace(state.agreements[event.agreement_id], ended=True)
        return replace(state, agreements={**state.agreements, event.agreement_id: ended})
    if isinstance(event, RetentionRuleSet):
        return replace(state, retention_years=event.years_after_end)
    if isinstance(event, SafeguardingLeadStoodDown):
        return replace(state, safeguarding_leads=state.safeguarding_leads - {event.organisation_id})
    return state


@dataclass(frozen=True)
class Enrolment:
    """One person's journey with one partner in one programme: referred, accepted
    (waiting) or declined, enrolled, then withdrawn or completed. One stream per person
    and partner, so a referral and the enrolment that takes it up are decided together."""

    enrolled: bool = False
    setting: str = ""
    consents: frozenset[str] = frozenset()  # the purposes consented to (pathways.policy.consent)
    withdrawn: bool = False
    erased: bool = False
    completed: bool = False
    referral_id: str = ""  # the latest referral
    referral_status: str = ""  # "" (none) | referred | accepted | declined | enrolled
    referred_on: date = date.min
    referrals: tuple[str, ...] = ()  # every referral id used for this person and partner: never used again
    enrolled_on: date = date.min  # the latest enrolment

    @property
    def consent(self) -> bool:
        """Consent to taking part: what recording anything about the person needs."""
        return TAKING_PART in self.consents

    @property
    def referral_open(self) -> bool:
        return self.referral_status in ("referred", "accepted")

    @property
    def ended(self) -> bool:
        """Withdrawn or completed: nothing more is recorded on it until they are enrolled again."""
        return self.withdrawn or self.completed


def _evolve_enrolment(state: Enrolment, event: EventData) -> Enrolment:
    if isinstance(event, ParticipantEnrolled):
        taken_up = event.referral_id is not None and event.referral_id == state.referral_id
        consents = frozenset(SINGLE_FLAG) if event.consent_given else frozenset()
        return Enrolment(True, event.setting, consents, referral_id=state.referral_id,
                         referral_status="enrolled" if taken_up else state.referral_status, referred_on=state.referred_on,
                         referrals=state.referrals, enrolled_on=event.enrolled_on)
    if isinstance(event, ParticipantReferred):
        return replace(state, referral_id=event.referral_id, referral_status="referred", referred_on=event.referred_on,
                       referrals=(*state.referrals, event.referral_id))
    if isinstance(event, ReferralAccepted):
        return replace(state, referral_status="accepted")
    if isinstance(event, ReferralDeclined):
        return replace(state, referral_status="declined")
    if isinstance(event, ConsentRecorded):
        return replace(state, consents=state.consents | set(event.purposes))
    if isinstance(event, ConsentWithdrawn):
        return replace(state, consents=state.consents - set(event.purposes))
    if isinstance(event, ParticipantTransitioned):
        return replace(state, setting=event.to_setting)
    if isinstance(event, ParticipantWithdrawn):
        return replace(state, withdrawn=True)
    if isinstance(event, ParticipantCompleted):
        return replace(state, completed=True)
    if isinstance(event, ParticipantDataErased):
        return replace(state, erased=True)
    return state


@dataclass(frozen=True)
class CoProducer:
    registered: bool = False


def _evolve_co_producer(state: CoProducer, event: EventData) -> CoProducer:
    return CoProducer(True) if isinstance(event, CoProducerRegistered) else state


ORGANISATION = AggregateType("organisation", Organisation(), _evolve_organisation, (OrganisationRegistered,))
PROGRAMME = AggregateType(
    "programme", Programme(), _evolve_programme,
    (ProgrammeLaunched, PartnerCommissioned, TargetSet, SafeguardingLeadAppointed, SafeguardingLeadStoodDown,
     RetentionRuleSet, DataSharingAgreementRecorded, DataSharingAgreementEnded),
)
ENROLMENT = AggregateType(
    "participant enrolment",
    Enrolment(),
    _evolve_enrolment,
    (ParticipantEnrolled, ConsentRecorded, ConsentWithdrawn, ParticipantTransitioned, ParticipantWithdrawn,
     ParticipantDataErased, ParticipantCompleted, ParticipantReferred, ReferralAccepted, ReferralDeclined),
)

CO_PRODUCER = AggregateType("co-producer", CoProducer(), _evolve_co_producer, (CoProducerRegistered,))
