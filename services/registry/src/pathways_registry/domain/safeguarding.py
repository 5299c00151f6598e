"""Safeguarding: a partner raises a concern about a person it works with; the programme's
safeguarding leads (the commissioner, or the host NHS trust it names) record what was done,
escalate it, and close it with an outcome.

A concern is kept as closely as personal details: whom it is about, what happened, every
action and the outcome are sealed under the concern's own key before anything is recorded
(pathways_registry.concerns), so the stream, the ledger and every other service hold only
opaque references. A concern lives on the raising partner's subject, under its id: the
partner and the leads decide on one aggregate, as a commissioner approves a partner's claim.

Raising a concern is never refused for want of a lead: a report must not be lost because
the programme has not named one yet (the leads appointed later see it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, ClassVar, Literal

from pathways.core.commands import AggregateType, CommandContext, Decision
from pathways.core.ids import Id
from pathways.core.replies import RejectionCode, no_such_programme, reject
from pathways.core.schemas import CommandData, EventData
from pathways.policy.personal_details import SealedDetails
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pathways_registry.domain import events as e
from pathways_registry.domain import facts as f
from pathways_registry.domain.commands import command
from pathways_registry.domain.decide import check_commissioner
from pathways_registry.domain.state import Enrolment, Organisation, Programme

# The kinds of abuse and neglect of the Care Act 2014 statutory guidance (14.17), and the risk
# to themselves a forensic ward most often sees.
Category = Literal[
    "physical", "domestic", "sexual", "psychological", "financial_or_material", "modern_slavery", "discriminatory",
    "organisational", "neglect_or_acts_of_omission", "self_neglect", "self_harm_or_suicide_risk", "other",
]
Severity = Literal["low", "medium", "high", "immediate_risk"]
EscalatedTo = Literal["host_trust_safeguarding_team", "local_authority_adult_safeguarding", "police",
                      "care_quality_commission", "other"]
Outcome = Literal["risk_removed", "risk_reduced", "risk_remains", "not_substantiated", "referred_on",
                  "no_further_action"]
Account = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
LEAD_KINDS = ("commissioner", "nhs_trust")

# Validation errors must not carry what was written into a log or a reply.
_SEALED = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)
# What the first, pure asking of a rule (before `prepare` seals: pathways.core.intake) builds
# its event with. It is never stored: the intake stores only the decision on the command as
# prepared, whose `sealed` the platform set (concerns.py). Opening it would fail, and say so.
_UNSEALED = SealedDetails(nonce="", ciphertext="", key="enrolment")


class ConcernDetails(BaseModel):
    """What a raised concern seals."""

    model_config = _SEALED
    participant_id: Id
    category: Category
    severity: Severity
    what_happened: Account


class ConcernAction(BaseModel):
    """What an action seals: what was done, and where it was escalated to if it was."""

    model_config = _SEALED
    action: Account
    escalated_to: EscalatedTo | None = None


class ConcernOutcome(BaseModel):
    """What a closure seals."""

    model_config = _SEALED
    outcome: Outcome
    summary: Account


@command
class AppointSafeguardingLead(CommandData):
    """Name an organisation a safeguarding lead of the programme: the commissioner itself or a
    registered NHS trust (the programme's commissioner only)."""

    programme_id: Id
    organisation_id: Id


@command
class StandDownSafeguardingLead(CommandData):
    """An organisation stops being a safeguarding lead of the programme (its commissioner only)."""

    programme_id: Id
    organisation_id: Id


@command
class RaiseConcern(CommandData):
    """Raise a safeguarding concern about a person enrolled with the sending partner. Only
    the sending partner and the programme's safeguarding leads can ever read it."""

    model_config = _SEALED
    # A refusal's record keeps none of it, not even the reference (the partner chose it, and it
    # could be guessed at against the people it works with).
    withheld_from_records = ("concern_id", "participant_id", "category", "severity", "what_happened", "raised_on")
    programme_id: Id
    concern_id: Id = Field(description="A reference that says nothing about the person: not their id or name")
    participant_id: Id
    category: Category
    severity: Severity
    what_happened: Account
    raised_on: date
    sealed: SealedDetails | None = Field(None, description="Set by the platform, never by a sender")


class LeadsWork(CommandData):
    """What a safeguarding lead sends about a raised concern (its token's role over HTTP)."""

    model_config = _SEALED
    sent_with_role = "safeguarding_lead"
    withheld_from_records: ClassVar[tuple[str, ...]] = ("concern_id",)  # as when it was raised
    programme_id: Id
    partner_id: Id = Field(description="The partner that raised the concern")
    concern_id: Id
    on: date
    sealed: SealedDetails | None = Field(None, description="Set by the platform, never by a sender")


@command
class RecordConcernAction(LeadsWork):
    """Record what was done about a concern, and where it was escalated to if it was (a
    safeguarding lead of the programme only)."""

    withheld_from_records = (*LeadsWork.withheld_from_records, "action", "escalated_to")
    action: Account
    escalated_to: EscalatedTo | None = None


@command
class CloseConcern(LeadsWork):
    """Close a concern with its outcome (a safeguarding lead of the programme only)."""

    withheld_from_records = (*LeadsWork.withheld_from_records, "outcome", "summary")
    outcome: Outcome
    summary: Account


@dataclass(frozen=True)
class Concern:
    raised: bool = False
    closed: bool = False


def _evolve_concern(state: Concern, event: EventData) -> Concern:
    if isinstance(event, e.ConcernRaised):
        return Concern(raised=True)
    if isinstance(event, e.ConcernClosed):
        return Concern(raised=True, closed=True)
    return state


# A concern's id shares the subject namespace of the raising partner's own aggregates (its
# enrolments, co-producers): a reference it already uses for one of them is refused as taken.
# A lead names the partner's subject itself, so its commands load it as foreign
# (pathways.core.commands.Load): whatever else is under that id stays unseen.
CONCERN = AggregateType("safeguarding concern", Concern(), _evolve_concern,
                        (e.ConcernRaised, e.ConcernActionRecorded, e.ConcernClosed))


@dataclass(frozen=True, slots=True)
class Raising:
    """RaiseConcern: the programme, and the person's enrolment with the sender."""

    programme: Programme
    enrolment: Enrolment


@dataclass(frozen=True, slots=True)
class Appointing:
    programme_anywhere: Programme
    appointee: Organisation


def appoint_lead(cmd: AppointSafeguardingLead, ctx: CommandContext, _: Programme, facts: Appointing) -> Decision:
    refusal = check_commissioner(facts.programme_anywhere, cmd.programme_id, ctx.organisation,
                                 "names safeguarding leads")
    if refusal is not None:
        return refusal
    if not facts.appointee.registered or facts.appointee.kind not in LEAD_KINDS:
        return reject(RejectionCode.RULE_VIOLATION, f"A safeguarding lead is the commissioner or a registered NHS trust; "
                      f"'{cmd.organisation_id}' is neither.", field="organisation_id")
    if facts.appointee.kind == "commissioner" and cmd.organisation_id != ctx.organisation:
        return reject(RejectionCode.RULE_VIOLATION, "Another commissioner cannot lead safeguarding on this programme.",
                      field="organisation_id")
    if cmd.organisation_id in facts.programme_anywhere.safeguarding_leads:
        return reject(RejectionCode.RULE_VIOLATION, f"'{cmd.organisation_id}' is already a safeguarding lead of "
                      f"'{cmd.programme_id}'.")
    return [e.SafeguardingLeadAppointed(programme_id=cmd.programme_id, organisation_id=cmd.organisation_id)]


def stand_down_lead(cmd: StandDownSafeguardingLead, ctx: CommandContext, _: Programme, facts: f.InProgramme) -> Decision:
    refusal = check_commissioner(facts.programme, cmd.programme_id, ctx.organisation, "stands safeguarding leads down")
    if refusal is not None:
        return refusal
    if cmd.organisation_id not in facts.programme.safeguarding_leads:
        return reject(RejectionCode.RULE_VIOLATION, f"'{cmd.organisation_id}' is not a safeguarding lead of "
                      f"'{cmd.programme_id}'.")
    return [e.SafeguardingLeadStoodDown(programme_id=cmd.programme_id, organisation_id=cmd.organisation_id)]


def raise_concern(cmd: RaiseConcern, ctx: CommandContext, concern: Concern, facts: Raising) -> Decision:
    programme = facts.programme
    if not programme.launched or not programme.contracts_of(ctx.organisation):
        return no_such_programme(cmd.programme_id)
    if not facts.enrolment.enrolled:
        # Not naming the person: a refusal is recorded for the auditors.
        return reject(RejectionCode.NOT_FOUND, f"The person named has never been enrolled with '{ctx.organisation}' in "
                      f"'{cmd.programme_id}'.", field="participant_id")
    if concern.raised:
        return reject(RejectionCode.RULE_VIOLATION, f"Concern '{cmd.concern_id}' was raised already; choose another "
                      "reference.", field="concern_id")
    return [e.ConcernRaised(programme_id=cmd.programme_id, partner_id=ctx.organisation, concern_id=cmd.concern_id,
                            raised_on=cmd.raised_on, sealed=cmd.sealed or _UNSEALED)]


def _check_lead(cmd: LeadsWork, ctx: CommandContext, concern: Concern, programme: Programme) -> Decision | None:
    """A stranger to the concern is told what it would be told of a concern that does not
    exist: whether one does is itself part of the concern."""
    if not programme.launched or ctx.organisation not in programme.safeguarding_leads or not concern.raised:
        return reject(RejectionCode.NOT_FOUND, f"There is no concern '{cmd.concern_id}' of '{cmd.partner_id}' in "
                      f"'{cmd.programme_id}' that you lead on.", field="concern_id")
    if concern.closed:
        return reject(RejectionCode.RULE_VIOLATION, f"Concern '{cmd.concern_id}' is closed.", field="concern_id")
    return None


def _leads_work(cmd: LeadsWork, ctx: CommandContext, concern: Concern, programme: Programme,
                event: type[e.ConcernActionRecorded] | type[e.ConcernClosed]) -> Decision:
    refusal = _check_lead(cmd, ctx, concern, programme)
    if refusal is not None:
        return refusal
    return [event(programme_id=cmd.programme_id, partner_id=cmd.partner_id, concern_id=cmd.concern_id,
                  lead_id=ctx.organisation, on=cmd.on, sealed=cmd.sealed or _UNSEALED)]


def record_action(cmd: RecordConcernAction, ctx: CommandContext, concern: Concern, facts: f.InProgramme) -> Decision:
    return _leads_work(cmd, ctx, concern, facts.programme, e.ConcernActionRecorded)


def close_concern(cmd: CloseConcern, ctx: CommandContext, concern: Concern, facts: f.InProgramme) -> Decision:
    return _leads_work(cmd, ctx, concern, facts.programme, e.ConcernClosed)
