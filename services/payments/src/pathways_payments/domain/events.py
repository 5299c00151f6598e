"""Payments events. Money is always integer pence, never a float."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pathways.core.ids import Id
from pathways.core.schemas import EventData, SchemaRegistry
from pydantic import BaseModel, ConfigDict, Field

schemas = SchemaRegistry()
event = schemas.event("payments")

Pence = int
ExpenseCategory = Literal["travel", "subsistence", "childcare", "materials", "other"]
# "assessment_period": Universal Credit's month, which runs from the claimant's own start day.
LimitPeriod = Literal["week", "month", "assessment_period"]
# The benefits whose earnings rules the platform knows: a limit applies only to people on its benefit.
Benefit = Literal["universal_credit_with_housing_costs", "universal_credit_without_housing_costs",
                  "employment_and_support_allowance", "carers_allowance"]


@event
class EarningsLimitSet(EventData):
    """A benefits earnings limit that applies from `valid_from` (until `valid_until` if set),
    e.g. the Universal Credit work allowance for a tax year. Limits are data, not code."""

    limit_id: Id
    scheme: str
    amount_pence: Pence = Field(gt=0)
    per: LimitPeriod
    valid_from: date
    valid_until: date | None
    benefit: Benefit | None = None  # None (limits set before benefits were recorded): anyone on benefits


@event
class CoProducerBenefitsRecorded(EventData):
    """The benefits a co-producer receives (none, one or several) and, for Universal Credit,
    the day their assessment periods start from. One record per person, whatever the
    programme: earnings are counted across every programme they are paid by."""

    programme_id: Id
    co_producer_id: Id
    benefits: list[Benefit]
    assessment_period_starts_on: date | None = None
    recorded_by: Id


@event
class InvolvementRecorded(EventData):
    """A co-producer's paid time, at their registered hourly rate."""

    programme_id: Id
    contract_id: Id
    partner_id: Id
    involvement_id: Id
    co_producer_id: Id
    worked_on: date
    minutes: int = Field(gt=0)
    hourly_rate_pence: Pence
    amount_pence: Pence
    activity: str


@event
class EarningsLimitWarning(EventData):
    """A co-producer's earnings paid in a period pass a benefits earnings limit: the
    commissioner was told before approving the payment run and approved it (earlier
    versions warned when the time was recorded, by the day worked)."""

    programme_id: Id
    co_producer_id: Id
    limit_id: Id
    scheme: str
    period_start: date
    period_end: date
    limit_pence: Pence
    earnings_before_pence: Pence
    earnings_after_pence: Pence
    partner_id: Id | None = None  # who engaged the co-producer: shown the warning too
    run_id: Id | None = None  # the payment run that paid past the limit


@event
class ExpenseClaimed(EventData):
    programme_id: Id
    contract_id: Id
    partner_id: Id
    claim_id: Id
    co_producer_id: Id
    category: ExpenseCategory
    amount_pence: Pence = Field(gt=0)
    incurred_on: date
    description: str
    claimant_organisation: Id
    claimant_actor: str


@event
class ExpenseApproved(EventData):
    programme_id: Id
    contract_id: Id
    partner_id: Id
    claim_id: Id
    amount_pence: Pence
    approver_organisation: Id
    approver_actor: str


@event
class ExpenseRejected(EventData):
    programme_id: Id
    contract_id: Id
    partner_id: Id
    claim_id: Id
    reason: str
    approver_organisation: Id
    approver_actor: str


class StaffPay(BaseModel):
    """What an invoice pays one of the partner's own co-producers (partner staff): earnings
    that count, for their benefits, on the day the invoice is paid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    co_producer_id: Id
    amount_pence: Pence = Field(gt=0)


@event
class InvoiceSubmitted(EventData):
    """A partner drew down part of its contract budget."""

    programme_id: Id
    contract_id: Id
    partner_id: Id
    invoice_id: Id
    amount_pence: Pence = Field(gt=0)
    period_start: date
    period_end: date
    description: str
    staff_pay: list[StaffPay] = Field(default_factory=list)


@event
class InvoicePaid(EventData):
    programme_id: Id
    contract_id: Id
    partner_id: Id
    invoice_id: Id
    amount_pence: Pence
    paid_on: date


class PaymentLine(BaseModel):
    """One approved expense or one piece of involvement, paid to a co-producer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str = Field(max_length=200, description="<kind>/<contract_id>/<involvement or claim id>")
    kind: Literal["involvement", "expense"]
    co_producer_id: Id
    contract_id: Id
    partner_id: Id
    on: date
    amount_pence: Pence


@event
class PaymentRunIssued(EventData):
    """The commissioner paid co-producers everything approved up to a date."""

    programme_id: Id
    run_id: Id
    up_to: date
    lines: list[PaymentLine]
    total_pence: Pence
    paid_on: date | None = None  # the day the money is paid: what benefits count (runs before it: the day issued)
