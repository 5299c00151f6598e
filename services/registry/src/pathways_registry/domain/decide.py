"""Registry rules as pure functions: (command, context, state, read states) → events or a
rejection whose message a programme officer understands."""

from __future__ import annotations

from pathways.core.commands import OPERATOR_ORGANISATION, CommandContext, Decision, NoFacts
from pathways.core.replies import RejectionCode, no_such_programme, reject
from pathways.policy.consent import PURPOSES, SINGLE_FLAG, Purpose

from pathways_registry.domain import commands as c
from pathways_registry.domain import events as e
from pathways_registry.domain import facts as f
from pathways_registry.domain.state import CoProducer, Enrolment, Organisation, Programme


def register_organisation(cmd: c.RegisterOrganisation, ctx: CommandContext, org: Organisation, _: NoFacts) -> Decision:
    if ctx.organisation != OPERATOR_ORGANISATION:
        return reject(
            RejectionCode.FORBIDDEN,
            f"Only the platform operator registers organisations; '{ctx.organisation}' cannot.",
        )
    if org.registered:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Organisation '{cmd.organisation_id}' is already registered as {org.name!r}.",
        )
    return [e.OrganisationRegistered(**cmd.model_dump())]


def launch_programme(cmd: c.LaunchProgramme, ctx: CommandContext, programme: Programme, facts: f.Launch) -> Decision:
    sender = facts.sender
    if not sender.registered or sender.kind != "commissioner":
        return reject(
            RejectionCode.FORBIDDEN,
            f"Only a registered commissioner launches programmes; '{ctx.organisation}' is "
            f"{'a ' + sender.kind.replace('_', ' ') if sender.registered else 'not registered'}.",
        )
    existing = facts.programme_anywhere
    if programme.launched or existing.launched:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Programme id '{cmd.programme_id}' is already in use; choose another id.",
        )
    return [e.ProgrammeLaunched(commissioner_id=ctx.organisation, **cmd.model_dump())]


def check_commissioner(anywhere: Programme, programme_id: str, organisation: str, what: str) -> Decision | None:
    """Only the programme's commissioner may do `what`; a partner of it is told so, and a
    stranger learns nothing of the programme (read by id, whoever commissioned it)."""
    if not anywhere.launched:
        return no_such_programme(programme_id)
    if anywhere.commissioner_id != organisation:
        if not anywhere.contracts_of(organisation):
            return no_such_programme(programme_id)
        return reject(RejectionCode.FORBIDDEN, f"Only the programme's commissioner {what} for '{programme_id}'.")
    return None


def commission_partner(cmd: c.CommissionPartner, ctx: CommandContext, programme: Programme, facts: f.Commissioning) -> Decision:
    refusal = check_commissioner(facts.programme_anywhere, cmd.programme_id, ctx.organisation, "commissions partners")
    if refusal is not None:
        return refusal
    partner = facts.partner
    if not partner.registered or partner.kind != "delivery_partner":
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Organisation '{cmd.partner_id}' is not a registered delivery partner.",
            field="partner_id",
        )
    if any(k.contract_id == cmd.contract_id for k in programme.contracts):
        return reject(RejectionCode.RULE_VIOLATION, f"Contract '{cmd.contract_id}' already exists.")
    if cmd.starts_on < programme.starts_on or cmd.ends_on > programme.ends_on:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"The contract period must lie within the programme ({programme.starts_on} to "
            f"{programme.ends_on}).",
        )
    remaining = programme.budget_pence - programme.committed_pence
    if cmd.budget_pence > remaining:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"The contract budget £{cmd.budget_pence / 100:,.2f} exceeds what is left of the "
            f"programme budget (£{remaining / 100:,.2f}).",
            budget_pence=cmd.budget_pence,
            remaining_pence=remaining,
        )
    return [e.PartnerCommissioned(**cmd.model_dump())]


