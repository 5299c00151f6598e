"""Registry events: facts, in the past tense, never changed once recorded."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pathways.core.ids import Id
from pathways.core.schemas import EventData, SchemaRegistry
from pathways.policy.consent import Purpose, consent_recorded_v1_to_v2, consent_withdrawn_v1_to_v2
from pathways.policy.personal_details import SealedDetails
from pathways.policy.shared_data import SharedData
from pydantic import Field

schemas = SchemaRegistry()
event = schemas.event("registry")

# An NHS trust hosts the programme's wards (DESIGN §3) and may be a safeguarding lead.
OrganisationKind = Literal["commissioner", "delivery_partner", "evaluator", "funder", "auditor", "nhs_trust"]
Setting = Literal["ward", "community"]
ReferralSource = Literal[
    "self", "clinical_team", "ward_staff", "community_services", "family_or_carer", "other"
]
Pence = int
# Who referred a person (DESIGN §3): the host NHS Trust's teams, the commissioner, a partner, or the person.
Referrer = Literal["clinical_team", "ward_staff", "commissioner", "delivery_partner", "community_services",
                   "self", "family_or_carer", "other"]
DeclineReason = Literal["not_eligible", "person_declined", "no_capacity", "needs_better_met_elsewhere",
                        "not_well_enough", "other"]
# What a target counts: each the dashboard's headline figure of that name (pathways_reporting.targets).
TargetIndicator = Literal["participants", "enrolments", "sessions", "hours", "attendances", "referrals", "transitions",
                          "moved_on", "wellbeing_pairs"]
# Where a person went on to when their time on the programme ended.
MoveOn = Literal["community_living", "education", "employment", "volunteering", "readmitted", "other"]


@event
class OrganisationRegistered(EventData):
    """An organisation joined the platform."""

    organisation_id: Id
    name: str
    kind: OrganisationKind
    charity_number: str | None = None
    company_number: str | None = None


@event
class ProgrammeLaunched(EventData):
    """A commissioner launched a programme with its aims, dates and budget."""

    programme_id: Id
    commissioner_id: Id
    name: str
    aims: list[str]
    starts_on: date
    ends_on: date
    budget_pence: Pence = Field(gt=0)


@event
class PartnerCommissioned(EventData):
    """A delivery partner was commissioned under a contract with its own budget."""

    programme_id: Id
    contract_id: Id
    partner_id: Id
    budget_pence: Pence = Field(gt=0)
    activities: list[str]
    starts_on: date
    ends_on: date


@event
class ParticipantEnrolled(EventData):
    """A participant (known by a pseudonymous id only) was enrolled with a partner."""

    programme_id: Id
    participant_id: Id
    partner_id: Id
    setting: Setting
    referral_source: ReferralSource
    consent_given: bool
    enrolled_on: date
    personal: SealedDetails | None = None  # ciphertext only; erased when the person's key is deleted
    referral_id: Id | None = None  # the accepted referral this enrolment came from, if any


@event
class ParticipantReferred(EventData):
    """A person (by pseudonymous id) was referred to a partner, who recorded the referral."""

    programme_id: Id
    referral_id: Id
    participant_id: Id
    partner_id: Id
    referrer: Referrer
    referring_organisation: str | None = None  # e.g. the host Trust's forensic team: an organisation, never a person
    referred_on: date


@event
class ReferralAccepted(EventData):
    """The partner accepted the referral: the person waits for a place until enrolled."""

    programme_id: Id
    referral_id: Id
    participant_id: Id
    partner_id: Id
    accepted_on: date


@event
class ReferralDeclined(EventData):
    programme_id: Id
    referral_id: Id
    participant_id: Id
    partner_id: Id
    reason: DeclineReason
    note: str | None = None
    declined_on: date


@schemas.event("registry", version=2)
class ConsentRecorded(EventData):
    """Consent for the purposes named, on the information the person was given. v1 was
    one flag, upcast on read (pathways.policy.consent)."""

    programme_id: Id
    participant_id: Id
    partner_id: Id
    recorded_on: date
    purposes: list[Purpose]
    information_version: str | None  # the information sheet's version, e.g. "PIS v3 (easy read)"
    recorded_by: str | None  # the sender's actor: who took the consent (a role or staff id, never the person)
    capacity_note: str | None  # how capacity to consent was judged: never clinical detail or a name
    review_on: date | None  # when the consent is to be reviewed with the person


@schemas.event("registry", version=2)
class ConsentWithdrawn(EventData):
    """Consent withdrawn for the purposes named (v1, one flag: every purpose)."""

    programme_id: Id
    participant_id: Id
    partner_id: Id
    withdrawn_on: date
    purposes: list[Purpose]


schemas.upcaster(ConsentRecorded.event_type, 1)(consent_recorded_v1_to_v2)
schemas.upcaster(ConsentWithdrawn.event_type, 1)(consent_withdrawn_v1_to_v2)


@event
class ParticipantTransitioned(EventData):
    """A participant moved between settings, e.g. from a ward into the community."""

    programme_id: Id
    participant_id: Id
    partner_id: Id
    from_setting: Setting
    to_setting: Setting
    transitioned_on: date


@event
class ParticipantDataErased(EventData):
    """The participant's personal details were erased: their key is gone for good."""

    programme_id: Id
    participant_id: Id
    partner_id: Id
    erased_on: date


