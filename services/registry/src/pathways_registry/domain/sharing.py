"""Data-sharing agreements as rules: the programme's commissioner records which partner
shares which kinds of its people's records with which organisation, and when; every read of
people's records then honours them (pathways.policy.agreements)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from pathways.core.commands import CommandContext, Decision
from pathways.core.ids import Id
from pathways.core.replies import RejectionCode, reject
from pathways.core.schemas import CommandData
from pathways.policy.shared_data import SharedData
from pydantic import Field, StringConstraints, model_validator

from pathways_registry.domain import events as e
from pathways_registry.domain import facts as f
from pathways_registry.domain.commands import command
from pathways_registry.domain.decide import check_commissioner
from pathways_registry.domain.state import Organisation, Programme

# Those who read a partner's people's records for a purpose today (pathways.policy.consent):
# the host trust reads none through the platform yet, so an agreement with it would govern nothing.
RECIPIENT_KINDS = ("commissioner", "evaluator")


@command
class RecordDataSharingAgreement(CommandData):
    """Record an agreement: the provider (a commissioned partner) shares the kinds of its
    people's records in `data` with the recipient (the commissioner or an evaluator) from
    `starts_on` to `ends_on` (the programme's commissioner only). Once a
    programme has one, every read of a partner's people's records by another organisation
    needs one in force. It may run past the programme's end (an evaluation reads on after it)."""

    programme_id: Id
    agreement_id: Id
    provider_id: Id
    recipient_id: Id
    data: list[SharedData] = Field(min_length=1, max_length=4)
    starts_on: date
    ends_on: date
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _sense(self) -> RecordDataSharingAgreement:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        if len(set(self.data)) != len(self.data):
            raise ValueError("each kind of record is named once")
        if self.provider_id == self.recipient_id:
            raise ValueError("a partner reads its own people's records without an agreement")
        return self


@command
class EndDataSharingAgreement(CommandData):
    """End an agreement early: it is in force until the day before `on` (its commissioner only)."""

    programme_id: Id
    agreement_id: Id
    on: date


@dataclass(frozen=True, slots=True)
class Agreeing:
    programme: Programme
    recipient: Organisation


def record_agreement(cmd: RecordDataSharingAgreement, ctx: CommandContext, programme: Programme,
                     facts: Agreeing) -> Decision:
    refusal = check_commissioner(facts.programme, cmd.programme_id, ctx.organisation, "records data-sharing agreements")
    if refusal is not None:
        return refusal
    if not programme.contracts_of(cmd.provider_id):
        return reject(RejectionCode.RULE_VIOLATION, f"'{cmd.provider_id}' is not a partner commissioned in "
                      f"'{cmd.programme_id}'.", field="provider_id")
    recipient = facts.recipient
    if not recipient.registered or recipient.kind not in RECIPIENT_KINDS or (
            recipient.kind == "commissioner" and cmd.recipient_id != ctx.organisation):
        return reject(RejectionCode.RULE_VIOLATION, f"'{cmd.recipient_id}' cannot receive people's records here: a "
                      "recipient is the programme's commissioner or an evaluator.", field="recipient_id")
    if cmd.agreement_id in programme.agreements:
        return reject(RejectionCode.RULE_VIOLATION, f"Agreement '{cmd.agreement_id}' is recorded already; record a "
                      "change as a new agreement, and end the old one.", field="agreement_id")
    return [e.DataSharingAgreementRecorded(**cmd.model_dump())]


def end_agreement(cmd: EndDataSharingAgreement, ctx: CommandContext, programme: Programme, facts: f.InProgramme) -> Decision:
    refusal = check_commissioner(facts.programme, cmd.programme_id, ctx.organisation, "ends data-sharing agreements")
    if refusal is not None:
        return refusal
    held = programme.agreements.get(cmd.agreement_id)
    if held is None:
        return reject(RejectionCode.NOT_FOUND, f"There is no agreement '{cmd.agreement_id}' in '{cmd.programme_id}'.")
    if held.ended:
        return reject(RejectionCode.RULE_VIOLATION, f"Agreement '{cmd.agreement_id}' has ended already.")
    if not held.starts_on <= cmd.on <= held.ends_on:
        return reject(RejectionCode.RULE_VIOLATION, f"Agreement '{cmd.agreement_id}' runs from {held.starts_on} to "
                      f"{held.ends_on}: it ends early on a day within that.", field="on")
    return [e.DataSharingAgreementEnded(programme_id=cmd.programme_id, agreement_id=cmd.agreement_id,
                                        data=list(held.data), ended_on=cmd.on)]
