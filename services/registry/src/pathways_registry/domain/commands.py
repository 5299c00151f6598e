"""Registry commands: what partner systems and the commissioner ask for."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pathways.core.ids import Id
from pathways.core.schemas import CommandData
from pathways.policy.consent import PURPOSES, Purpose
from pathways.policy.personal_details import PersonalDetails, SealedDetails
from pydantic import AfterValidator, Field, StringConstraints, model_validator

from pathways_registry.domain.events import (
    DeclineReason,
    MoveOn,
    OrganisationKind,
    ReferralSource,
    Referrer,
    Setting,
    TargetIndicator,
    schemas,
)

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

    withheld_from_records = ("personal",)

    programme_id: Id
    participant_id: Id = Field(description="Pseudonymous id; never a name or NHS number")
    setting: Setting
    referral_source: ReferralSource
    consent_given: bool
    enrolled_on: date
    personal: PersonalDetails | None = Field(None, description="Name, date of birth, contact, NHS number: never "
                                             "stored in the clear")
    sealed_personal: SealedDetails | None = Field(None, description="Set by the platform, never by a sender")
    referral_id: Id | None = Field(None, description="The accepted referral (ReferParticipant) this enrolment takes up")


@command
class ReferParticipant(CommandData):
    """Record a referral the sending partner received: who referred the person (by
    pseudonymous id) and when. The partner then accepts or declines it."""

    programme_id: Id
    referral_id: Id
    participant_id: Id = Field(description="Pseudonymous id; never a name or NHS number")
    referrer: Referrer
    referring_organisation: Text | None = Field(None, description="The referring team or organisation, e.g. the host "
                                                "Trust's forensic clinical team: never a person's name")
    referred_on: date


class _ReferralAction(CommandData):
    programme_id: Id
    participant_id: Id
    referral_id: Id
    on: date


@command
class AcceptReferral(_ReferralAction):
    """Accept a referral: the person waits for a place until enrolled with this referral_id."""


@command
class DeclineReferral(_ReferralAction):
    """Decline a referral, with the reason (counted on the dashboard) and an optional note."""

    reason: DeclineReason
    note: Text | None = None


class _ParticipantAction(CommandData):
    programme_id: Id
    participant_id: Id
    on: date


def _each_once(purposes: list[Purpose]) -> list[Purpose]:
    if len(set(purposes)) != len(purposes):
        raise ValueError("each purpose at most once")
    return purposes


# The purposes a consent command names: one to all four, each once.
Purposes = Annotated[list[Purpose], Field(min_length=1, max_length=len(PURPOSES)), AfterValidator(_each_once)]


@command
class RecordConsent(_ParticipantAction):
    """Record the purposes an enrolled participant consents to, on the information they
    were given. Without purposes: what the single yes/no always meant (taking part,
    sharing with the commissioner, evaluation; never photographs and showcases)."""

    purposes: Purposes | None = Field(None, description="taking_part, sharing_with_commissioner, evaluation, "
                                      "photographs_and_showcases")
    information_version: Text | None = Field(None, description="The version of the information sheet the person "
                                             "was given, e.g. 'PIS v3 (easy read)'")
    capacity_note: Text | None = Field(None, description="How capacity to consent was judged (e.g. 'assessed by "
                                       "the ward team: has capacity'); never clinical detail or a name")
    review_on: date | None = Field(None, description="When the consent is to be reviewed with the person")

    @model_validator(mode="after")
    def _reviewed_after(self) -> RecordConsent:
        if self.review_on is not None and self.review_on < self.on:
            raise ValueError("review_on is before the consent was recorded")
        return self


@command
class WithdrawConsent(_ParticipantAction):
    """Record that a participant withdrew consent: for the purposes named, or without
    purposes for every purpose they had consented to."""

    purposes: Purposes | None = None


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
    moved_on_to: MoveOn | None = Field(None, description="Where they went on to, when known")


@command
class CompleteParticipation(_ParticipantAction):
    """Record that a participant completed their time with the partner, and where they moved on to."""

    moved_on_to: MoveOn


@command
class RegisterCoProducer(CommandData):
    """Register a co-producer paid for their time (commissioner or commissioned partner)."""

    programme_id: Id
    co_producer_id: Id
    role: Text
    hourly_rate_pence: int = Field(gt=0)
    receives_benefits: bool


@command
class SetTarget(CommandData):
    """Set, or revise under the same id, what the programme or one contract is to reach in a
    period (the programme's commissioner): the dashboard shows progress against it."""

    programme_id: Id
    target_id: Id
    indicator: TargetIndicator
    target: int = Field(gt=0, le=1_000_000)
    period_start: date
    period_end: date
    contract_id: Id | None = Field(None, description="A contract's target (its partner's); without one, the programme's")
    note: Text | None = None

    @model_validator(mode="after")
    def _dates(self) -> SetTarget:
        if self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        return self
