"""Payments rules as pure functions, with made-up facts: no server. The same rules run
over real NATS in tests/test_payments.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pathways.core.commands import CommandContext, Decision
from pathways.core.replies import Rejection
from pathways.policy.facts import ContractFacts, CoProducerFacts, ProgrammeFacts
from pathways_payments.domain import commands as c
from pathways_payments.domain import decide
from pathways_payments.domain import events as e
from pathways_payments.domain import facts as f
from pathways_payments.domain.periods import period_of
from pathways_payments.domain.safeguard import Claimant
from pathways_payments.domain.state import (
    CONTRACT_ACCOUNT,
    BenefitsRecord,
    ContractAccount,
    EarningsLimit,
    EarningsLimits,
    Payroll,
)

PROGRAMME = ProgrammeFacts("p1", "council", date(2025, 10, 1), date(2026, 9, 30), 1_000_000)
CONTRACT = ContractFacts("p1", "k1", "archers", 50_000, ("soft archery",), date(2025, 10, 1), date(2026, 9, 30))
UC_SINGLE = EarningsLimit("uc-single", "UC work allowance (no housing costs)", 68_400, "assessment_period",
                          date(2025, 4, 6), date(2026, 4, 5), "universal_credit_without_housing_costs")
ESA_WEEK = EarningsLimit("esa-2025", "ESA permitted work", 18_350, "week", date(2025, 4, 7), None,
                         "employment_and_support_allowance")


def ctx(org: str = "archers", actor: str = "ana", now: datetime = datetime(2026, 3, 1, tzinfo=UTC)) -> CommandContext:
    return CommandContext(org, actor, "test", now)


def finance() -> CommandContext:
    """The commissioner's finance officer, on a day after the runs' pay days."""
    return ctx("council", "sam", datetime(2026, 4, 20, tzinfo=UTC))


def charge(rate: int = 1500, benefits: bool = True) -> f.Charge:
    return f.Charge(programme=PROGRAMME, contract=CONTRACT,
                    co_producers={"cp1": CoProducerFacts("cp1", "archers", "adviser", rate, benefits)})


def claim_decision() -> f.ClaimDecision:
    return f.ClaimDecision(programme=PROGRAMME, takes_part=True, contract=CONTRACT)


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
    (recorded,) = events(decide.record_involvement(involvement(minutes), ctx(), ContractAccount(), charge(rate, benefits=False)))
    assert isinstance(recorded.amount_pence, int) and recorded.amount_pence == pence


def run(up_to: date = date(2026, 3, 31), paid_on: date | None = date(2026, 4, 3),
        confirm: tuple[str, ...] = ()) -> c.IssuePaymentRun:
    return c.IssuePaymentRun(programme_id="p1", run_id="r1", up_to=up_to, paid_on=paid_on, confirm_over_limits=list(confirm))


def line(pence: int, on: date = date(2026, 3, 20), kind: str = "involvement", cp: str = "cp1") -> e.PaymentLine:
    return e.PaymentLine(item_id=f"{kind}/k1/{cp}-{on}-{pence}", kind=kind, co_producer_id=cp, contract_id="k1",  # type: ignore[arg-type]
                         partner_id="archers", on=on, amount_pence=pence)


def run_reads(due: list[e.PaymentLine], paid: list[tuple[date, int]], *claimants: Claimant,
              limits: tuple[EarningsLimit, ...] = (UC_SINGLE, ESA_WEEK)) -> f.PaymentRunFacts:
    return f.PaymentRunFacts(programme=PROGRAMME, takes_part=True, payable=due,
                             claimants={x.co_producer_id: x for x in claimants}, paid={"cp1": paid},
                             limits=EarningsLimits({lim.limit_id: lim for lim in limits}))


def test_earnings_count_when_paid_in_the_claimants_own_assessment_period_before_the_run_is_approved() -> None:
    """Worked in March, paid on 3 April: counted in the assessment period that holds 3 April
    (from the 15th: 15 March to 14 April), with what was paid on 20 March in another
    programme; refused with the period and amounts until the commissioner confirms it."""
    claimant = Claimant("cp1", ("universal_credit_without_housing_costs",), date(2025, 11, 15))
    due = [line(20_000), line(5_000, kind="expense")]  # the expense is repaid, not earned
    paid_elsewhere = [(date(2026, 3, 20), 50_000), (date(2026, 3, 10), 90_000)]  # the 10th: the period before
    refused = decide.issue_payment_run(run(), finance(), Payroll(), run_reads(due, paid_elsewhere, claimant))
    assert isinstance(refused, Rejection) and refused.details is not None
    assert "from 15 March 2026 to 14 April 2026 to £700.00, past the UC work allowance (no housing costs) limit of £684.00" \
        in refused.message, refused.message
    assert refused.details[0]["over_limits"] == [{
        "co_producer_id": "cp1", "limit_id": "uc-single", "scheme": "UC work allowance (no housing costs)",
        "period_start": "2026-03-15", "period_end": "2026-04-14", "limit_pence": 68_400, "earnings_before_pence": 50_000,
        "earnings_after_pence": 70_000}]
    run_issued, warning = events(decide.issue_payment_run(run(confirm=("cp1",)), finance(), Payroll(),
                                                          run_reads(due, paid_elsewhere, claimant)))
    assert isinstance(run_issued, e.PaymentRunIssued) and run_issued.paid_on == date(2026, 4, 3)
    assert isinstance(warning, e.EarningsLimitWarning) and (warning.partner_id, warning.run_id) == ("archers", "r1")
    # Paid on 15 April instead: a new assessment period, with nothing paid in it yet.
    later = events(decide.issue_payment_run(run(paid_on=date(2026, 4, 15)), finance(), Payroll(),
                                            run_reads(due, paid_elsewhere, claimant)))
    assert [type(x) for x in later] == [e.PaymentRunIssued]


def test_a_limit_protects_only_the_claimants_of_its_benefit() -> None:
    due, paid = [line(20_000)], [(date(2026, 4, 1), 17_000)]
    on_esa = Claimant("cp1", ("employment_and_support_allowance",))
    refused = decide.issue_payment_run(run(), finance(), Payroll(), run_reads(due, paid, on_esa))
    assert isinstance(refused, Rejection) and "ESA permitted work" in refused.message and "UC" not in refused.message
    carer = Claimant("cp1", ("carers_allowance",))
    assert [type(x) for x in events(decide.issue_payment_run(run(), finance(), Payroll(),
                                                               run_reads(due, paid, carer)))] == [e.PaymentRunIssued]
    nobody = events(decide.issue_payment_run(run(), finance(), Payroll(), run_reads(due, paid)))
    assert [type(x) for x in nobody] == [e.PaymentRunIssued]  # not on benefits: nothing to protect
    anyone = EarningsLimit("old", "a limit set before benefits were recorded", 10_000, "month", date(2025, 4, 6), None)
    flagged = Claimant("cp1", ("unspecified",))
    refused = decide.issue_payment_run(run(), finance(), Payroll(), run_reads(due, paid, flagged, limits=(anyone,)))
    assert isinstance(refused, Rejection) and "a limit set before benefits" in refused.message
    # Registered as on benefits, which ones not yet recorded: every limit protects them (a review
    # found the named limits left them unprotected).
    refused = decide.issue_payment_run(run(), finance(), Payroll(), run_reads(due, paid, flagged))
    assert isinstance(refused, Rejection) and "ESA permitted work" in refused.message  # a named benefit's limit


def test_a_pay_day_is_after_the_work_and_a_confirmation_answers_a_warning() -> None:
    """(found by a review) a pay day before the work, or years away where no limit applies,
    let a run past every limit; naming everyone in confirm_over_limits ahead of any warning
    skipped it; a person paid on two partners' contracts was told to one partner only."""
    claimant = Claimant("cp1", ("universal_credit_without_housing_costs",), date(2025, 11, 15))
    due = [line(40_000), line(40_000, on=date(2026, 3, 21)).model_copy(update={"partner_id": "studio"})]
    for paid_on in (date(2026, 3, 30), date(2099, 1, 1)):
        early = decide.issue_payment_run(run(paid_on=paid_on), finance(), Payroll(), run_reads(due, [], claimant))
        assert isinstance(early, Rejection) and early.details and early.details[0]["field"] == "paid_on", paid_on
    ahead = decide.issue_payment_run(run(confirm=("cp1", "cp9")), finance(), Payroll(), run_reads(due, [], claimant))
    assert isinstance(ahead, Rejection) and "cp9" in ahead.message and "cp1," not in ahead.message
    issued = events(decide.issue_payment_run(run(confirm=("cp1",)), finance(), Payroll(), run_reads(due, [], claimant)))
    assert sorted(w.partner_id for w in issued[1:]) == ["archers", "studio"]  # £800 together: both partners told


