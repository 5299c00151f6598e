"""What each registry rule is given beyond its target aggregate: the other aggregates it
reads, by the names handlers.py loads them under. Programmes are read by id whoever
commissioned them ("anywhere"), so a launch can see an id taken by someone else."""

from __future__ import annotations

from dataclasses import dataclass

from pathways_registry.domain.state import Organisation, Programme


@dataclass(frozen=True, slots=True)
class Launch:
    """LaunchProgramme: the sender's own registration, and the programme id wherever it is."""

    sender: Organisation
    programme_anywhere: Programme


@dataclass(frozen=True, slots=True)
class Commissioning:
    """CommissionPartner: the programme, and the partner organisation."""

    programme_anywhere: Programme
    partner: Organisation


@dataclass(frozen=True, slots=True)
class ProgrammeAnywhere:
    """SetTarget: the programme, whoever commissioned it."""

    programme_anywhere: Programme


@dataclass(frozen=True, slots=True)
class InProgramme:
    """The programme a command happens in: EnrolParticipant, ReferParticipant,
    RegisterCoProducer; the commissioner's rules, leads' work and retention."""

    programme: Programme
