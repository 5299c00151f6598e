"""Retention: personal details are kept no longer than the programme's rule says (UK GDPR
article 5(1)(e)). The commissioner sets the rule; once its day has come, the commissioner or
the platform's operator (`pathways retention run`) erases each enrolment's details, one
command per enrolment, exactly as the enrolling partner's own erasure does: the key is
deleted, the pseudonymous history stays and the ledger still verifies."""

from __future__ import annotations

from datetime import date, timedelta

from pathways.core.commands import OPERATOR_ORGANISATION, CommandContext, Decision
from pathways.core.ids import Id
from pathways.core.replies import RejectionCode, no_such_programme, reject
from pathways.core.schemas import CommandData
from pydantic import Field

from pathways_registry.domain import events as e
from pathways_registry.domain import facts as f
from pathways_registry.domain.commands import command
from pathways_registry.domain.decide import check_commissioner
from pathways_registry.domain.state import Enrolment, Programme


@command
class SetRetentionRule(CommandData):
    """Keep people's personal details until this many whole years after the programme ends
    (the programme's commissioner only; set again to change it)."""

    programme_id: Id
    years_after_end: int = Field(ge=0, le=100, description="0: erase as soon as the programme ends")


@command
class ApplyRetention(CommandData):
    """Erase one enrolment's personal details because the programme's retention rule says
    their time is up (the commissioner, or the platform's operator)."""

    programme_id: Id
    partner_id: Id
    participant_id: Id


def due_on(ends_on: date, years_after_end: int | None) -> date | None:
    """The day the rule erases from, or None without a rule: the day after the programme's
    last day (`ends_on` is a day it still runs), then that many whole years on. A year from
    29 February is 1 March, never the 28th: a day early is before the rule's time."""
    if years_after_end is None:
        return None
    first_day_after = ends_on + timedelta(days=1)
    try:
        return first_day_after.replace(year=first_day_after.year + years_after_end)
    except ValueError:  # 29 February, in a year that has none
        return date(first_day_after.year + years_after_end, 3, 1)


def set_rule(cmd: SetRetentionRule, ctx: CommandContext, _: Programme, facts: f.InProgramme) -> Decision:
    refusal = check_commissioner(facts.programme, cmd.programme_id, ctx.organisation, "sets the retention rule")
    if refusal is not None:
        return refusal
    if facts.programme.retention_years == cmd.years_after_end:
        return reject(RejectionCode.RULE_VIOLATION, f"The retention rule of '{cmd.programme_id}' is already "
                      f"{cmd.years_after_end} years after it ends.")
    return [e.RetentionRuleSet(programme_id=cmd.programme_id, years_after_end=cmd.years_after_end)]


def apply_retention(cmd: ApplyRetention, ctx: CommandContext, enrolment: Enrolment, facts: f.InProgramme) -> Decision:
    programme = facts.programme
    if ctx.organisation != OPERATOR_ORGANISATION:
        refusal = check_commissioner(programme, cmd.programme_id, ctx.organisation, "applies the retention rule")
        if refusal is not None:
            return refusal
    elif not programme.launched:
        return no_such_programme(cmd.programme_id)
    due = due_on(programme.ends_on, programme.retention_years)
    if due is None:
        return reject(RejectionCode.RULE_VIOLATION, f"'{cmd.programme_id}' has no retention rule: its commissioner sets "
                      "one with SetRetentionRule.")
    today = ctx.now.date()
    if today < due:
        return reject(RejectionCode.RULE_VIOLATION, f"The retention rule of '{cmd.programme_id}' erases personal "
                      f"details from {due.isoformat()}, not before.")
    if not enrolment.enrolled:
        return reject(RejectionCode.NOT_FOUND, f"Participant '{cmd.participant_id}' is not enrolled with "
                      f"'{cmd.partner_id}' in '{cmd.programme_id}'.")
    if enrolment.erased:
        return reject(RejectionCode.RULE_VIOLATION, f"Participant '{cmd.participant_id}''s details are already erased.")
    return [e.ParticipantDataErased(programme_id=cmd.programme_id, partner_id=cmd.partner_id,
                                    participant_id=cmd.participant_id, erased_on=today)]