def test_a_limit_outside_its_validity_does_not_apply() -> None:
    claimant = Claimant("cp1", ("universal_credit_without_housing_costs",), date(2025, 11, 15))
    due, paid = [line(70_000)], []
    before_end = decide.issue_payment_run(run(paid_on=date(2026, 4, 5)), finance(), Payroll(),
                                          run_reads(due, paid, claimant, limits=(UC_SINGLE,)))
    assert isinstance(before_end, Rejection)  # 5 April: the 2025/26 allowance still applies
    after_end = decide.issue_payment_run(run(paid_on=date(2026, 4, 6)), finance(), Payroll(),
                                         run_reads(due, paid, claimant, limits=(UC_SINGLE,)))
    assert not isinstance(after_end, Rejection)  # it ended on 5 April 2026 and no later limit is configured


@pytest.mark.parametrize(("day", "starts_on", "expected"), [
    (date(2026, 4, 3), date(2025, 11, 15), (date(2026, 3, 15), date(2026, 4, 14))),
    (date(2026, 4, 15), date(2025, 11, 15), (date(2026, 4, 15), date(2026, 5, 14))),
    (date(2026, 1, 5), date(2025, 11, 15), (date(2025, 12, 15), date(2026, 1, 14))),  # across a new year
    (date(2026, 2, 28), date(2025, 10, 31), (date(2026, 2, 28), date(2026, 3, 30))),  # the 31st: February's last day
    (date(2026, 3, 31), date(2025, 10, 31), (date(2026, 3, 31), date(2026, 4, 29))),
    (date(2026, 3, 9), None, (date(2026, 3, 1), date(2026, 3, 31))),  # no start day: the calendar month
])
def test_assessment_periods_run_a_month_from_the_claimants_own_day(day: date, starts_on: date | None,
                                                                   expected: tuple[date, date]) -> None:
    assert period_of(day, "assessment_period", starts_on) == expected


