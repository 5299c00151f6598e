"""Which aggregate each registry command writes and which it reads. Programmes are read
by id whoever commissioned them (a wildcard on the organisation token). A write goes to a
subject owned by the sender, so the server can later scope permissions by it, except where a
rule lets another decide on a partner's aggregate: a safeguarding lead on the partner's
concern, the commissioner or operator erasing under the retention rule. Those load the
partner's subject as foreign (pathways.core.commands.Load)."""

from __future__ import annotations

from typing import Any

from pathways.core.commands import CommandContext, CommandHandler, Load, handlers_by_name
from pathways.core.replies import RejectionCode, reject
from pathways.core.subjects import ANY_ORGANISATION, NO_PROGRAMME, AggregateRef
from pathways.policy.personal import EnrolmentRef, NotAKey, PersonKeys, seal

from pathways_registry import concerns
from pathways_registry.domain import commands as c
from pathways_registry.domain import decide, journey, retention, safeguarding, sharing, targets
from pathways_registry.domain import facts as f
from pathways_registry.domain.state import CO_PRODUCER, ENROLMENT, ORGANISATION, PROGRAMME

CONTEXT = "registry"


def organisation(organisation_id: str) -> Load[Any]:
    return Load(AggregateRef(CONTEXT, NO_PROGRAMME, organisation_id, organisation_id), ORGANISATION)


def programme_anywhere(programme_id: str) -> Load[Any]:
    return Load(AggregateRef(CONTEXT, programme_id, ANY_ORGANISATION, programme_id), PROGRAMME)


def programme_of(programme_id: str, commissioner: str) -> Load[Any]:
    return Load(AggregateRef(CONTEXT, programme_id, commissioner, programme_id), PROGRAMME)


def enrolment(programme_id: str, partner: str, participant_id: str) -> Load[Any]:
    return Load(AggregateRef(CONTEXT, programme_id, partner, participant_id), ENROLMENT)


def concern(programme_id: str, partner: str, concern_id: str, *, foreign: bool = False) -> Load[Any]:
    return Load(AggregateRef(CONTEXT, programme_id, partner, concern_id), safeguarding.CONCERN, foreign)


def _others_concern(cmd: Any, ctx: CommandContext) -> Load[Any]:
    """A lead's work, on the raising partner's subject under an id the lead names: whatever
    else the partner keeps under that id is not shown to it (pathways.core.commands.Load)."""
    return concern(cmd.programme_id, cmd.partner_id, cmd.concern_id, foreign=cmd.partner_id != ctx.organisation)


def _enrolment_target(cmd: Any, ctx: CommandContext) -> Load[Any]:
    return enrolment(cmd.programme_id, ctx.organisation, cmd.participant_id)


async def _seal_personal(cmd: c.EnrolParticipant, ctx: CommandContext, keys: PersonKeys | None) -> c.EnrolParticipant:
    """Personal details leave here sealed with the person's own key, or not at all."""
    if cmd.sealed_personal is not None:
        raise reject(RejectionCode.INVALID, "sealed_personal is set by the platform; send the details as 'personal'.",
                     field="sealed_personal")
    if cmd.personal is None:
        return cmd
    if keys is None:
        raise RuntimeError("personal details were sent but this registry has no key store")
    enrolment = EnrolmentRef(cmd.programme_id, ctx.organisation, cmd.participant_id)
    try:
        key = await keys.key_for(enrolment)
    except NotAKey:
        raise reject(RejectionCode.RULE_VIOLATION, f"Personal details cannot be recorded for '{cmd.participant_id}': the "
                     "entry under their key name was not made by the platform. Enrol them under a new pseudonymous id, "
                     "and tell the platform's operator.", field="participant_id") from None
    sealed = seal(key, enrolment, cmd.personal)
    return cmd.model_copy(update={"personal": None, "sealed_personal": sealed})


async def _delete_key(cmd: c.EraseParticipantData | retention.ApplyRetention, ctx: CommandContext,
                      keys: PersonKeys | None) -> None:
    if keys is None:
        raise RuntimeError("an erasure needs the key store, and this registry has none")
    # The key shredder (shredder.py) does the same for every stored erasure, in case this
    # does not happen.
    partner = cmd.partner_id if isinstance(cmd, retention.ApplyRetention) else ctx.organisation
    await keys.erase(EnrolmentRef(cmd.programme_id, partner, cmd.participant_id))


