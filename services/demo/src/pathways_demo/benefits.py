"""The demo's benefits safeguard: the earnings limits of 2025/26 as data (Universal Credit's
work allowances, ESA permitted work, Carer's Allowance), the benefits each co-producer on
benefits receives (all on Universal Credit here, each with an assessment period from their
own start day), and monthly payment runs paid on the 3rd. Earnings count by the day they
are paid, so a month's run is what falls in one assessment period: a run that would take
someone past their allowance names them in `confirm_over_limits`, as a commissioner does
once warned (demo-cp-music-1's February of peer research does it once)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import TYPE_CHECKING

from pathways.core.ids import OPERATOR_ORGANISATION

from pathways_demo.cast import COMMISSIONER, END, FINANCE, PARTNERS, START

if TYPE_CHECKING:
    from pathways_demo.steps import Step, _Builder

TAX_YEAR = (date(2025, 4, 7), date(2026, 4, 5))
# (limit id, scheme, pence, per, benefit): public 2025/26 figures, as a commissioner's operator would set them.
LIMITS = (
    ("demo-uc-housing-2025-26", "Universal Credit work allowance (with housing costs)", 41_100, "assessment_period",
     "universal_credit_with_housing_costs"),
    ("demo-uc-no-housing-2025-26", "Universal Credit work allowance (no housing costs)", 68_400, "assessment_period",
     "universal_credit_without_housing_costs"),
    ("demo-esa-permitted-work-2025-26", "ESA permitted work (higher limit)", 19_550, "week",
     "employment_and_support_allowance"),
    ("demo-carers-allowance-2025-26", "Carer's Allowance earnings limit", 19_600, "week", "carers_allowance"),
)
PAY_DAY = 3  # each month's run is paid on the 3rd of the next


def limit_steps(b: _Builder, operator: str) -> list[Step]:
    return [b.step(OPERATOR_ORGANISATION, "payments", "SetEarningsLimit", {
        "limit_id": limit_id, "scheme": scheme, "amount_pence": pence, "per": per, "valid_from": TAX_YEAR[0],
        "valid_until": TAX_YEAR[1], "benefit": benefit}, f"earnings-limit/{limit_id}", operator, "earnings-limits",
        shared=True)  # one aggregate: one lane
        for limit_id, scheme, pence, per, benefit in LIMITS]


def claimants(on_benefits: list[str]) -> dict[str, tuple[str, date]]:
    """Each co-producer on benefits: their Universal Credit (with housing costs for one in
    two, and always for demo-cp-music-1) and the day their assessment periods run from."""
    out = {}
    for i, cp in enumerate(sorted(on_benefits)):
        housing = cp == "demo-cp-music-1" or i % 2 == 0
        out[cp] = ("universal_credit_with_housing_costs" if housing else "universal_credit_without_housing_costs",
                   date(2025, 9, 1) + timedelta(days=(7 * i + 11) % 28))
    return out


def benefit_steps(b: _Builder, engaged_by: dict[str, tuple[str, str]], on_benefits: list[str]) -> list[Step]:
    """Recorded by the partner that engaged each of them."""
    return [b.step(engaged_by[cp][0], "payments", "RecordCoProducerBenefits", {
        "co_producer_id": cp, "benefits": [benefit], "assessment_period_starts_on": starts},
        f"benefits/{cp}", engaged_by[cp][1], f"benefits/{cp}") for cp, (benefit, starts) in claimants(on_benefits).items()]


def payment_runs(b: _Builder, involvement: list[tuple[str, date, int]], on_benefits: list[str]) -> list[Step]:
    """A run a month, paid on the 3rd of the next; `involvement` is (co-producer, day worked, pence)."""
    allowance = {benefit: pence for _, _, pence, _, benefit in LIMITS}
    limit_of = {cp: allowance[benefit] for cp, (benefit, _) in claimants(on_benefits).items()}
    runs, month = [], START
    while month <= END:
        up_to = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        paid_on = up_to + timedelta(days=PAY_DAY)
        paying: dict[str, int] = defaultdict(int)
        for cp, worked, pence in involvement:
            if month <= worked <= up_to:
                paying[cp] += pence
        over = sorted(cp for cp, pence in paying.items()
                      if cp in limit_of and TAX_YEAR[0] <= paid_on <= TAX_YEAR[1] and pence > limit_of[cp])
        runs.append(b.step(COMMISSIONER, "payments", "IssuePaymentRun", {
            "run_id": f"demo-run-{up_to:%Y-%m}", "up_to": up_to, "paid_on": paid_on,
            **({"confirm_over_limits": over} if over else {})}, f"run/{up_to:%Y-%m}", FINANCE, "payroll"))
        month = up_to + timedelta(days=1)
    return runs


def engaging_partners() -> dict[str, tuple[str, str]]:
    """Each demo co-producer's engaging partner and the coordinator who records for it."""
    from pathways_demo.cast import coordinator
    from pathways_demo.plan import co_producers

    return {cp: (p.org, coordinator(p)) for p in PARTNERS for cp in co_producers(p)}