def enrol_participant(cmd: c.EnrolParticipant, ctx: CommandContext, enrolment: Enrolment, facts: f.InProgramme) -> Decision:
    programme = facts.programme
    refusal = _check_commissioned(programme, cmd.programme_id, ctx.organisation)
    if refusal is not None:
        return refusal
    if not any(k.starts_on <= cmd.enrolled_on <= k.ends_on for k in programme.contracts_of(ctx.organisation)):
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"The enrolment date {cmd.enrolled_on} is outside every contract period '{ctx.organisation}' holds in "
            f"'{cmd.programme_id}'.",
            field="enrolled_on",
        )
    if enrolment.erased:
        # New details under an erased person's id would tie them to the history the erasure
        # made anonymous (and the key shredder, repeating erasures, could take the new key).
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Participant '{cmd.participant_id}''s details were erased; enrol them under a new pseudonymous id.",
        )
    if enrolment.enrolled and not enrolment.ended:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Participant '{cmd.participant_id}' is already enrolled with '{ctx.organisation}'.",
        )
    if cmd.referral_id is not None:
        refusal = _check_referral_taken_up(cmd, enrolment)
        if refusal is not None:
            return refusal
    elif enrolment.referral_open:
        # Enrolled without naming it, the referral would stay "waiting" in every figure.
        return reject(RejectionCode.RULE_VIOLATION, f"'{cmd.participant_id}' has referral '{enrolment.referral_id}' "
                      f"({enrolment.referral_status}) with '{ctx.organisation}': enrol with referral_id "
                      f"'{enrolment.referral_id}', or decline it first.", field="referral_id")
    return [e.ParticipantEnrolled(partner_id=ctx.organisation, personal=cmd.sealed_personal,
                                  **cmd.model_dump(exclude={"personal", "sealed_personal"}))]


def record_consent(cmd: c.RecordConsent, ctx: CommandContext, enrolment: Enrolment, _: NoFacts) -> Decision:
    refusal = _check_active(enrolment, cmd, ctx)
    if refusal is not None:
        return refusal
    purposes = cmd.purposes or list(SINGLE_FLAG)
    if set(purposes) <= enrolment.consents:
        return reject(RejectionCode.RULE_VIOLATION, f"Participant '{cmd.participant_id}' has already consented to "
                      f"{_listed(purposes)}.", field="purposes")
    return [e.ConsentRecorded(**_ids(cmd, ctx), recorded_on=cmd.on, purposes=purposes,
                              information_version=cmd.information_version, recorded_by=ctx.actor,
                              capacity_note=cmd.capacity_note, review_on=cmd.review_on)]


def withdraw_consent(cmd: c.WithdrawConsent, ctx: CommandContext, enrolment: Enrolment, _: NoFacts) -> Decision:
    # Consent stays withdrawable after the person has completed or left: what was recorded
    # about them is still read for the purposes they consented to, until they say no.
    if not enrolment.enrolled:
        return _not_enrolled(cmd, ctx)
    held = [p for p in PURPOSES if p in enrolment.consents and (cmd.purposes is None or p in cmd.purposes)]
    if not held:
        asked = "" if cmd.purposes is None else f" to {_listed(cmd.purposes)}"
        return reject(RejectionCode.RULE_VIOLATION, f"Participant '{cmd.participant_id}' has not consented{asked}.",
                      field="purposes")
    return [e.ConsentWithdrawn(**_ids(cmd, ctx), withdrawn_on=cmd.on, purposes=held)]


def _listed(purposes: list[Purpose]) -> str:
    return ", ".join(p.replace("_", " ") for p in purposes)


def transition_participant(cmd: c.TransitionParticipant, ctx: CommandContext, enrolment: Enrolment, _: NoFacts) -> Decision:
    refusal = _check_active(enrolment, cmd, ctx)
    if refusal is not None:
        return refusal
    if enrolment.setting == cmd.to_setting:
        return reject(
            RejectionCode.RULE_VIOLATION, f"Participant '{cmd.participant_id}' is already in the {cmd.to_setting} setting."
        )
    return [
        e.ParticipantTransitioned(
            **_ids(cmd, ctx), from_setting=enrolment.setting, to_setting=cmd.to_setting, transitioned_on=cmd.on
        )
    ]


