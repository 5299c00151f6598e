"""The benefits safeguard as a rule: would paying a co-producer this much, on this day,
take their earnings in the period past a limit of a benefit they receive? Earnings count
by the day they are paid (a payment run's pay day), in the claimant's own assessment
period, summed across every programme that pays them. Pure: the caller gathers what was
paid before (pathways_payments.ledger.paid_earnings)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pathways_payments.domain.periods import period_of
from pathways_payments.domain.state import EarningsLimit, EarningsLimits

ON_BENEFITS = "unspecified"  # registered as receiving benefits, which ones not yet recorded


@dataclass(frozen=True)
class Claimant:
    """A co-producer's benefits as last recorded."""

    co_producer_id: str
    benefits: tuple[str, ...]
    assessment_period_starts_on: date | None = None

    def protected_by(self, limit: EarningsLimit) -> bool:
        """A limit of a named benefit protects only its claimants; one without (set before
        benefits were recorded) protects everyone on benefits. Someone registered as on
        benefits whose benefits are not recorded yet is protected by every limit: not
        knowing which they receive must not leave them unprotected."""
        if ON_BENEFITS in self.benefits or limit.benefit is None:
            return bool(self.benefits)
        return limit.benefit in self.benefits


@dataclass(frozen=True)
class Breach:
    co_producer_id: str
    limit: EarningsLimit
    period_start: date
    period_end: date
    earnings_before_pence: int
    earnings_after_pence: int

    def explain(self) -> str:
        return (f"approving this would take {self.co_producer_id}'s earnings in the period from "
                f"{self.period_start:%d %B %Y} to {self.period_end:%d %B %Y} to £{self.earnings_after_pence / 100:,.2f}, "
                f"past the {self.limit.scheme} limit of £{self.limit.amount_pence / 100:,.2f}")

    def detail(self) -> dict[str, Any]:
        return {"co_producer_id": self.co_producer_id, "limit_id": self.limit.limit_id, "scheme": self.limit.scheme,
                "period_start": self.period_start.isoformat(), "period_end": self.period_end.isoformat(),
                "limit_pence": self.limit.amount_pence, "earnings_before_pence": self.earnings_before_pence,
                "earnings_after_pence": self.earnings_after_pence}


def breaches(claimant: Claimant, paid_on: date, paying_pence: int, paid_before: Sequence[tuple[date, int]],
             limits: EarningsLimits) -> list[Breach]:
    """Each limit this payment would pass: `paid_before` is what the person was paid
    already, by pay day, in every programme."""
    found = []
    for limit in sorted(limits.on(paid_on), key=lambda lim: lim.limit_id):
        if not claimant.protected_by(limit):
            continue
        start, end = period_of(paid_on, limit.per, claimant.assessment_period_starts_on)
        before = sum(pence for day, pence in paid_before if start <= day <= end)
        if before + paying_pence > limit.amount_pence:
            found.append(Breach(claimant.co_producer_id, limit, start, end, before, before + paying_pence))
    return found
