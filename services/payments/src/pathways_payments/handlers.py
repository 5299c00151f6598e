"""Which aggregate each payments command writes, and what it consults. A contract's
account lives under the partner's organisation token (it is the partner's money and the
partner may read it); the commissioner's approvals are written there too."""

from __future__ import annotations

import hashlib
from typing import Any

from pathways.core.commands import OPERATOR_ORGANISATION, CommandContext, CommandHandler, Load, handlers_by_name
from pathways.core.subjects import NO_PROGRAMME, AggregateRef

from pathways_payments import ledger
from pathways_payments.domain import commands as c
from pathways_payments.domain import decide
from pathways_payments.domain import facts as f
from pathways_payments.domain.state import CO_PRODUCER_BENEFITS, CONTRACT_ACCOUNT, EARNINGS_LIMITS, PAYROLL
from pathways_payments.views import DIRECTORY

CONTEXT = "payments"
LIMITS = Load(AggregateRef(CONTEXT, NO_PROGRAMME, OPERATOR_ORGANISATION, "benefits-earnings-limits"), EARNINGS_LIMITS)


def _own_account(cmd: Any, ctx: CommandContext) -> Load[Any]:
    holder = getattr(cmd, "partner_id", None) or ctx.organisation
    return Load(AggregateRef(CONTEXT, cmd.programme_id, holder, cmd.contract_id), CONTRACT_ACCOUNT)


def _partner_account(cmd: Any, ctx: CommandContext) -> Load[Any]:
    return Load(AggregateRef(CONTEXT, cmd.programme_id, cmd.partner_id, cmd.contract_id), CONTRACT_ACCOUNT)


def _programme_and_contract(cmd: Any, ctx: CommandContext, conn: Any) -> dict[str, Any]:
    return {
        "programme": DIRECTORY.programme(conn, cmd.programme_id),
        "contract": DIRECTORY.contract(conn, cmd.programme_id, cmd.contract_id),
    }


def _takes_part(cmd: Any, ctx: CommandContext, conn: Any) -> dict[str, Any]:
    """Whether the sender is commissioned for the programme: a commissioner's command from
    anyone else is refused as forbidden to a partner of it, and as not found to a stranger."""
    return {"takes_part": bool(DIRECTORY.contracts(conn, cmd.programme_id, ctx.organisation))}


def _commissioners_decision(cmd: Any, ctx: CommandContext, conn: Any) -> dict[str, Any]:
    return _programme_and_contract(cmd, ctx, conn) | _takes_part(cmd, ctx, conn)


def _charge_facts(cmd: Any, ctx: CommandContext, conn: Any) -> dict[str, Any]:
    return _programme_and_contract(cmd, ctx, conn) | {
        "co_producers": DIRECTORY.co_producers(conn, cmd.programme_id, [cmd.co_producer_id]),
    }


def _invoice_facts(cmd: Any, ctx: CommandContext, conn: Any) -> dict[str, Any]:
    staff = [pay.co_producer_id for pay in cmd.staff_pay]
    return _programme_and_contract(cmd, ctx, conn) | {"co_producers": DIRECTORY.co_producers(conn, cmd.programme_id, staff)}


def _benefits_id(co_producer_id: str) -> str:
    """The benefits record's own aggregate id: never the payroll's or a contract account's
    (a co-producer may be called "payroll", or by a contract's id)."""
    named = f"benefits-{co_producer_id}"
    return named if len(named) <= 64 else f"benefits-{hashlib.sha256(co_producer_id.encode()).hexdigest()[:40]}"


def _invoice_payment_facts(cmd: Any, ctx: CommandContext, conn: Any) -> dict[str, Any]:
    """The commissioner's decision, and for the safeguard the invoice's staff (whom the
    contract account names; the view's copy is read here) and what each was paid around the day."""
    staff = ledger.staff_of(conn, cmd.programme_id, cmd.contract_id, cmd.invoice_id)
    return _commissioners_decision(cmd, ctx, conn) | {
        "staff": staff,
        "claimants": ledger.claimants(conn, cmd.programme_id, DIRECTORY.co_producers(conn, cmd.programme_id, staff)),
        "paid": ledger.paid_earnings(conn, staff, cmd.paid_on),
    }


def _payment_run_facts(cmd: Any, ctx: CommandContext, conn: Any) -> dict[str, Any]:
    """What is due, and for the safeguard: who of the payees receives benefits, and what each
    was paid around the pay day in every programme."""
    due = ledger.payable(conn, cmd.programme_id, cmd.up_to)
    payees = sorted({line.co_producer_id for line in due if line.kind == "involvement"})
    return _takes_part(cmd, ctx, conn) | {
        "programme": DIRECTORY.programme(conn, cmd.programme_id),
        "payable": due,
        "claimants": ledger.claimants(conn, cmd.programme_id, DIRECTORY.co_producers(conn, cmd.programme_id, payees)),
        "paid": ledger.paid_earnings(conn, payees, cmd.paid_on or ctx.now.date()),
    }


HANDLERS = handlers_by_name(
    CommandHandler(c.SetEarningsLimit, target=lambda cmd, ctx: LIMITS, decide=decide.set_earnings_limit),
    CommandHandler(c.RecordInvolvement, target=_own_account, facts=f.Charge, consults=_charge_facts,
                   decide=decide.record_involvement),
    CommandHandler(
        c.RecordCoProducerBenefits,
        target=lambda cmd, ctx: Load(AggregateRef(CONTEXT, cmd.programme_id, ctx.organisation,
                                                  _benefits_id(cmd.co_producer_id)), CO_PRODUCER_BENEFITS),
        facts=f.BenefitsFacts,
        consults=lambda cmd, ctx, conn: _takes_part(cmd, ctx, conn) | {
            "programme": DIRECTORY.programme(conn, cmd.programme_id),
            "co_producers": DIRECTORY.co_producers(conn, cmd.programme_id, [cmd.co_producer_id]),
        },
        decide=decide.record_co_producer_benefits,
    ),
    CommandHandler(c.ClaimExpense, target=_own_account, facts=f.Charge, consults=_charge_facts, decide=decide.claim_expense),
    CommandHandler(c.ApproveExpense, target=_partner_account, facts=f.ClaimDecision, consults=_commissioners_decision,
                   decide=decide.approve_expense),
    CommandHandler(c.RejectExpense, target=_partner_account, facts=f.ClaimDecision, consults=_commissioners_decision,
                   decide=decide.reject_expense),
    CommandHandler(c.SubmitInvoice, target=_own_account, facts=f.InvoiceFacts, consults=_invoice_facts,
                   decide=decide.submit_invoice),
    CommandHandler(c.PayInvoice, target=_partner_account, facts=f.InvoicePayment, reads=lambda cmd, ctx: {"limits": LIMITS},
                   consults=_invoice_payment_facts, decide=decide.pay_invoice),
    CommandHandler(
        c.IssuePaymentRun,
        target=lambda cmd, ctx: Load(AggregateRef(CONTEXT, cmd.programme_id, ctx.organisation, "payroll"), PAYROLL),
        facts=f.PaymentRunFacts,
        reads=lambda cmd, ctx: {"limits": LIMITS},
        consults=_payment_run_facts,
        decide=decide.issue_payment_run,
    ),
)