def erase_participant_data(cmd: c.EraseParticipantData, ctx: CommandContext, enrolment: Enrolment, _: NoFacts) -> Decision:
    if not enrolment.enrolled:
        return reject(RejectionCode.NOT_FOUND, f"Participant '{cmd.participant_id}' is not enrolled with "
                      f"'{ctx.organisation}' in '{cmd.programme_id}'.")
    if enrolment.erased:
        return reject(RejectionCode.RULE_VIOLATION, f"Participant '{cmd.participant_id}''s details are already erased.")
    return [e.ParticipantDataErased(**_ids(cmd, ctx), erased_on=cmd.on)]


def withdraw_participant(cmd: c.WithdrawParticipant, ctx: CommandContext, enrolment: Enrolment, _: NoFacts) -> Decision:
    refusal = _check_active(enrolment, cmd, ctx)
    if refusal is not None:
        return refusal
    return [e.ParticipantWithdrawn(**_ids(cmd, ctx), reason=cmd.reason, withdrawn_on=cmd.on, moved_on_to=cmd.moved_on_to)]


def register_co_producer(cmd: c.RegisterCoProducer, ctx: CommandContext, co_producer: CoProducer,
                         facts: f.InProgramme) -> Decision:
    programme = facts.programme
    if not programme.launched:
        return no_such_programme(cmd.programme_id)
    if ctx.organisation != programme.commissioner_id and not programme.contracts_of(ctx.organisation):
        return no_such_programme(cmd.programme_id)  # neither its commissioner nor commissioned for it
    if co_producer.registered:
        return reject(RejectionCode.RULE_VIOLATION, f"Co-producer '{cmd.co_producer_id}' is already registered.")
    return [e.CoProducerRegistered(engaged_by=ctx.organisation, **cmd.model_dump())]


def _check_commissioned(programme: Programme, programme_id: str, partner: str) -> Decision | None:
    if not programme.launched:
        return no_such_programme(programme_id)
    if not programme.contracts_of(partner):
        if partner != programme.commissioner_id:
            return no_such_programme(programme_id)  # a stranger learns nothing of it
        return reject(
            RejectionCode.FORBIDDEN,
            f"Organisation '{partner}' is not commissioned for programme '{programme_id}', so it cannot "
            "enrol participants into it.",
        )
    return None


def _not_enrolled(cmd: c._ParticipantAction, ctx: CommandContext) -> Decision:
    return reject(RejectionCode.NOT_FOUND,
                  f"Participant '{cmd.participant_id}' is not enrolled with '{ctx.organisation}' in '{cmd.programme_id}'.")


def _check_active(enrolment: Enrolment, cmd: c._ParticipantAction, ctx: CommandContext) -> Decision | None:
    if not enrolment.enrolled:
        return _not_enrolled(cmd, ctx)
    if enrolment.ended:
        return reject(RejectionCode.RULE_VIOLATION, f"Participant '{cmd.participant_id}' has "
                      f"{'been withdrawn' if enrolment.withdrawn else 'completed'}; enrol them again first.")
    return None


def _check_referral_taken_up(cmd: c.EnrolParticipant, enrolment: Enrolment) -> Decision | None:
    """An enrolment that names a referral takes up that person's accepted referral with this partner."""
    if enrolment.referral_id != cmd.referral_id or enrolment.referral_status in ("", "enrolled"):
        return reject(RejectionCode.RULE_VIOLATION, f"'{cmd.participant_id}' has no open referral "
                      f"'{cmd.referral_id}' with this partner.", field="referral_id")
    if enrolment.referral_status == "declined":
        return reject(RejectionCode.RULE_VIOLATION, f"Referral '{cmd.referral_id}' was declined: record a new "
                      "referral to enrol from.", field="referral_id")
    if enrolment.referral_status != "accepted":
        return reject(RejectionCode.RULE_VIOLATION, f"Referral '{cmd.referral_id}' is not accepted yet: accept it "
                      "before enrolling from it.", field="referral_id")
    if cmd.enrolled_on < enrolment.referred_on:
        return reject(RejectionCode.RULE_VIOLATION, f"The enrolment date {cmd.enrolled_on} is before the referral "
                      f"({enrolment.referred_on}).", field="enrolled_on")
    return None


def _ids(cmd: c._ParticipantAction, ctx: CommandContext) -> dict[str, str]:
    return {"programme_id": cmd.programme_id, "participant_id": cmd.participant_id, "partner_id": ctx.organisation}
