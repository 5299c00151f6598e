"""Payments rules as pure functions: who may spend and approve, the contract budget, and
the benefits earnings limits. Programme facts come from the service's directory view;
earlier payments from its own ledger view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from pathways.core.actors import canonical_actor
from pathways.core.commands import OPERATOR_ORGANISATION, CommandContext, Decision, NoFacts
from pathways.core.replies import Rejection, RejectionCode, no_such_programme, reject
from pathways.policy.facts import ContractFacts

from pathways_payments.domain import commands as c
from pathways_payments.domain import events as e
from pathways_payments.domain import facts as f
from pathways_payments.domain import safeguard
from pathways_payments.domain.state import BenefitsRecord, ContractAccount, EarningsLimits, Payroll


def pounds(pence: int) -> str:
    return f"£{pence / 100:,.2f}" if pence % 100 else f"£{pence // 100:,}"


def set_earnings_limit(cmd: c.SetEarningsLimit, ctx: CommandContext, limits: EarningsLimits, _: NoFacts) -> Decision:
    if ctx.organisation != OPERATOR_ORGANISATION:
        return reject(RejectionCode.FORBIDDEN, "Only the platform operator configures benefits earnings limits.")
    if cmd.limit_id in limits.limits:
        return reject(RejectionCode.RULE_VIOLATION, f"Earnings limit '{cmd.limit_id}' is already set; give a new "
                      "period its own limit id.")
    return [e.EarningsLimitSet(**cmd.model_dump())]


def record_involvement(cmd: c.RecordInvolvement, ctx: CommandContext, account: ContractAccount, facts: f.Charge) -> Decision:
    refusal = _check_partner_charge(cmd, ctx, facts, cmd.worked_on)
    if refusal is not None:
        return refusal
    if cmd.involvement_id in account.involvement_ids:
        return reject(RejectionCode.RULE_VIOLATION, f"Involvement '{cmd.involvement_id}' is already recorded.")
    co_producer = facts.co_producers[cmd.co_producer_id]
    # Half a penny and more rounds up: the co-producer is never paid less than their time.
    amount = (cmd.minutes * co_producer.hourly_rate_pence + 30) // 60
    assert facts.contract is not None  # _check_partner_charge refused the command otherwise
    budget_refusal = _check_budget(facts.contract, account, amount, f"{cmd.minutes} minutes of involvement")
    if budget_refusal is not None:
        return budget_refusal
    # Earnings count when they are paid, not when the time is worked: the safeguard is at
    # the payment run (issue_payment_run), before the commissioner approves it.
    return [e.InvolvementRecorded(hourly_rate_pence=co_producer.hourly_rate_pence, amount_pence=amount,
                                  **cmd.model_dump() | {"partner_id": holder(cmd, ctx)})]


def record_co_producer_benefits(cmd: c.RecordCoProducerBenefits, ctx: CommandContext, _: BenefitsRecord,
                                facts: f.BenefitsFacts) -> Decision:
    programme = facts.programme
    co_producer = facts.co_producers.get(cmd.co_producer_id)
    if programme is None or (ctx.organisation != programme.commissioner_id and not facts.takes_part):
        return no_such_programme(cmd.programme_id)
    if co_producer is None or ctx.organisation not in (co_producer.engaged_by, programme.commissioner_id):
        return reject(RejectionCode.RULE_VIOLATION, f"'{cmd.co_producer_id}' is not a co-producer you engaged in "
                      f"'{cmd.programme_id}' (the commissioner or the engaging partner records their benefits).",
                      field="co_producer_id")
    if len(set(cmd.benefits)) != len(cmd.benefits):
        return reject(RejectionCode.INVALID, "Each benefit may be listed once.", field="benefits")
    universal_credit = any(b.startswith("universal_credit") for b in cmd.benefits)
    if universal_credit and cmd.assessment_period_starts_on is None:
        return reject(RejectionCode.RULE_VIOLATION, "Universal Credit counts earnings in the claimant's own assessment "
                      "periods: give the day their first one started (assessment_period_starts_on).",
                      field="assessment_period_starts_on")
    return [e.CoProducerBenefitsRecorded(recorded_by=ctx.organisation, **cmd.model_dump())]


def claim_expense(cmd: c.ClaimExpense, ctx: CommandContext, account: ContractAccount, facts: f.Charge) -> Decision:
    refusal = _check_partner_charge(cmd, ctx, facts, cmd.incurred_on)
    if refusal is not None:
        return refusal
    if cmd.claim_id in account.claims:
        return reject(RejectionCode.RULE_VIOLATION, f"Claim '{cmd.claim_id}' already exists.")
    return [e.ExpenseClaimed(claimant_organisation=ctx.organisation, claimant_actor=ctx.actor,
                             **cmd.model_dump() | {"partner_id": holder(cmd, ctx)})]


def approve_expense(cmd: c.ApproveExpense, ctx: CommandContext, account: ContractAccount, facts: f.ClaimDecision) -> Decision:
    refusal = _check_claim_decision(cmd, ctx, account, facts, "approve")
    if refusal is not None:
        return refusal
    claim = account.claims[cmd.claim_id]
    assert facts.contract is not None  # _check_claim_decision refused the command otherwise
    budget_refusal = _check_budget(facts.contract, account, claim.amount_pence, f"claim '{cmd.claim_id}'")
    if budget_refusal is not None:
        return budget_refusal
    return [e.ExpenseApproved(amount_pence=claim.amount_pence, approver_organisation=ctx.organisation,
                              approver_actor=ctx.actor, **cmd.model_dump())]


def reject_expense(cmd: c.RejectExpense, ctx: CommandContext, account: ContractAccount, facts: f.ClaimDecision) -> Decision:
    refusal = _check_claim_decision(cmd, ctx, account, facts, "reject")
    if refusal is not None:
        return refusal
    return [e.ExpenseRejected(approver_organisation=ctx.organisation, approver_actor=ctx.actor, **cmd.model_dump())]


def submit_invoice(cmd: c.SubmitInvoice, ctx: CommandContext, account: ContractAccount, facts: f.InvoiceFacts) -> Decision:
    contract = facts.contract
    if contract is None or contract.partner_id != ctx.organisation:
        return _no_contract(cmd.contract_id, ctx.organisation)
    if cmd.invoice_id in account.invoices:
        return reject(RejectionCode.RULE_VIOLATION, f"Invoice '{cmd.invoice_id}' was already submitted.")
    if cmd.period_start < contract.starts_on or cmd.period_end > contract.ends_on:
        return reject(RejectionCode.RULE_VIOLATION, f"The invoice period must lie within the contract "
                      f"({contract.starts_on} to {contract.ends_on}).", field="period_start")
    budget_refusal = _check_budget(contract, account, cmd.amount_pence, f"invoice '{cmd.invoice_id}'")
    if budget_refusal is not None:
        return budget_refusal
    staff = [pay.co_producer_id for pay in cmd.staff_pay]
    strangers = sorted(cp for cp in set(staff) if (found := facts.co_producers.get(cp)) is None
                       or found.engaged_by != ctx.organisation)
    if strangers or len(set(staff)) != len(staff):
        return reject(RejectionCode.RULE_VIOLATION, "staff_pay names each of the partner's own co-producers once; "
                      f"not yours or named twice: {', '.join(strangers) or 'a repeated id'}.", field="staff_pay")
    if sum(pay.amount_pence for pay in cmd.staff_pay) > cmd.amount_pence:
        return reject(RejectionCode.RULE_VIOLATION, "staff_pay adds up to more than the invoice.", field="staff_pay")
    return [e.InvoiceSubmitted(partner_id=ctx.organisation, **cmd.model_dump())]


def pay_invoice(cmd: c.PayInvoice, ctx: CommandContext, account: ContractAccount, facts: f.InvoicePayment) -> Decision:
    refusal = _check_commissioner(ctx, facts, cmd.programme_id, "pay invoices")
    if refusal is not None:
        return refusal
    invoice = account.invoices.get(cmd.invoice_id)
    if invoice is None:
        return reject(RejectionCode.NOT_FOUND, f"There is no invoice '{cmd.invoice_id}' on contract '{cmd.contract_id}'.")
    if invoice.status == "paid":
        return reject(RejectionCode.RULE_VIOLATION, f"Invoice '{cmd.invoice_id}' is already paid.")
    if cmd.paid_on > ctx.now.date() + timedelta(days=31):
        return reject(RejectionCode.RULE_VIOLATION, f"{cmd.paid_on} is more than a month away: record the payment when "
                      "it is made.", field="paid_on")
    if {cp for cp, _ in invoice.staff_pay} - set(facts.staff):  # the ledger has not caught up with the account
        return reject(RejectionCode.UNAVAILABLE, "The invoice's staff pay is not in the ledger yet: send it again shortly "
                      "with the same idempotency key.")
    # The partner's own staff are paid by the invoice: their earnings count the day it is paid.
    staff_lines = [e.PaymentLine(item_id=f"staff/{cmd.contract_id}/{cmd.invoice_id}/{cp}", kind="involvement",
                                 co_producer_id=cp, contract_id=cmd.contract_id, partner_id=cmd.partner_id,
                                 on=cmd.paid_on, amount_pence=pence) for cp, pence in invoice.staff_pay]
    refusal, warnings = _safeguarded(staff_lines, cmd.paid_on, cmd.confirm_over_limits, facts, cmd.programme_id, None)
    if refusal is not None:
        return refusal
    return [e.InvoicePaid(amount_pence=invoice.amount_pence, **cmd.model_dump(exclude={"confirm_over_limits"})), *warnings]


def issue_payment_run(cmd: c.IssuePaymentRun, ctx: CommandContext, payroll: Payroll, facts: f.PaymentRunFacts) -> Decision:
    refusal = _check_commissioner(ctx, facts, cmd.programme_id, "issue payment runs")
    if refusal is not None:
        return refusal
    if cmd.run_id in payroll.run_ids:
        return reject(RejectionCode.RULE_VIOLATION, f"Payment run '{cmd.run_id}' was already issued.")
    due: list[e.PaymentLine] = [line for line in facts.payable if line.item_id not in payroll.paid_items]
    if not due:
        return reject(RejectionCode.RULE_VIOLATION, f"Nothing approved or recorded up to {cmd.up_to} is waiting to "
                      "be paid.")
    paid_on = cmd.paid_on or ctx.now.date()
    # The pay day decides which period earnings count in: not before the work it pays for,
    # nor so far ahead that no limit yet applies (a month's notice at most).
    if not cmd.up_to <= paid_on <= ctx.now.date() + timedelta(days=31):
        return reject(RejectionCode.RULE_VIOLATION, f"A run paying for work up to {cmd.up_to} cannot be paid on {paid_on}: "
                      "the pay day is on or after up_to and within a month from today.", field="paid_on")
    refusal, warnings = _safeguarded(due, paid_on, cmd.confirm_over_limits, facts, cmd.programme_id, cmd.run_id)
    if refusal is not None:
        return refusal
    run = e.PaymentRunIssued(lines=due, total_pence=sum(line.amount_pence for line in due), paid_on=paid_on,
                             **cmd.model_dump(exclude={"paid_on", "confirm_over_limits"}))
    return [run, *warnings]


def _safeguarded(due: list[e.PaymentLine], paid_on: date, confirmed: list[str], facts: f.Safeguarded, programme_id: str,
                 run_id: str | None) -> tuple[Rejection | None, list[e.EarningsLimitWarning]]:
    """The benefits safeguard before a payment is approved: refused with the periods and
    amounts while a breach is unconfirmed; once confirmed, a warning for each partner whose
    contract pays the person. A confirmation answers a warning, never given ahead of one."""
    found = over_limits(due, paid_on, facts.claimants, facts.paid, facts.limits)
    needless = sorted(set(confirmed) - {b.co_producer_id for b in found})
    if needless:
        return reject(RejectionCode.RULE_VIOLATION, f"confirm_over_limits names {', '.join(needless)}, whom this payment "
                      "takes past no earnings limit: confirm only those you were warned about.",
                      field="confirm_over_limits"), []
    unconfirmed = [b for b in found if b.co_producer_id not in confirmed]
    if unconfirmed:
        return reject(RejectionCode.RULE_VIOLATION, "This payment is not made: "
                      + "; ".join(b.explain() for b in unconfirmed) + ". Talk to them first; to pay it even so, send it "
                      "again naming them in confirm_over_limits.", reason="over_earnings_limit",
                      over_limits=[b.detail() for b in unconfirmed]), []
    paying = sorted({(line.co_producer_id, line.partner_id) for line in due if line.kind == "involvement"})
    return None, [e.EarningsLimitWarning(
        programme_id=programme_id, co_producer_id=b.co_producer_id, limit_id=b.limit.limit_id, scheme=b.limit.scheme,
        period_start=b.period_start, period_end=b.period_end, limit_pence=b.limit.amount_pence,
        earnings_before_pence=b.earnings_before_pence, earnings_after_pence=b.earnings_after_pence,
        partner_id=partner, run_id=run_id)
        for b in found for cp, partner in paying if cp == b.co_producer_id]


def over_limits(due: Sequence[e.PaymentLine], paid_on: date, claimants: Mapping[str, safeguard.Claimant],
                paid: Mapping[str, Sequence[tuple[date, int]]], limits: EarningsLimits) -> list[safeguard.Breach]:
    """The limits this run would pass: its involvement is earnings (expenses repaid are not)."""
    paying: dict[str, int] = {}
    for line in due:
        if line.kind == "involvement":
            paying[line.co_producer_id] = paying.get(line.co_producer_id, 0) + line.amount_pence
    found = []
    for co_producer_id, pence in sorted(paying.items()):
        claimant = claimants.get(co_producer_id)
        if claimant is not None:
            found += safeguard.breaches(claimant, paid_on, pence, paid.get(co_producer_id, []), limits)
    return found


def holder(cmd: c.RecordInvolvement | c.ClaimExpense, ctx: CommandContext) -> str:
    """The partner whose contract is charged: the sender, unless the commissioner names one."""
    return cmd.partner_id or ctx.organisation


def _check_partner_charge(
    cmd: c.RecordInvolvement | c.ClaimExpense, ctx: CommandContext, facts: f.Charge, day: date
) -> Rejection | None:
    contract, programme = facts.contract, facts.programme
    partner = holder(cmd, ctx)
    if contract is None or programme is None or contract.partner_id != partner:
        return _no_contract(cmd.contract_id, partner)
    if ctx.organisation not in (partner, programme.commissioner_id):
        return reject(RejectionCode.FORBIDDEN, f"Only '{partner}' or the programme's commissioner may charge "
                      f"contract '{cmd.contract_id}'.")
    co_producer = facts.co_producers.get(cmd.co_producer_id)
    if co_producer is None or co_producer.engaged_by not in (partner, programme.commissioner_id):
        return reject(RejectionCode.RULE_VIOLATION, f"'{cmd.co_producer_id}' is not a co-producer registered by "
                      f"'{partner}' or the commissioner in '{cmd.programme_id}'.", field="co_producer_id")
    if not contract.covers(day):
        return reject(RejectionCode.RULE_VIOLATION, f"{day} is outside contract '{cmd.contract_id}' "
                      f"({contract.starts_on} to {contract.ends_on}).")
    return None


def _check_claim_decision(
    cmd: c.ApproveExpense | c.RejectExpense, ctx: CommandContext, account: ContractAccount, facts: f.ClaimDecision,
    verb: str,
) -> Rejection | None:
    refusal = _check_commissioner(ctx, facts, cmd.programme_id, f"{verb} expenses")
    if refusal is not None:
        return refusal
    contract = facts.contract
    claim = account.claims.get(cmd.claim_id)
    if contract is None or contract.partner_id != cmd.partner_id or claim is None:
        return reject(RejectionCode.NOT_FOUND, f"There is no claim '{cmd.claim_id}' on contract '{cmd.contract_id}' "
                      f"of '{cmd.partner_id}'.")
    # Actors are compared as one spelling: claims stored before envelopes canonicalised the
    # actor hold it as typed (`Finance@C` and `finance@c` are one person).
    if (claim.claimant_organisation, canonical_actor(claim.claimant_actor)) == (ctx.organisation, canonical_actor(ctx.actor)):
        return reject(RejectionCode.FORBIDDEN, f"'{ctx.actor}' made claim '{cmd.claim_id}' and cannot {verb} it: "
                      "someone else must (separation of duties).")
    if claim.status != "claimed":
        return reject(RejectionCode.RULE_VIOLATION, f"Claim '{cmd.claim_id}' was already {claim.status}.")
    return None


def _check_commissioner(ctx: CommandContext, facts: f.Commissioned, programme_id: str, what: str) -> Rejection | None:
    programme = facts.programme
    if programme is None:
        return no_such_programme(programme_id)
    if ctx.organisation != programme.commissioner_id:
        if not facts.takes_part:
            return no_such_programme(programme_id)  # a stranger learns nothing of it, nor who runs it
        return reject(RejectionCode.FORBIDDEN, f"Only the programme's commissioner may {what} in '{programme_id}'.")
    return None


def _check_budget(contract: ContractFacts, account: ContractAccount, amount: int, what: str) -> Rejection | None:
    remaining = contract.budget_pence - account.spent_pence
    if amount > remaining:
        return reject(
            RejectionCode.RULE_VIOLATION,
            f"Paying {pounds(amount)} for {what} would take spend on contract '{contract.contract_id}' past its "
            f"budget of {pounds(contract.budget_pence)} ({pounds(remaining)} left).",
            amount_pence=amount, remaining_pence=remaining,
        )
    return None


def _no_contract(contract_id: str, organisation: str) -> Rejection:
    return reject(RejectionCode.NOT_FOUND, f"'{organisation}' holds no contract '{contract_id}' in this programme.")
