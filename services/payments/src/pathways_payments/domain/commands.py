"""Payments commands: what partners and commissioners send."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pathways.core.ids import Id
from pathways.core.schemas import CommandData
from pydantic import Field, StringConstraints, model_validator

from pathways_payments.domain.events import Benefit, ExpenseCategory, LimitPeriod, StaffPay, schemas

command = schemas.command("payments")
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Pence = Annotated[int, Field(gt=0, le=100_000_000_00, description="Amount in pence")]


@command
class SetEarningsLimit(CommandData):
    """Configure a benefits earnings limit for a period (the platform operator only)."""

    limit_id: Id
    scheme: Text
    amount_pence: Pence
    per: LimitPeriod
    valid_from: date
    valid_until: date | None = None
    benefit: Benefit | None = Field(None, description="The benefit whose claimants this limit protects; without one it "
                                    "applies to everyone recorded as receiving benefits")

    @model_validator(mode="after")
    def _period(self) -> SetEarningsLimit:
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        return self


_HOLDER = Field(None, description="The partner holding the contract, when the commissioner charges it "
                "on the partner's behalf; omit when the partner sends the command")


@command
class RecordInvolvement(CommandData):
    """Record a co-producer's paid time against a contract."""

    programme_id: Id
    partner_id: Id | None = _HOLDER
    contract_id: Id
    involvement_id: Id
    co_producer_id: Id
    worked_on: date
    minutes: int = Field(gt=0, le=24 * 60)
    activity: Text


@command
class ClaimExpense(CommandData):
    """Claim a co-producer's expense against a contract; a commissioner approves it."""

    programme_id: Id
    partner_id: Id | None = _HOLDER
    contract_id: Id
    claim_id: Id
    co_producer_id: Id
    category: ExpenseCategory
    amount_pence: Pence
    incurred_on: date
    description: Text


class _ClaimDecision(CommandData):
    programme_id: Id
    partner_id: Id = Field(description="The partner holding the contract")
    contract_id: Id
    claim_id: Id


@command
class ApproveExpense(_ClaimDecision):
    """Approve a claim (the programme's commissioner, never the person who claimed)."""


@command
class RejectExpense(_ClaimDecision):
    reason: Text


@command
class SubmitInvoice(CommandData):
    """A partner draws down part of its contract budget; `staff_pay` names what of it pays the
    partner's own co-producers (staff on its payroll), which the benefits safeguard counts
    when the invoice is paid."""

    programme_id: Id
    contract_id: Id
    invoice_id: Id
    amount_pence: Pence
    period_start: date
    period_end: date
    description: Text
    staff_pay: list[StaffPay] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _period(self) -> SubmitInvoice:
        if self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        return self


@command
class PayInvoice(CommandData):
    """Pay a partner's invoice (the commissioner). If the pay of a co-producer in it would pass
    an earnings limit on the day it is paid, it is refused with the period and amounts until
    sent again naming them in confirm_over_limits."""

    programme_id: Id
    partner_id: Id
    contract_id: Id
    invoice_id: Id
    paid_on: date
    confirm_over_limits: list[Id] = Field(default_factory=list, max_length=200)


@command
class RecordCoProducerBenefits(CommandData):
    """Record which benefits a co-producer receives (an empty list: none), and the day their
    Universal Credit assessment periods start from (the commissioner or the partner that
    engaged them). The latest record counts, in every programme that pays them."""

    programme_id: Id
    co_producer_id: Id
    benefits: list[Benefit] = Field(max_length=4)
    assessment_period_starts_on: date | None = Field(None, description="Universal Credit: the first day of their "
                                                     "first assessment period (each one runs a month from that day)")


@command
class IssuePaymentRun(CommandData):
    """Pay co-producers everything approved and recorded up to a date (the commissioner).
    If the run would take a co-producer on benefits past an earnings limit, it is refused
    with the periods and amounts, until it is sent again naming them in confirm_over_limits."""

    programme_id: Id
    run_id: Id
    up_to: date
    paid_on: date | None = Field(None, description="The day the money reaches people (default: today): benefits "
                                 "count earnings by the day they are paid")
    confirm_over_limits: list[Id] = Field(default_factory=list, max_length=500,
                                          description="Co-producers you were warned about and still mean to pay")