@event
class ParticipantWithdrawn(EventData):
    programme_id: Id
    participant_id: Id
    partner_id: Id
    reason: str
    withdrawn_on: date
    moved_on_to: MoveOn | None = None  # where they went on to, when known


@event
class ParticipantCompleted(EventData):
    """A participant completed their time with the partner, and where they moved on to."""

    programme_id: Id
    participant_id: Id
    partner_id: Id
    moved_on_to: MoveOn
    completed_on: date


@event
class CoProducerRegistered(EventData):
    """A person with lived experience joined as a paid co-producer."""

    programme_id: Id
    co_producer_id: Id
    engaged_by: Id
    role: str
    hourly_rate_pence: Pence = Field(gt=0)
    receives_benefits: bool


@event
class TargetSet(EventData):
    """The commissioner set (or revised, under the same id) a target for the programme, or
    for one contract, in a period."""

    programme_id: Id
    target_id: Id
    indicator: TargetIndicator
    target: int = Field(gt=0)
    period_start: date
    period_end: date
    contract_id: Id | None = None  # with it, the target of that contract's partner
    partner_id: Id | None = None
    note: str | None = None


# Safeguarding (pathways_registry.domain.safeguarding). What a concern says, who it is about,
# how it was dealt with and its outcome travel only sealed, each under the concern's own key:
# the plaintext of these events is opaque references, dates and who acted.


@event
class SafeguardingLeadAppointed(EventData):
    """The commissioner named an organisation (itself or the host NHS trust) a safeguarding
    lead of the programme: it deals with the concerns partners raise there."""

    programme_id: Id
    organisation_id: Id


@event
class SafeguardingLeadStoodDown(EventData):
    """An organisation is no longer a safeguarding lead of the programme."""

    programme_id: Id
    organisation_id: Id


@event
class ConcernRaised(EventData):
    """A partner raised a safeguarding concern. Whom it is about, its category and severity
    and what happened are in `sealed`."""

    programme_id: Id
    partner_id: Id  # who raised it: the subject's organisation
    concern_id: Id
    raised_on: date
    sealed: SealedDetails


@event
class ConcernActionRecorded(EventData):
    """A safeguarding lead recorded what was done about a concern, or where it was escalated
    to (both in `sealed`)."""

    programme_id: Id
    partner_id: Id
    concern_id: Id
    lead_id: Id
    on: date
    sealed: SealedDetails


@event
class ConcernClosed(EventData):
    """A safeguarding lead closed a concern; its outcome is in `sealed`."""

    programme_id: Id
    partner_id: Id
    concern_id: Id
    lead_id: Id
    on: date
    sealed: SealedDetails


@event
class RetentionRuleSet(EventData):
    """The commissioner set how long people's personal details are kept: erased this many
    whole years after the programme ends (0: as soon as it ends)."""

    programme_id: Id
    years_after_end: int = Field(ge=0, le=100)


@event
class DataSharingAgreementRecorded(EventData):
    """The commissioner recorded an agreement under which a partner (the provider) shares
    the kinds of its people's records named in `data` with another organisation (the
    recipient), from `starts_on` to `ends_on` (pathways.policy.agreements)."""

    programme_id: Id
    agreement_id: Id
    provider_id: Id
    recipient_id: Id
    data: list[SharedData] = Field(min_length=1)
    starts_on: date
    ends_on: date
    reference: str | None = None  # the signed agreement's own reference, e.g. "DSA-2025-07"


@event
class DataSharingAgreementEnded(EventData):
    """An agreement ended before its last day: it is in force until the day before `ended_on`."""

    programme_id: Id
    agreement_id: Id
    data: list[SharedData]  # what it covered, so that a reader needs no other event to apply this one
    ended_on: date