HANDLERS = handlers_by_name(
    CommandHandler(
        c.RegisterOrganisation,
        target=lambda cmd, ctx: organisation(cmd.organisation_id),
        decide=decide.register_organisation,
    ),
    CommandHandler(
        c.LaunchProgramme,
        target=lambda cmd, ctx: programme_of(cmd.programme_id, ctx.organisation),
        facts=f.Launch,
        reads=lambda cmd, ctx: {
            "sender": organisation(ctx.organisation),
            "programme_anywhere": programme_anywhere(cmd.programme_id),
        },
        decide=decide.launch_programme,
    ),
    CommandHandler(
        c.CommissionPartner,
        target=lambda cmd, ctx: programme_of(cmd.programme_id, ctx.organisation),
        facts=f.Commissioning,
        reads=lambda cmd, ctx: {
            "programme_anywhere": programme_anywhere(cmd.programme_id),
            "partner": organisation(cmd.partner_id),
        },
        decide=decide.commission_partner,
    ),
    CommandHandler(
        c.SetTarget,
        target=lambda cmd, ctx: programme_of(cmd.programme_id, ctx.organisation),
        facts=f.ProgrammeAnywhere,
        reads=lambda cmd, ctx: {"programme_anywhere": programme_anywhere(cmd.programme_id)},
        decide=targets.set_target,
    ),
    CommandHandler(
        c.EnrolParticipant,
        target=_enrolment_target,
        facts=f.InProgramme,
        reads=lambda cmd, ctx: {"programme": programme_anywhere(cmd.programme_id)},
        prepare=_seal_personal,
        decide=decide.enrol_participant,
    ),
    CommandHandler(c.EraseParticipantData, target=_enrolment_target, decide=decide.erase_participant_data,
                   after=_delete_key),
    CommandHandler(c.RecordConsent, target=_enrolment_target, decide=decide.record_consent),
    CommandHandler(c.WithdrawConsent, target=_enrolment_target, decide=decide.withdraw_consent),
    CommandHandler(c.TransitionParticipant, target=_enrolment_target, decide=decide.transition_participant),
    CommandHandler(c.WithdrawParticipant, target=_enrolment_target, decide=decide.withdraw_participant),
    CommandHandler(c.ReferParticipant, target=_enrolment_target, facts=f.InProgramme,
                   reads=lambda cmd, ctx: {"programme": programme_anywhere(cmd.programme_id)},
                   decide=journey.refer_participant),
    CommandHandler(c.AcceptReferral, target=_enrolment_target, decide=journey.accept_referral),
    CommandHandler(c.DeclineReferral, target=_enrolment_target, decide=journey.decline_referral),
    CommandHandler(c.CompleteParticipation, target=_enrolment_target, decide=journey.complete_participation),
    CommandHandler(
        c.RegisterCoProducer,
        target=lambda cmd, ctx: Load(
            AggregateRef(CONTEXT, cmd.programme_id, ctx.organisation, cmd.co_producer_id), CO_PRODUCER
        ),
        facts=f.InProgramme,
        reads=lambda cmd, ctx: {"programme": programme_anywhere(cmd.programme_id)},
        decide=decide.register_co_producer,
    ),
    CommandHandler(
        sharing.RecordDataSharingAgreement,
        target=lambda cmd, ctx: programme_of(cmd.programme_id, ctx.organisation),
        facts=sharing.Agreeing,
        reads=lambda cmd, ctx: {"programme": programme_anywhere(cmd.programme_id),
                                "recipient": organisation(cmd.recipient_id)},
        decide=sharing.record_agreement,
    ),
    CommandHandler(
        sharing.EndDataSharingAgreement,
        target=lambda cmd, ctx: programme_of(cmd.programme_id, ctx.organisation),
        facts=f.InProgramme,
        reads=lambda cmd, ctx: {"programme": programme_anywhere(cmd.programme_id)},
        decide=sharing.end_agreement,
    ),
    CommandHandler(
        retention.SetRetentionRule,
        target=lambda cmd, ctx: programme_of(cmd.programme_id, ctx.organisation),
        facts=f.InProgramme,
        reads=lambda cmd, ctx: {"programme": programme_anywhere(cmd.programme_id)},
        decide=retention.set_rule,
    ),
    CommandHandler(
        retention.ApplyRetention,
        target=lambda cmd, ctx: Load(enrolment(cmd.programme_id, cmd.partner_id, cmd.participant_id).ref, ENROLMENT,
                                     foreign=True),
        facts=f.InProgramme,
        reads=lambda cmd, ctx: {"programme": programme_anywhere(cmd.programme_id)},
        decide=retention.apply_retention,
        after=_delete_key,
    ),
    CommandHandler(
        safeguarding.AppointSafeguardingLead,
        target=lambda cmd, ctx: programme_of(cmd.programme_id, ctx.organisation),
        facts=safeguarding.Appointing,
        reads=lambda cmd, ctx: {"programme_anywhere": programme_anywhere(cmd.programme_id),
                                "appointee": organisation(cmd.organisation_id)},
        decide=safeguarding.appoint_lead,
    ),
    CommandHandler(
        safeguarding.StandDownSafeguardingLead,
        target=lambda cmd, ctx: programme_of(cmd.programme_id, ctx.organisation),
        facts=f.InProgramme,
        reads=lambda cmd, ctx: {"programme": programme_anywhere(cmd.programme_id)},
        decide=safeguarding.stand_down_lead,
    ),
    CommandHandler(
        safeguarding.RaiseConcern,
        target=lambda cmd, ctx: concern(cmd.programme_id, ctx.organisation, cmd.concern_id),
        facts=safeguarding.Raising,
        reads=lambda cmd, ctx: {"programme": programme_anywhere(cmd.programme_id),
                                "enrolment": enrolment(cmd.programme_id, ctx.organisation, cmd.participant_id)},
        prepare=concerns.seal_raised,
        decide=safeguarding.raise_concern,
    ),
    CommandHandler(
        safeguarding.RecordConcernAction,
        target=_others_concern,
        facts=f.InProgramme,
        reads=lambda cmd, ctx: {"programme": programme_anywhere(cmd.programme_id)},
        prepare=concerns.seal_action,
        decide=safeguarding.record_action,
    ),
    CommandHandler(
        safeguarding.CloseConcern,
        target=_others_concern,
        facts=f.InProgramme,
        reads=lambda cmd, ctx: {"programme": programme_anywhere(cmd.programme_id)},
        prepare=concerns.seal_closure,
        decide=safeguarding.close_concern,
    ),
)
