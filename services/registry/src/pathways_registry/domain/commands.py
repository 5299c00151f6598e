"""Registry commands: what partner systems and the commissioner ask for."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pathways.ids import Id
from pathways.personal_details import PersonalDetails, SealedDetails
from pathways.schemas import CommandData
from pydantic import Field, StringConstraints, model_validator

from pathways_registry.domain.events import OrganisationKind, ReferralSource, Setting, schemas

command = schemas.command("registry")
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


@command
class RegisterOrganisation(CommandData):
    """Register an organisation (sent by the platform operator)."""

    organisation_id: Id
    name: Text
    kind: OrganisationKind
    charity_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{6,8}(-[0-9]+)?$")] | None = None
    company_number: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{8}$")] | None = None


@command
class LaunchProgramme(CommandData):
    """Launch a programme (commissioners only)."""

    programme_id: Id
    name: Text
    aims: list[Text] = Field(min_length=1, max_length=20)
    starts_on: date
    ends_on: date
    budget_pence: int = Field(gt=0, description="Whole programme budget in pence")

    @model_validator(mode="after")
    def _dates(self) -> LaunchProgramme:
        if self.ends_on <= self.starts_on:
            raise ValueError("ends_on must be after starts_on")
        return self


@command
class CommissionPartner(CommandData):
    """Commission a delivery partner under a contract (the programme's commissioner only)."""

    programme_id: Id
    contract_id: Id
    partner_id: Id
    budget_pence: int = Field(gt=0)
    activities: list[Text] = Field(min_length=1, max_length=50)
    starts_on: date
    ends_on: date

    @model_validator(mode="after")
    def _dates(self) -> CommissionPartner:
        if self.ends_on <= self.starts_on:
            raise ValueError("ends_on must be after starts_on")
        return self


@command
class EnrolParticipant(CommandData):
    """Enrol a participant, by pseudonymous id, with the sending partner. Their personal
    details, if given, are sealed with a key of their own before anything is recorded."""

    programme_id: Id
    participant_id: Id = Field(description="Pseudonymous id; never a name or NHS number")
    setting: Setting
    referral_source: ReferralSource
    consent_given: bool
    enrolled_on: date
    personal: PersonalDetails | None = Field(None, description="Name, date of birth, contact, NHS number: never "
                                             "stored in the clear")
    sealed_personal: SealedDetails | None = Field(None, description="Set by the platform, never by a sender")


class _ParticipantAction(CommandData):
    programme_id: Id
    participant_id: Id
    on: date


@command
class RecordConsent(_ParticipantAction):
    """Record that an enrolled participant has given consent."""


@command
class WithdrawConsent(_ParticipantAction):
    """Record that a participant withdrew consent."""


@command
class TransitionParticipant(_ParticipantAction):
    """Move a participant to another setting (e.g. ward to community)."""

    to_setting: Setting


@command
class EraseParticipantData(_ParticipantAction):
    """Erase a participant's personal details (crypto-shredding): their key is deleted, so
    the sealed details in the history can never be opened again. Sent by the partner the
    participant is enrolled with; the pseudonymous history stays."""


@command
class WithdrawParticipant(_ParticipantAction):
    """Withdraw a participant from the sending partner's activities."""

    reason: Text


@command
class RegisterCoProducer(CommandData):
    """Register a co-producer paid for their time (commissioner or commissioned partner)."""

    programme_id: Id
    co_producer_id: Id
    role: Text
    hourly_rate_pence: int = Field(gt=0)
    receives_benefits: bool
