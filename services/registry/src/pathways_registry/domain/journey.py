"""The ends of a person's journey with a partner, as rules: referred, accepted (then
waiting for a place) or declined, and at the other end completed with where they moved
on to. Enrolment itself, and withdrawal, are in decide.py. All of it is one stream per
person and partner (state.Enrolment)."""

from __future__ import annotations

from pathways.core.commands import CommandContext, Decision, NoFacts
from pathways.core.replies import RejectionCode, reject

from pathways_registry.domain import commands as c
from pathways_registry.domain import events as e
from pathways_registry.domain import facts as f
from pathways_registry.domain.decide import _check_active, _check_commissioned
from pathways_registry.domain.state import Enrolment


def refer_participant(cmd: c.ReferParticipant, ctx: CommandContext, person: Enrolment, facts: f.InProgramme) -> Decision:
    programme = facts.programme
    refusal = _check_commissioned(programme, cmd.programme_id, ctx.organisation)
    if refusal is not None:
        return refusal
    if not programme.starts_on <= cmd.referred_on <= programme.ends_on:
        return reject(RejectionCode.RULE_VIOLATION, f"The referral date {cmd.referred_on} is outside the programme "
                      f"({programme.starts_on} to {programme.ends_on}).", field="referred_on")
    if person.erased:
        return reject(RejectionCode.RULE_VIOLATION, f"Participant '{cmd.participant_id}''s details were erased; refer "
                      "them under a new pseudonymous id.")
    if person.enrolled and not person.ended:
        return reject(RejectionCode.RULE_VIOLATION, f"'{cmd.participant_id}' is already enrolled with "
                      f"'{ctx.organisation}'.")
    if cmd.referred_on > ctx.now.date():
        return reject(RejectionCode.RULE_VIOLATION, f"The referral date {cmd.referred_on} is in the future.",
                      field="referred_on")
    if cmd.referral_id in person.referrals:
        return reject(RejectionCode.RULE_VIOLATION, f"Referral id '{cmd.referral_id}' was used before for "
                      f"'{cmd.participant_id}' with '{ctx.organisation}': give each referral an id of its own.",
                      field="referral_id")
    if person.referral_open:
        return reject(RejectionCode.RULE_VIOLATION, f"'{cmd.participant_id}' already has referral "
                      f"'{person.referral_id}' ({person.referral_status}) with '{ctx.organisation}': accept, decline "
                      "or enrol from it first.")
    return [e.ParticipantReferred(partner_id=ctx.organisation, **cmd.model_dump())]


def accept_referral(cmd: c.AcceptReferral, ctx: CommandContext, person: Enrolment, _: NoFacts) -> Decision:
    refusal = _check_open(cmd, ctx, person, ("referred",))
    if refusal is not None:
        return refusal
    return [e.ReferralAccepted(**_ids(cmd, ctx), accepted_on=cmd.on)]


def decline_referral(cmd: c.DeclineReferral, ctx: CommandContext, person: Enrolment, _: NoFacts) -> Decision:
    refusal = _check_open(cmd, ctx, person, ("referred", "accepted"))  # a waiting person may still be declined
    if refusal is not None:
        return refusal
    return [e.ReferralDeclined(**_ids(cmd, ctx), reason=cmd.reason, note=cmd.note, declined_on=cmd.on)]


def complete_participation(cmd: c.CompleteParticipation, ctx: CommandContext, person: Enrolment, _: NoFacts) -> Decision:
    refusal = _check_active(person, cmd, ctx)
    if refusal is not None:
        return refusal
    if not person.enrolled_on <= cmd.on <= ctx.now.date():
        return reject(RejectionCode.RULE_VIOLATION, f"A completion on {cmd.on} must be on or after the enrolment "
                      f"({person.enrolled_on}) and not in the future.", field="on")
    return [e.ParticipantCompleted(programme_id=cmd.programme_id, participant_id=cmd.participant_id,
                                   partner_id=ctx.organisation, moved_on_to=cmd.moved_on_to, completed_on=cmd.on)]


def _check_open(cmd: c.AcceptReferral | c.DeclineReferral, ctx: CommandContext, person: Enrolment,
                allowed: tuple[str, ...]) -> Decision | None:
    if person.referral_id != cmd.referral_id:
        return reject(RejectionCode.NOT_FOUND, f"There is no referral '{cmd.referral_id}' of '{cmd.participant_id}' "
                      "with this partner.", field="referral_id")
    if person.erased:
        return reject(RejectionCode.RULE_VIOLATION, f"Participant '{cmd.participant_id}''s details were erased.")
    if person.enrolled and not person.ended:
        return reject(RejectionCode.RULE_VIOLATION, f"'{cmd.participant_id}' is already enrolled with "
                      f"'{ctx.organisation}'.")
    if person.referral_status not in allowed:
        return reject(RejectionCode.RULE_VIOLATION, f"Referral '{cmd.referral_id}' is already {person.referral_status}.")
    if not person.referred_on <= cmd.on <= ctx.now.date():
        return reject(RejectionCode.RULE_VIOLATION, f"{cmd.on} is before the referral was made ({person.referred_on}) "
                      "or in the future.", field="on")
    return None


def _ids(cmd: c.AcceptReferral | c.DeclineReferral, ctx: CommandContext) -> dict[str, str]:
    return {"programme_id": cmd.programme_id, "participant_id": cmd.participant_id, "partner_id": ctx.organisation,
            "referral_id": cmd.referral_id}
