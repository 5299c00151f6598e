"""Payments aggregates. A contract's account is the consistency boundary for spending:
every charge against the contract (involvement, approved expenses, invoices) is decided
on its one history, so two commands cannot both spend the last pound."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from pathways.core.commands import AggregateType
from pathways.core.schemas import EventData

from pathways_payments.domain import events as e


@dataclass(frozen=True)
class Claim:
    status: str  # claimed | approved | rejected
    amount_pence: int
    claimant_organisation: str
    claimant_actor: str


@dataclass(frozen=True)
class Invoice:
    status: str  # submitted | paid
    amount_pence: int
    staff_pay: tuple[tuple[str, int], ...] = ()  # (co-producer, pence) of the partner's own staff


@dataclass(frozen=True)
class ContractAccount:
    claims: dict[str, Claim] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    involvement_ids: frozenset[str] = frozenset()
    involvement_pence: int = 0

    @property
    def spent_pence(self) -> int:
        """Committed spend: recorded involvement, approved expenses, every invoice."""
        approved = sum(c.amount_pence for c in self.claims.values() if c.status == "approved")
        return self.involvement_pence + approved + sum(i.amount_pence for i in self.invoices.values())


def _evolve_account(state: ContractAccount, event: EventData) -> ContractAccount:
    match event:
        case e.InvolvementRecorded():
            return replace(
                state,
                involvement_ids=state.involvement_ids | {event.involvement_id},
                involvement_pence=state.involvement_pence + event.amount_pence,
            )
        case e.ExpenseClaimed():
            claim = Claim("claimed", event.amount_pence, event.claimant_organisation, event.claimant_actor)
            return replace(state, claims=state.claims | {event.claim_id: claim})
        case e.ExpenseApproved() | e.ExpenseRejected():
            status = "approved" if isinstance(event, e.ExpenseApproved) else "rejected"
            claim = replace(state.claims[event.claim_id], status=status)
            return replace(state, claims=state.claims | {event.claim_id: claim})
        case e.InvoiceSubmitted():
            staff = tuple((pay.co_producer_id, pay.amount_pence) for pay in event.staff_pay)
            return replace(state, invoices=state.invoices | {event.invoice_id: Invoice("submitted", event.amount_pence, staff)})
        case e.InvoicePaid():
            invoice = replace(state.invoices[event.invoice_id], status="paid")
            return replace(state, invoices=state.invoices | {event.invoice_id: invoice})
    return state


@dataclass(frozen=True)
class EarningsLimit:
    limit_id: str
    scheme: str
    amount_pence: int
    per: str
    valid_from: date
    valid_until: date | None
    benefit: str | None = None  # whose claimants it protects; None: everyone on benefits

    def applies_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)


@dataclass(frozen=True)
class EarningsLimits:
    limits: dict[str, EarningsLimit] = field(default_factory=dict)

    def on(self, day: date) -> list[EarningsLimit]:
        return [limit for limit in self.limits.values() if limit.applies_on(day)]


def _evolve_limits(state: EarningsLimits, event: EventData) -> EarningsLimits:
    if isinstance(event, e.EarningsLimitSet):
        limit = EarningsLimit(**event.model_dump())
        return replace(state, limits=state.limits | {event.limit_id: limit})
    return state


@dataclass(frozen=True)
class Payroll:
    """A programme's payment runs: which items have been paid, so none is paid twice."""

    run_ids: frozenset[str] = frozenset()
    paid_items: frozenset[str] = frozenset()


def _evolve_payroll(state: Payroll, event: EventData) -> Payroll:
    if isinstance(event, e.PaymentRunIssued):
        return Payroll(state.run_ids | {event.run_id}, state.paid_items | {line.item_id for line in event.lines})
    return state


CONTRACT_ACCOUNT = AggregateType(
    "contract account",
    ContractAccount(),
    _evolve_account,
    (e.InvolvementRecorded, e.EarningsLimitWarning, e.ExpenseClaimed, e.ExpenseApproved, e.ExpenseRejected,
     e.InvoiceSubmitted, e.InvoicePaid),
)
EARNINGS_LIMITS = AggregateType("earnings limits", EarningsLimits(), _evolve_limits, (e.EarningsLimitSet,))
PAYROLL = AggregateType("payroll", Payroll(), _evolve_payroll, (e.PaymentRunIssued, e.EarningsLimitWarning))


@dataclass(frozen=True)
class BenefitsRecord:
    recorded: bool = False


CO_PRODUCER_BENEFITS = AggregateType("co-producer's benefits", BenefitsRecord(),
                                     lambda state, event: BenefitsRecord(True), (e.CoProducerBenefitsRecorded,))