def test_benefits_are_recorded_by_whoever_engaged_the_co_producer_and_universal_credit_needs_its_start_day() -> None:
    facts = f.BenefitsFacts(programme=PROGRAMME, takes_part=True,
                            co_producers={"cp1": CoProducerFacts("cp1", "archers", "adviser", 1500, True)})
    uc = c.RecordCoProducerBenefits(programme_id="p1", co_producer_id="cp1",
                                    benefits=["universal_credit_with_housing_costs"])
    refused = decide.record_co_producer_benefits(uc, ctx(), BenefitsRecord(), facts)
    assert isinstance(refused, Rejection) and refused.details and refused.details[0]["field"] == "assessment_period_starts_on"
    dated = uc.model_copy(update={"assessment_period_starts_on": date(2025, 11, 15)})
    (recorded,) = events(decide.record_co_producer_benefits(dated, ctx(), BenefitsRecord(), facts))
    assert recorded.recorded_by == "archers"
    other = decide.record_co_producer_benefits(dated, ctx("studio"), BenefitsRecord(), facts)
    assert isinstance(other, Rejection)  # not who engaged them, nor the commissioner
    assert not isinstance(decide.record_co_producer_benefits(dated, ctx("council"), BenefitsRecord(), facts), Rejection)


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
    assert not isinstance(decide.approve_expense(approve_c, ctx("council", "sam"), account, claim_decision()), Rejection)
    approve_b = c.ApproveExpense(programme_id="p1", partner_id="archers", contract_id="k1", claim_id="b")
    refused = decide.approve_expense(approve_b, ctx("council", "sam"), account, claim_decision())
    assert isinstance(refused, Rejection) and "already rejected" in refused.message
    over = c.SubmitInvoice(programme_id="p1", contract_id="k1", invoice_id="q2", amount_pence=50_000 - 22_200 + 1,
                           period_start=date(2026, 1, 1), period_end=date(2026, 3, 31), description="Q2")
    refused = decide.submit_invoice(over, ctx(), account, f.InvoiceFacts(
        programme=PROGRAMME, contract=CONTRACT, co_producers=charge().co_producers))
    assert isinstance(refused, Rejection) and "past its budget" in refused.message


def test_an_invoices_staff_pay_gets_its_pay_day_in_the_tables_a_batch_writes_a_rebuilds_own_copy_too() -> None:
    """(found by a review) the invoice's payment set the pay day on the live table by name, so
    a rebuild's copy kept none, and after the swap the safeguard counted no staff pay."""
    from pathways.core.projection import REBUILD_SUFFIX, Rows
    from pathways.core.rebuild import _copy_without_indexes
    from pathways_payments import ledger
    from sqlalchemy import MetaData, create_engine, select

    engine, meta = create_engine("sqlite://"), MetaData()
    copies = {t.name: _copy_without_indexes(t, meta, t.name + REBUILD_SUFFIX) for t in ledger.LEDGER.tables}
    with engine.begin() as conn:
        for table in copies.values():
            table.create(conn)
    submitted = e.InvoiceSubmitted(programme_id="p1", contract_id="k1", partner_id="archers", invoice_id="inv1",
                                   amount_pence=10_000, period_start=date(2026, 3, 1), period_end=date(2026, 3, 31),
                                   description="March", staff_pay=[e.StaffPay(co_producer_id="cp1", amount_pence=9_000)])
    paid = e.InvoicePaid(programme_id="p1", contract_id="k1", partner_id="archers", invoice_id="inv1",
                         amount_pence=10_000, paid_on=date(2026, 4, 1))
    with engine.begin() as conn:
        rows = Rows(conn)
        ledger._invoiced(rows, copies, None, submitted, 1)  # type: ignore[arg-type]
        ledger._invoice_paid(rows, copies, None, paid, 2)  # type: ignore[arg-type]
        rows.flush()
        staff = copies["payments_invoice_staff_pay"]
        assert [tuple(r) for r in conn.execute(select(staff.c.co_producer_id, staff.c.paid_on))] == [("cp1", date(2026, 4, 1))]
