"""Payments events. Money is always integer pence, never a float."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pathways.ids import Id
from pathways.schemas import EventData, SchemaRegistry
from pydantic import BaseModel, ConfigDict, Field

schemas = SchemaRegistry()
event = schemas.event("payments")

Pence = int
ExpenseCategory = Literal["travel", "subsistence", "childcare", "materials", "other"]
LimitPeriod = Literal["week", "month"]


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
    """A co-producer's earnings in a period now pass a benefits earnings limit: the
    programme should talk to them before booking more paid time."""

    programme_id: Id
    co_producer_id: Id
    limit_id: Id
    scheme: str
    period_start: date
    period_end: date
    limit_pence: Pence
    earnings_before_pence: Pence
    earnings_after_pence: Pence


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
