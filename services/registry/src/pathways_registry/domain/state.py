"""Registry aggregates: the state each decision needs, folded from its events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from pathways.commands import AggregateType
from pathways.schemas import EventData

from pathways_registry.domain.events import (
    ConsentRecorded,
    ConsentWithdrawn,
    CoProducerRegistered,
    OrganisationRegistered,
    ParticipantDataErased,
    ParticipantEnrolled,
    ParticipantTransitioned,
    ParticipantWithdrawn,
    PartnerCommissioned,
    ProgrammeLaunched,
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
class Programme:
    launched: bool = False
    commissioner_id: str = ""
    name: str = ""
    starts_on: date = date.min
    ends_on: date = date.min
    budget_pence: int = 0
    contracts: tuple[Contract, ...] = ()

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
    return state


@dataclass(frozen=True)
class Enrolment:
    """One participant's enrolment with one partner in one programme."""

    enrolled: bool = False
    setting: str = ""
    consent: bool = False
    withdrawn: bool = False
    erased: bool = False


def _evolve_enrolment(state: Enrolment, event: EventData) -> Enrolment:
    if isinstance(event, ParticipantEnrolled):
        return Enrolment(True, event.setting, event.consent_given, False)
    if isinstance(event, ConsentRecorded):
        return replace(state, consent=True)
    if isinstance(event, ConsentWithdrawn):
        return replace(state, consent=False)
    if isinstance(event, ParticipantTransitioned):
        return replace(state, setting=event.to_setting)
    if isinstance(event, ParticipantWithdrawn):
        return replace(state, withdrawn=True)
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
    "programme", Programme(), _evolve_programme, (ProgrammeLaunched, PartnerCommissioned)
)
ENROLMENT = AggregateType(
    "participant enrolment",
    Enrolment(),
    _evolve_enrolment,
    (ParticipantEnrolled, ConsentRecorded, ConsentWithdrawn, ParticipantTransitioned, ParticipantWithdrawn,
     ParticipantDataErased),
)
CO_PRODUCER = AggregateType("co-producer", CoProducer(), _evolve_co_producer, (CoProducerRegistered,))
