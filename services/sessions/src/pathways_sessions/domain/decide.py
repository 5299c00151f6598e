"""Sessions rules as pure functions. Facts about the programme (contracts, enrolments,
consent, co-producers) come from the service's own directory view, passed in as facts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pathways.core.commands import CommandContext, Decision, NoFacts
from pathways.core.replies import RejectionCode, reject
from pathways.policy.facts import ContractFacts, ineligible

from pathways_sessions.domain import commands as c
from pathways_sessions.domain import events as e
from pathways_sessions.domain import facts as f
from pathways_sessions.domain.state import Session, Showcase


def schedule_session(cmd: c.ScheduleSession, ctx: CommandContext, session: Session, facts: f.Scheduling) -> Decision:
    contracts = facts.contracts
    if not contracts:
        return _not_commissioned(ctx.organisation, cmd.programme_id)
    if session.scheduled:
        return reject(RejectionCode.RULE_VIOLATION, f"Session '{cmd.session_id}' is already scheduled.",
                      reason="already_scheduled")
    contract = _contract_on(contracts, cmd.starts_at.date())
    if contract is None:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"{cmd.starts_at.date()} is outside every contract period '{ctx.organisation}' holds in "
            f"'{cmd.programme_id}'.",
            field="starts_at",
        )
    if cmd.activity.casefold() not in {a.casefold() for a in contract.activities}:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"'{cmd.activity}' is not an activity of contract '{contract.contract_id}' "
            f"(commissioned: {', '.join(contract.activities)}).",
            field="activity",
        )
    co_producers = facts.co_producers
    unknown = [cp for cp in cmd.co_facilitators if cp not in co_producers]
    if unknown:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Co-facilitators must be registered co-producers of '{cmd.programme_id}'; not registered: "
            f"{', '.join(unknown)}.",
            field="co_facilitators",
        )
    return [
        e.SessionScheduled(
            partner_id=ctx.organisation, contract_id=contract.contract_id, **cmd.model_dump()
        )
    ]


def record_delivered(cmd: c.RecordSessionDelivered, ctx: CommandContext, session: Session, facts: f.Attendance) -> Decision:
    if not session.scheduled:
        return reject(RejectionCode.NOT_FOUND, f"There is no scheduled session '{cmd.session_id}' to record as delivered.")
    # Who may be recorded is checked before the session's own state, so a register
    # imported twice meets the same refusal (naming the same people) both times.
    enrolments = facts.enrolments
    absent = [a.participant_id for a in cmd.absences]
    refused = ineligible([*cmd.attendees, *absent], enrolments)
    if refused:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Attendance can only be recorded for participants enrolled with '{ctx.organisation}' who "
            f"consent; {refused.explain(ctx.organisation)}.",
            field="absences" if set(refused.not_enrolled + refused.withdrawn + refused.without_consent).isdisjoint(
                cmd.attendees) else "attendees",
            ineligible=sorted({*refused.not_enrolled, *refused.withdrawn, *refused.without_consent}),
        )
    both = sorted(set(absent) & set(cmd.attendees))
    if both:
        return reject(RejectionCode.INVALID, f"Recorded as both attending and absent: {', '.join(both)}.",
                      field="absences")
    refusal = _check_open(session, cmd.session_id, "record as delivered")
    if refusal is not None:
        return refusal
    delivered_on = cmd.delivered_on or session.starts_at.date()
    if not session.starts_at.date() <= delivered_on <= ctx.now.date():
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"A session scheduled for {session.starts_at.date()} cannot be recorded as delivered on "
            f"{delivered_on}: the day must be on or after the scheduled day and not in the future.",
            field="delivered_on",
        )
    if len(cmd.attendees) > session.capacity:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"{len(cmd.attendees)} attendees exceed the session's capacity of {session.capacity}.",
            field="attendees",
            capacity=session.capacity,
        )
    return [
        e.SessionDelivered(
            programme_id=cmd.programme_id,
            session_id=cmd.session_id,
            partner_id=ctx.organisation,
            activity=session.activity,
            site=session.site,
            delivered_on=delivered_on,
            attendees=cmd.attendees,
            duration_minutes=cmd.duration_minutes,
            absences=[e.Absence(**a.model_dump()) for a in cmd.absences],
        )
    ]


def cancel_session(cmd: c.CancelSession, ctx: CommandContext, session: Session, _: NoFacts) -> Decision:
    refusal = _check_open(session, cmd.session_id, "cancel")
    if refusal is not None:
        return refusal
    return [e.SessionCancelled(partner_id=ctx.organisation, **cmd.model_dump())]


def hold_showcase(cmd: c.HoldShowcase, ctx: CommandContext, showcase: Showcase, facts: f.ShowcaseFacts) -> Decision:
    contracts = facts.contracts
    if not contracts:
        return _not_commissioned(ctx.organisation, cmd.programme_id)
    if showcase.held:
        return reject(RejectionCode.RULE_VIOLATION, f"Showcase '{cmd.showcase_id}' is already recorded.")
    if _contract_on(contracts, cmd.held_on) is None:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"{cmd.held_on} is outside every contract period '{ctx.organisation}' holds.",
            field="held_on",
        )
    refused = ineligible(cmd.featured_participants, facts.enrolments, "photographs_and_showcases")
    if refused:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Only participants enrolled with '{ctx.organisation}' who consent to photographs and showcases "
            "can be featured; "
            f"{refused.explain(ctx.organisation)}.",
            field="featured_participants",
        )
    return [e.ShowcaseHeld(partner_id=ctx.organisation, **cmd.model_dump())]


def _check_open(session: Session, session_id: str, action: str) -> Decision | None:
    if not session.scheduled:
        return reject(RejectionCode.NOT_FOUND, f"There is no scheduled session '{session_id}' to {action}.")
    if session.cancelled:
        return reject(RejectionCode.RULE_VIOLATION, f"Session '{session_id}' was cancelled; it cannot be {_past(action)}.")
    if session.delivered:
        return reject(RejectionCode.RULE_VIOLATION, f"Session '{session_id}' was already delivered.")
    return None


def _past(action: str) -> str:
    return {"cancel": "cancelled"}.get(action, "recorded as delivered")


def _contract_on(contracts: Sequence[ContractFacts], day: date) -> ContractFacts | None:
    return next((k for k in contracts if k.covers(day)), None)


def _not_commissioned(partner: str, programme_id: str) -> Decision:
    return reject(
        RejectionCode.FORBIDDEN,
        f"Organisation '{partner}' is not commissioned for programme '{programme_id}'.",
    )
