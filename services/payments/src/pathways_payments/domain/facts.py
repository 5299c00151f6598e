"""What each payments rule is given beyond its target aggregate: the directory's facts
about the programme, contract and co-producers, the ledger's figures for the benefits
safeguard, and the earnings limits. handlers.py fills them by these field names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from pathways.policy.facts import ContractFacts, CoProducerFacts, ProgrammeFacts

from pathways_payments.domain import events as e
from pathways_payments.domain.safeguard import Claimant
from pathways_payments.domain.state import EarningsLimits


@dataclass(frozen=True, slots=True)
class Charge:
    """RecordInvolvement and ClaimExpense: a partner's charge to its contract."""

    programme: ProgrammeFacts | None
    contract: ContractFacts | None
    co_producers: Mapping[str, CoProducerFacts]


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    """SubmitInvoice: the contract it is against and the staff it pays."""

    programme: ProgrammeFacts | None
    contract: ContractFacts | None
    co_producers: Mapping[str, CoProducerFacts]


@dataclass(frozen=True, slots=True)
class Commissioned:
    """Whether the sender commissions the programme, or takes part in it (a stranger is
    told nothing of it)."""

    programme: ProgrammeFacts | None
    takes_part: bool


@dataclass(frozen=True, slots=True)
class BenefitsFacts(Commissioned):
    """RecordCoProducerBenefits."""

    co_producers: Mapping[str, CoProducerFacts]


@dataclass(frozen=True, slots=True)
class ClaimDecision(Commissioned):
    """ApproveExpense and RejectExpense: the commissioner's decision on a claim."""

    contract: ContractFacts | None


@dataclass(frozen=True, slots=True)
class Safeguarded(Commissioned):
    """A payment the benefits safeguard checks: who of the payees claims which benefits,
    what each was paid around the pay day in every programme, and the limits."""

    claimants: Mapping[str, Claimant]
    paid: Mapping[str, Sequence[tuple[date, int]]]
    limits: EarningsLimits


@dataclass(frozen=True, slots=True)
class InvoicePayment(Safeguarded):
    """PayInvoice: the invoice's staff as the ledger holds them."""

    contract: ContractFacts | None
    staff: Sequence[str]


@dataclass(frozen=True, slots=True)
class PaymentRunFacts(Safeguarded):
    """IssuePaymentRun: what is due."""

    payable: Sequence[e.PaymentLine]
