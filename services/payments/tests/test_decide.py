"""Payments rules as pure functions, with made-up facts: no server. The same rules run
over real NATS in tests/test_payments.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pathways.commands import CommandContext, Decision
from pathways.facts import ContractFacts, CoProducerFacts, ProgrammeFacts
from pathways.replies import Rejection
from pathways_payments.domain import commands as c
from pathways_payments.domain import decide
from pathways_payments.domain import events as e
from pathways_payments.domain.periods import period_of
from pathways_payments.domain.state import CONTRACT_ACCOUNT, ContractAccount, EarningsLimit, EarningsLimits

PROGRAMME = ProgrammeFacts("p1", "council", date(2025, 10, 1), date(2026, 9, 30), 1_000_000)
CONTRACT = ContractFacts("p1", "k1", "archers", 50_000, ("soft archery",), date(2025, 10, 1), date(2026, 9, 30))
UC = EarningsLimit("uc-2025", "UC work allowance", 41_100, "month", date(2025, 4, 6), date(2026, 4, 5))
ESA = EarningsLimit("esa-2024", "ESA permitted work", 18_350, "week", date(2024, 4, 8), None)


def ctx(org: str = "archers", actor: str = "ana") -> CommandContext:
    return CommandContext(org, actor, "test", datetime(2026, 3, 1, tzinfo=UTC))


def reads(rate: int = 1500, benefits: bool = True, earnings: list[tuple[date, int]] | None = None,
          limits: tuple[EarningsLimit, ...] = (UC, ESA)) -> dict[str, Any]:
    return {
        "programme": PROGRAMME, "contract": CONTRACT,
        "co_producers": {"cp1": CoProducerFacts("cp1", "archers", "adviser", rate, benefits)},
        "earnings": earnings or [], "limits": EarningsLimits({lim.limit_id: lim for lim in limits}),
    }


def involvement(minutes: int, on: date = date(2026, 3, 11)) -> c.RecordInvolvement:
    return c.RecordInvolvement(programme_id="p1", contract_id="k1", involvement_id="i1", co_producer_id="cp1",
                               worked_on=on, minutes=minutes, activity="Co-facilitating")


def events(decision: Decision) -> list[Any]:
    assert not isinstance(decision, Rejection), decision
    return list(decision)


@pytest.mark.parametrize(("day", "per", "expected"), [
    (date(2026, 3, 11), "week", (date(2026, 3, 9), date(2026, 3, 15))),  # a Wednesday: Monday to Sunday
    (date(2026, 3, 9), "week", (date(2026, 3, 9), date(2026, 3, 15))),
    (date(2026, 3, 15), "week", (date(2026, 3, 9), date(2026, 3, 15))),
    (date(2026, 1, 1), "week", (date(2025, 12, 29), date(2026, 1, 4))),  # across a new year
    (date(2028, 2, 14), "month", (date(2028, 2, 1), date(2028, 2, 29))),  # leap year
    (date(2026, 12, 31), "month", (date(2026, 12, 1), date(2026, 12, 31))),
])
def test_periods(day: date, per: str, expected: tuple[date, date]) -> None:
    assert period_of(day, per) == expected


@pytest.mark.parametrize(("minutes", "rate", "pence"), [(60, 1500, 1500), (1, 1234, 21), (95, 1234, 1954), (90, 1001, 1502),
                                                        (7, 3, 0)])
def test_involvement_is_minutes_times_the_rate_rounded_half_up_to_the_penny(minutes: int, rate: int, pence: int) -> None:
    (recorded,) = events(decide.record_involvement(involvement(minutes), ctx(), ContractAccount(), reads(rate, benefits=False)))
    assert isinstance(recorded.amount_pence, int) and recorded.amount_pence == pence


def test_a_warning_for_each_limit_the_period_would_pass_and_none_below() -> None:
    # £170 already this week (ESA limit £183.50/week), £300 this month (UC £411/month).
    earlier = [(date(2026, 3, 10), 17_000), (date(2026, 3, 2), 13_000)]
    under = events(decide.record_involvement(involvement(50), ctx(), ContractAccount(), reads(earnings=earlier)))  # £12.50
    assert [type(x) for x in under] == [e.InvolvementRecorded]
    over_week = events(decide.record_involvement(involvement(60), ctx(), ContractAccount(), reads(earnings=earlier)))
    assert [(w.limit_id, w.earnings_before_pence,
             w.earnings_after_pence) for w in over_week[1:]] == [("esa-2024", 17_000, 18_500)]
    both = events(decide.record_involvement(involvement(8 * 60), ctx(), ContractAccount(), reads(earnings=earlier)))
    assert sorted(w.limit_id for w in both[1:]) == ["esa-2024", "uc-2025"]
    # Earnings in last week or last month do not count toward this period.
    old = [(date(2026, 3, 8), 17_000), (date(2026, 2, 27), 40_000)]
    assert len(events(decide.record_involvement(involvement(60), ctx(), ContractAccount(), reads(earnings=old)))) == 1


def test_a_limit_outside_its_validity_does_not_apply() -> None:
    april = [(date(2026, 4, 1), 41_000)]
    before_end = events(decide.record_involvement(involvement(60, on=date(2026, 4, 5)), ctx(), ContractAccount(),
                                                  reads(earnings=april, limits=(UC,))))
    assert len(before_end) == 2  # 5 April: the 2025/26 allowance still applies
    after_end = events(decide.record_involvement(involvement(60, on=date(2026, 4, 6)), ctx(), ContractAccount(),
                                                 reads(earnings=april, limits=(UC,))))
    assert len(after_end) == 1  # it ended on 5 April 2026 and no later limit is configured


def fold(*history: Any) -> ContractAccount:
    state = ContractAccount()
    for event in history:
        state = CONTRACT_ACCOUNT.evolve(state, event)
    return state


def test_spend_counts_involvement_approved_claims_and_invoices_but_not_open_or_rejected_claims() -> None:
    common = {"programme_id": "p1", "contract_id": "k1", "partner_id": "archers"}
    claim = {**common, "co_producer_id": "cp1", "category": "travel", "incurred_on": date(2026, 3, 1), "description": "bus",
             "claimant_organisation": "archers", "claimant_actor": "ana"}
    decision = {**common, "approver_organisation": "council", "approver_actor": "sam"}
    account = fold(
        e.InvolvementRecorded(**common, involvement_id="i1", co_producer_id="cp1", worked_on=date(2026, 3, 1), minutes=60,
                              hourly_rate_pence=1500, amount_pence=1500, activity="x"),
        e.ExpenseClaimed(**claim, claim_id="a", amount_pence=700),
        e.ExpenseClaimed(**claim, claim_id="b", amount_pence=900),
        e.ExpenseClaimed(**claim, claim_id="c", amount_pence=10_000),
        e.ExpenseApproved(**decision, claim_id="a", amount_pence=700),
        e.ExpenseRejected(**decision, claim_id="b", reason="no receipt"),
        e.InvoiceSubmitted(**common, invoice_id="q1", amount_pence=20_000, period_start=date(2025, 10, 1),
                           period_end=date(2025, 12, 31), description="Q1"),
        e.InvoicePaid(**common, invoice_id="q1", amount_pence=20_000, paid_on=date(2026, 1, 5)),
    )
    assert account.spent_pence == 1500 + 700 + 20_000
    approve_c = c.ApproveExpense(programme_id="p1", partner_id="archers", contract_id="k1", claim_id="c")
    assert not isinstance(decide.approve_expense(approve_c, ctx("council", "sam"), account, reads()), Rejection)
    approve_b = c.ApproveExpense(programme_id="p1", partner_id="archers", contract_id="k1", claim_id="b")
    refused = decide.approve_expense(approve_b, ctx("council", "sam"), account, reads())
    assert isinstance(refused, Rejection) and "already rejected" in refused.message
    over = c.SubmitInvoice(programme_id="p1", contract_id="k1", invoice_id="q2", amount_pence=50_000 - 22_200 + 1,
                           period_start=date(2026, 1, 1), period_end=date(2026, 3, 31), description="Q2")
    refused = decide.submit_invoice(over, ctx(), account, reads())
    assert isinstance(refused, Rejection) and "past its budget" in refused.message
