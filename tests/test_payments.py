"""Payments rules over real NATS: separation of duties, the contract budget, benefits
earnings-limit warnings, payment runs and their finance CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Any

from nats.aio.client import Client
from pathways.core.commands import OPERATOR_ORGANISATION
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, ProgrammeSetup, setup_programme, signed_in, unique

BUDGET = 400_000  # each partner's contract: £1,000 (setup_programme gives a quarter of the programme each)


async def send(client: CommandClient, org: str, command: str, data: dict[str, Any], *, actor: str = "finance-officer",
               key: str | None = None) -> dict[str, Any]:
    body = {"idempotency_key": key or uuid.uuid4().hex, "organisation": org, "actor": actor, "data": data}
    return await client.send(org, command, data, context="payments", body=body)


async def rejected(client: CommandClient, org: str, command: str, data: dict[str, Any], code: str, *words: str,
                   actor: str = "finance-officer") -> None:
    reply = await send(client, org, command, data, actor=actor)
    assert reply["status"] == "rejected" and reply["code"] == code, reply
    for word in words:
        assert word in reply["message"], (word, reply["message"])


async def accepted(client: CommandClient, org: str, command: str, data: dict[str, Any],
                   actor: str = "finance-officer") -> dict[str, Any]:
    reply = await send(client, org, command, data, actor=actor)
    assert reply["status"] == "accepted", reply
    return reply


async def co_producer(client: CommandClient, s: ProgrammeSetup, org: str, *, benefits: bool, rate: int = 1500) -> str:
    cp = unique("cp")
    reply = await client.send(org, "RegisterCoProducer", {"programme_id": s.programme_id, "co_producer_id": cp,
                                                         "role": "lived experience adviser", "hourly_rate_pence": rate,
                                                         "receives_benefits": benefits})
    assert reply["status"] == "accepted", reply
    return cp


def involvement(s: ProgrammeSetup, cp: str, minutes: int, on: str = "2026-03-10", **extra: Any) -> dict[str, Any]:
    return {"programme_id": s.programme_id, "contract_id": "contract-0", "involvement_id": unique("inv"),
            "co_producer_id": cp, "worked_on": on, "minutes": minutes, "activity": "Co-facilitating soft archery"} | extra


def claim(s: ProgrammeSetup, cp: str, pence: int, **extra: Any) -> dict[str, Any]:
    return {"programme_id": s.programme_id, "contract_id": "contract-0", "claim_id": unique("claim"),
            "co_producer_id": cp, "category": "travel", "amount_pence": pence, "incurred_on": "2026-03-10",
            "description": "Bus fares to the ward"} | extra


def decision(s: ProgrammeSetup, c: dict[str, Any]) -> dict[str, Any]:
    return {"programme_id": s.programme_id, "partner_id": s.partner_a, "contract_id": "contract-0", "claim_id": c["claim_id"]}


async def account_history(nc: Client, s: ProgrammeSetup) -> list[Any]:
    return await JetStreamEventStore(nc).read_subject(f"pathways.evt.{s.programme_id}.{s.partner_a}.payments.contract-0")


async def test_involvement_is_paid_at_the_registered_rate_and_charging_rules_hold(
    registry: ServiceHost, payments: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client, budget_pence=4 * BUDGET)
    cp = await co_producer(client, s, s.partner_a, benefits=False, rate=1234)
    await accepted(client, s.partner_a, "RecordInvolvement", involvement(s, cp, 95))
    stored = (await account_history(nats_client, s))[-1].event
    assert stored.type == "pathways.payments.InvolvementRecorded"
    assert stored.data["amount_pence"] == 1954 and stored.data["hourly_rate_pence"] == 1234  # 95/60 × 1234 = 1953.8
    await rejected(client, s.partner_b, "RecordInvolvement", involvement(s, cp, 60), "not_found", "holds no contract")
    await rejected(client, s.partner_b, "RecordInvolvement", involvement(s, cp, 60, contract_id="contract-1"),
                   "rule_violation", "not a co-producer registered by")
    await rejected(client, s.evaluator, "RecordInvolvement", involvement(s, cp, 60, partner_id=s.partner_a), "forbidden",
                   "commissioner")
    await rejected(client, s.partner_a, "RecordInvolvement", involvement(s, cp, 60, on="2027-01-01"), "rule_violation",
                   "outside contract")
    again = involvement(s, cp, 30)
    await accepted(client, s.partner_a, "RecordInvolvement", again)
    await rejected(client, s.partner_a, "RecordInvolvement", again, "rule_violation", "already recorded")
    await rejected(client, s.partner_a, "RecordInvolvement", involvement(s, cp, 60) | {"amount_pence": 1}, "invalid")


async def test_no_spend_past_the_contract_budget(registry: ServiceHost, payments: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client, budget_pence=4 * BUDGET)
    cp = await co_producer(client, s, s.partner_a, benefits=False)
    invoice = {"programme_id": s.programme_id, "contract_id": "contract-0", "invoice_id": unique("inv"),
               "amount_pence": BUDGET - 3000, "period_start": "2025-10-01", "period_end": "2025-12-31",
               "description": "Quarter 1 delivery"}
    await accepted(client, s.partner_a, "SubmitInvoice", invoice)
    await accepted(client, s.partner_a, "RecordInvolvement", involvement(s, cp, 60))  # £15, £15 left
    big = claim(s, cp, 1501)
    await accepted(client, s.partner_a, "ClaimExpense", big)  # a claim alone spends nothing
    await rejected(client, s.commissioner, "ApproveExpense", decision(s, big), "rule_violation", "past its budget",
                   "£15 left")
    await rejected(client, s.partner_a, "RecordInvolvement", involvement(s, cp, 61), "rule_violation", "past its budget")
    await rejected(client, s.partner_a, "SubmitInvoice", invoice | {"invoice_id": unique("inv"), "amount_pence": 1501},
                   "rule_violation", "past its budget")
    fits = claim(s, cp, 1500)
    await accepted(client, s.partner_a, "ClaimExpense", fits)
    await accepted(client, s.commissioner, "ApproveExpense", decision(s, fits))
    await rejected(client, s.partner_a, "SubmitInvoice", invoice | {"invoice_id": unique("inv"), "amount_pence": 1},
                   "rule_violation", "£0 left")


async def test_invoice_rules(registry: ServiceHost, payments: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client, budget_pence=4 * BUDGET)
    invoice = {"programme_id": s.programme_id, "contract_id": "contract-0", "invoice_id": unique("inv"),
               "amount_pence": 10_000, "period_start": "2025-10-01", "period_end": "2025-12-31", "description": "Q1"}
    await rejected(client, s.partner_a, "SubmitInvoice", invoice | {"period_end": "2027-01-01"}, "rule_violation",
                   "within the contract")
    await rejected(client, s.partner_b, "SubmitInvoice", invoice, "not_found")
    await accepted(client, s.partner_a, "SubmitInvoice", invoice)
    await rejected(client, s.partner_a, "SubmitInvoice", invoice, "rule_violation", "already submitted")
    pay = {"programme_id": s.programme_id, "partner_id": s.partner_a, "contract_id": "contract-0",
           "invoice_id": invoice["invoice_id"], "paid_on": "2026-01-15"}
    await rejected(client, s.partner_a, "PayInvoice", pay, "forbidden", "commissioner")
    await rejected(client, s.commissioner, "PayInvoice", pay | {"invoice_id": "nope"}, "not_found")
    await accepted(client, s.commissioner, "PayInvoice", pay)
    await rejected(client, s.commissioner, "PayInvoice", pay, "rule_violation", "already paid")


async def test_separation_of_duties_in_expense_approval(registry: ServiceHost, payments: ServiceHost,
                                                        client: CommandClient) -> None:
    s = await setup_programme(client, budget_pence=4 * BUDGET)
    cp = await co_producer(client, s, s.commissioner, benefits=False)
    # A commissioner's officer claims on the partner's contract for a co-producer the commissioner engaged.
    own = claim(s, cp, 2500, partner_id=s.partner_a)
    await accepted(client, s.commissioner, "ClaimExpense", own, actor="alex.officer")
    await rejected(client, s.commissioner, "ApproveExpense", decision(s, own), "forbidden", "separation of duties",
                   actor="alex.officer")
    await rejected(client, s.commissioner, "RejectExpense", decision(s, own) | {"reason": "x"}, "forbidden",
                   actor="alex.officer")
    await rejected(client, s.partner_a, "ApproveExpense", decision(s, own), "forbidden", "commissioner")
    await rejected(client, s.commissioner, "ApproveExpense", decision(s, own) | {"claim_id": "nope"}, "not_found")
    await accepted(client, s.commissioner, "ApproveExpense", decision(s, own), actor="sam.manager")
    await rejected(client, s.commissioner, "RejectExpense", decision(s, own) | {"reason": "late"}, "rule_violation",
                   "already approved", actor="sam.manager")


SPELLINGS_OF_ONE_PERSON = [
    "Finance@C", "FINANCE@C", " finance@c ", "finance@c\t", "ｆｉｎａｎｃｅ＠ｃ",  # full width: NFKC
    "fin\u200bance@c", "\u200dfinance@c\u2060", "fin\u00adance@c", "fin\u034fance@c", "finance@c\ufe0f",  # invisible
]


async def test_approving_ones_own_claim_is_refused_however_the_name_is_spelt(
    registry: ServiceHost, payments: ServiceHost, client: CommandClient,
) -> None:
    """The commissioner claimed as `finance@c` and approved as `Finance@C`, and the
    approval was accepted: actors are now one canonical spelling (pathways.core.actors)."""
    s = await setup_programme(client, budget_pence=4 * BUDGET)
    cp = await co_producer(client, s, s.commissioner, benefits=False)
    own = claim(s, cp, 2500, partner_id=s.partner_a)
    await accepted(client, s.commissioner, "ClaimExpense", own, actor="finance@c")
    for spelling in SPELLINGS_OF_ONE_PERSON:
        await rejected(client, s.commissioner, "ApproveExpense", decision(s, own), "forbidden", "separation of duties",
                       actor=spelling)
        await rejected(client, s.commissioner, "RejectExpense", decision(s, own) | {"reason": "x"}, "forbidden",
                       actor=spelling)
    for unnamed in ["   ", "\u200b", "\u200b \u2060", "finance\x00@c", "finance\x1b[2J@c"]:
        await rejected(client, s.commissioner, "ApproveExpense", decision(s, own), "invalid", actor=unnamed)
    await accepted(client, s.commissioner, "ApproveExpense", decision(s, own), actor="Sam.Manager")
    claimed = [e for e in await JetStreamEventStore(client.nc).read_subject(
        f"pathways.evt.{s.programme_id}.>") if e.event.type.endswith("ExpenseApproved")]
    assert [e.event.data["approver_actor"] for e in claimed] == ["sam.manager"]  # stored as its one spelling


async def test_a_hundred_concurrent_approvals_of_one_claim_give_exactly_one_approval(
    registry: ServiceHost, payments: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client, budget_pence=4 * BUDGET)
    cp = await co_producer(client, s, s.partner_a, benefits=False)
    c = claim(s, cp, 4200)
    await accepted(client, s.partner_a, "ClaimExpense", c)
    replies = await asyncio.gather(*(
        send(client, s.commissioner, "ApproveExpense", decision(s, c), actor=f"approver-{i}") for i in range(100)
    ))
    assert sum(r["status"] == "accepted" for r in replies) == 1, [r.get("code") for r in replies]
    assert {r["code"] for r in replies if r["status"] == "rejected"} <= {"conflict", "rule_violation"}
    approvals = [h for h in await account_history(nats_client, s) if h.event.type == "pathways.payments.ExpenseApproved"]
    assert len(approvals) == 1


async def test_the_safeguard_counts_earnings_when_paid_in_the_claimants_period_across_programmes(
    registry: ServiceHost, payments: ServiceHost, client: CommandClient
) -> None:
    """(issue 17) One made-up co-producer on Universal Credit, paid by two programmes: time
    worked in March and paid on 1 April counts in the assessment period that holds 1 April
    (from their start day, the 15th: 15 March to 14 April), with what the other programme
    paid on 20 March. The commissioner is told before approving, with the period and the
    amounts; approved even so, the warning is recorded and the partner sees it too."""
    s, other = await setup_programme(client, budget_pence=4 * BUDGET), await setup_programme(client, budget_pence=4 * BUDGET)
    # Limits are platform-wide: valid only around this test's pay days, never on the 3rd (the demo's, on the same server).
    limit_id = unique("uc-single")
    limit = {"limit_id": limit_id, "scheme": f"UC work allowance (no housing costs, {limit_id})", "amount_pence": 68_400,
             "per": "assessment_period", "valid_from": "2026-03-16", "valid_until": "2026-04-01",
             "benefit": "universal_credit_without_housing_costs"}
    await rejected(client, s.commissioner, "SetEarningsLimit", limit, "forbidden", "operator")
    await accepted(client, OPERATOR_ORGANISATION, "SetEarningsLimit", limit)
    cp = unique("cp")
    for programme in (s, other):
        reply = await client.send(programme.partner_a, "RegisterCoProducer", {
            "programme_id": programme.programme_id, "co_producer_id": cp, "role": "peer researcher",
            "hourly_rate_pence": 1500, "receives_benefits": True})
        assert reply["status"] == "accepted", reply
    benefits = {"programme_id": s.programme_id, "co_producer_id": cp, "benefits": ["universal_credit_without_housing_costs"]}
    await rejected(client, s.partner_a, "RecordCoProducerBenefits", benefits, "rule_violation", "assessment period")
    await rejected(client, s.partner_b, "RecordCoProducerBenefits", benefits | {"assessment_period_starts_on": "2025-11-15"},
                   "rule_violation", "not a co-producer you engaged")
    await accepted(client, s.partner_a, "RecordCoProducerBenefits", benefits | {"assessment_period_starts_on": "2025-11-15"})

    for day in ("2026-03-02", "2026-03-03"):  # £300
        await accepted(client, other.partner_a, "RecordInvolvement", involvement(other, cp, 10 * 60, on=day))
    await accepted(client, other.commissioner, "IssuePaymentRun", {"programme_id": other.programme_id, "run_id": unique("run"),
                                                                   "up_to": "2026-03-15", "paid_on": "2026-03-20"})
    # The other programme records no benefits for its "cp": that does not undo this programme's record.
    await accepted(client, other.partner_a, "RecordCoProducerBenefits", {"programme_id": other.programme_id,
                                                                         "co_producer_id": cp, "benefits": []})
    for day in ("2026-03-25", "2026-03-26"):  # £390, worked in March
        await accepted(client, s.partner_a, "RecordInvolvement", involvement(s, cp, 13 * 60, on=day))
    run = {"programme_id": s.programme_id, "run_id": unique("run"), "up_to": "2026-03-31", "paid_on": "2026-04-01"}
    reply = await send(client, s.commissioner, "IssuePaymentRun", run)
    assert reply["status"] == "rejected" and reply["details"][0]["reason"] == "over_earnings_limit", reply
    assert "from 15 March 2026 to 14 April 2026 to £690.00" in reply["message"], reply["message"]
    ours = [b for b in reply["details"][0]["over_limits"] if b["limit_id"] == limit["limit_id"]]
    assert ours == [{"co_producer_id": cp, "limit_id": limit["limit_id"], "scheme": limit["scheme"],
                     "period_start": "2026-03-15", "period_end": "2026-04-14", "limit_pence": 68_400,
                     "earnings_before_pence": 30_000, "earnings_after_pence": 69_000}]
    # The same, before anything is sent: the commissioner's preview, and the partner's for its own co-producer.
    for org, role in ((s.commissioner, "commissioner"), (s.partner_a, "partner")):
        async with await signed_in(payments, org, role) as http:
            preview = (await http.get(f"/programmes/{s.programme_id}/payment-runs/preview",
                                      params={"up_to": "2026-03-31", "paid_on": "2026-04-01"})).json()
        assert [b["earnings_after_pence"] for b in preview["over_limits"] if b["limit_id"] == limit["limit_id"]] == [69_000]
    async with await signed_in(payments, s.partner_b, "partner") as http:
        theirs = (await http.get(f"/programmes/{s.programme_id}/payment-runs/preview", params={"up_to": "2026-03-31"})).json()
    assert theirs["lines"] == 0 and theirs["over_limits"] == []  # not their co-producer

    await accepted(client, s.commissioner, "IssuePaymentRun", run | {"confirm_over_limits": [cp]})
    for org, role in ((s.commissioner, "commissioner"), (s.partner_a, "partner"), (s.partner_b, "partner")):
        async with await signed_in(payments, org, role) as http:
            for _ in range(100):
                seen = (await http.get(f"/programmes/{s.programme_id}/earnings-warnings")).json()
                if seen or org == s.partner_b:
                    break
                await asyncio.sleep(0.05)
        mine = [w for w in seen if w["scheme"] == limit["scheme"]]
        assert [(w["co_producer_id"], w["run_id"], w["earnings_after_pence"]) for w in mine] == (
            [] if org == s.partner_b else [(cp, run["run_id"], 69_000)]), (role, seen)

    # Paid as the partner's own staff through an invoice: counted the day the invoice is paid, in the same period.
    invoice = {"programme_id": s.programme_id, "contract_id": "contract-0", "invoice_id": unique("inv"),
               "amount_pence": 50_000, "period_start": "2026-03-01", "period_end": "2026-03-31",
               "description": "March delivery, with a co-producer's shifts", "staff_pay": [{"co_producer_id": cp,
                                                                                          "amount_pence": 1_000}]}
    await rejected(client, s.partner_b, "SubmitInvoice", invoice | {"contract_id": "contract-1"}, "rule_violation",
                   "not yours")  # partner B did not engage them
    await accepted(client, s.partner_a, "SubmitInvoice", invoice)
    payment = {"programme_id": s.programme_id, "partner_id": s.partner_a, "contract_id": "contract-0",
               "invoice_id": invoice["invoice_id"], "paid_on": "2026-03-31"}
    refused = await send(client, s.commissioner, "PayInvoice", payment)
    assert refused["status"] == "rejected" and "to £700.00" in refused["message"], refused  # £690 paid in the period already
    await accepted(client, s.commissioner, "PayInvoice", payment | {"confirm_over_limits": [cp]})


async def test_payment_runs_pay_each_item_once_and_export_csv(
    registry: ServiceHost, payments: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client, budget_pence=4 * BUDGET)
    ana, ben = [await co_producer(client, s, s.partner_a, benefits=False) for _ in range(2)]
    await accepted(client, s.partner_a, "RecordInvolvement", involvement(s, ana, 120, on="2026-03-02"))
    await accepted(client, s.partner_a, "RecordInvolvement", involvement(s, ben, 90, on="2026-03-03"))
    approved, pending = claim(s, ana, 640), claim(s, ben, 999)
    await accepted(client, s.partner_a, "ClaimExpense", approved)
    await accepted(client, s.partner_a, "ClaimExpense", pending)
    await accepted(client, s.commissioner, "ApproveExpense", decision(s, approved))
    await accepted(client, s.partner_a, "RecordInvolvement", involvement(s, ana, 60, on="2026-04-20"))  # after up_to
    run = {"programme_id": s.programme_id, "run_id": unique("run"), "up_to": "2026-03-31"}
    await rejected(client, s.partner_a, "IssuePaymentRun", run, "forbidden", "commissioner")
    await accepted(client, s.commissioner, "IssuePaymentRun", run)
    await rejected(client, s.commissioner, "IssuePaymentRun", run, "rule_violation", "already issued")
    await rejected(client, s.commissioner, "IssuePaymentRun", run | {"run_id": unique("run")}, "rule_violation",
                   "Nothing approved")
    async with await signed_in(payments, s.commissioner, "commissioner") as http:
        response = await http.get(f"/programmes/{s.programme_id}/payment-runs/{run['run_id']}.csv")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert {r["payee_reference"]: (r["amount_gbp"], r["items"]) for r in rows} == {ana: ("36.40", "2"), ben: ("22.50", "1")}
        missing = await http.get(f"/programmes/{s.programme_id}/payment-runs/nope.csv")
        assert missing.status_code == 404
        claims = (await http.get(f"/programmes/{s.programme_id}/claims")).json()
        assert {c["claim_id"]: (c["status"], c["paid_in_run"]) for c in claims} == {
            approved["claim_id"]: ("approved", run["run_id"]), pending["claim_id"]: ("claimed", None)}
    # The later work and the claim once approved go into the next run, and nothing twice.
    await accepted(client, s.commissioner, "ApproveExpense", decision(s, pending))
    later = {"programme_id": s.programme_id, "run_id": unique("run"), "up_to": "2026-04-30"}
    await accepted(client, s.commissioner, "IssuePaymentRun", later)
    async with await signed_in(payments, s.commissioner, "commissioner") as http:
        for _ in range(100):
            lines = (await http.get(f"/programmes/{s.programme_id}/payment-runs/{later['run_id']}/lines")).json()
            if isinstance(lines, list):
                break
            await asyncio.sleep(0.05)
    assert sorted((line["kind"], line["amount_pence"]) for line in lines) == [("expense", 999), ("involvement", 1500)]
