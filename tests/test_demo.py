"""`pathways demo`: the made-up programme's plan is sound on paper (pure tests of the full-scale
plan), and loading it through every running service records all of it, gives the headline
figures the plan promises, and loading it again adds nothing."""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from pathways.access import TokenStore
from pathways.eventstore.jetstream import JetStreamEventStore
from pathways.ids import ID_PATTERN
from pathways.runtime.host import ServiceHost
from pathways.service import discover
from pathways.testing.servers import NatsEndpoint
from pathways_reporting.demo import DemoPlan, Stage, Step, build_plan, load
from pathways_reporting.demo.cast import END, START
from pathways_reporting.demo.load import lanes

from tests.conftest import CommandClient, unique

ID = re.compile(ID_PATTERN)


@pytest.fixture(scope="module")
def plan() -> DemoPlan:
    return build_plan()


def steps_of(plan: DemoPlan, command: str) -> list[Step]:
    return [s for s in plan.steps() if s.command == command]


def day(value: str) -> date:
    return date.fromisoformat(value[:10])


def test_the_plan_is_deterministic_and_every_key_is_its_own(plan: DemoPlan) -> None:
    again = build_plan()
    assert [(s.key, s.data) for s in again.steps()] == [(s.key, s.data) for s in plan.steps()]
    other = build_plan(7)
    assert other.programme_id != plan.programme_id and [s.data for s in other.steps()] != [s.data for s in plan.steps()]
    keys = [(s.organisation, s.command, s.key) for s in plan.steps()]
    assert len(set(keys)) == len(keys) and all(len(k) <= 128 for _, _, k in keys)
    assert build_plan(programme_id="demo-elsewhere").programme_id == "demo-elsewhere"


def test_every_step_matches_its_command_schema(plan: DemoPlan) -> None:
    services = discover()
    for step in plan.steps():
        services[step.context].handlers[step.command].model.model_validate(step.data)
        for name, value in step.data.items():
            if name.endswith("_id") and isinstance(value, str):
                assert ID.match(value), (step.command, name, value)


def test_the_programme_has_the_shape_the_issue_describes(plan: DemoPlan) -> None:
    counts = plan.counts()
    orgs = {s.data["organisation_id"]: s.data for s in steps_of(plan, "RegisterOrganisation")}
    assert Counter(o["kind"] for o in orgs.values()) == {"delivery_partner": 6, "commissioner": 1, "evaluator": 1}
    assert all(o["name"].endswith("(demo)") and ("charity_number" in o) != ("company_number" in o) for o in orgs.values())
    assert len(plan.participants) == 143 == len({s.data["participant_id"] for s in steps_of(plan, "EnrolParticipant")})
    assert counts["EnrolParticipant"] > 143 and counts["TransitionParticipant"] > 5 and counts["WithdrawParticipant"] > 0
    assert 300 <= counts["ScheduleSession"] <= 600 and counts["CancelSession"] > 0
    assert counts["ScheduleSession"] == counts["RecordSessionDelivered"] + counts["CancelSession"]
    assert {s.data["activity"] for s in steps_of(plan, "ScheduleSession")} >= {
        "employability", "soft archery", "yoga", "podcasting", "music production"}
    assert counts["SetEarningsLimit"] == 1 and counts["IssuePaymentRun"] >= 1 and counts["PayInvoice"] >= 2
    statuses = [s.data["status"] for s in steps_of(plan, "SetDevelopmentStatus")]
    assert "amber" in statuses and "green" in statuses and counts["ProposeDevelopment"] > statuses.count("amber")
    assert {s.data["partner_id"] for s in steps_of(plan, "AssessCoProduction")} == set(plan.partners)


def test_money_stays_within_budgets_and_duties_stay_separate(plan: DemoPlan) -> None:
    (launch,) = steps_of(plan, "LaunchProgramme")
    contracts = {s.data["contract_id"]: s.data for s in steps_of(plan, "CommissionPartner")}
    assert sum(c["budget_pence"] for c in contracts.values()) <= launch.data["budget_pence"] == 120_000_000
    rate = {s.data["co_producer_id"]: s.data["hourly_rate_pence"] for s in steps_of(plan, "RegisterCoProducer")}
    claims = {s.data["claim_id"]: s for s in steps_of(plan, "ClaimExpense")}

    def pay(involvement: Step) -> int:
        return int(involvement.data["minutes"] * rate[involvement.data["co_producer_id"]] + 30) // 60

    spent: Counter[str] = Counter()
    for s in plan.steps():
        if s.command == "RecordInvolvement":
            spent[s.data["contract_id"]] += pay(s)
        elif s.command == "SubmitInvoice":
            spent[s.data["contract_id"]] += s.data["amount_pence"]
        elif s.command in ("ApproveExpense", "RejectExpense"):
            claim = claims[s.data["claim_id"]]
            assert (s.organisation, s.actor) != (claim.organisation, claim.actor)
            assert s.organisation == plan.commissioner
            spent[s.data["contract_id"]] += claim.data["amount_pence"] if s.command == "ApproveExpense" else 0
    assert all(spent[k] <= c["budget_pence"] for k, c in contracts.items()), spent
    # Someone on benefits passes the operator's earnings limit once, so the warning shows.
    (limit,) = (s.data for s in steps_of(plan, "SetEarningsLimit"))
    on_benefits = {s.data["co_producer_id"] for s in steps_of(plan, "RegisterCoProducer") if s.data["receives_benefits"]}
    monthly: Counter[tuple[str, str]] = Counter()
    for s in steps_of(plan, "RecordInvolvement"):
        if s.data["co_producer_id"] in on_benefits and limit["valid_from"] <= s.data["worked_on"] <= limit["valid_until"]:
            monthly[s.data["co_producer_id"], s.data["worked_on"][:7]] += pay(s)
    assert 0 < sum(1 for pence in monthly.values() if pence > limit["amount_pence"]) <= 3


def test_attendance_outcomes_and_dates_follow_the_rules(plan: DemoPlan) -> None:
    contracts = {s.data["partner_id"]: s.data for s in steps_of(plan, "CommissionPartner")}
    enrolled = {(s.organisation, s.data["participant_id"]): day(s.data["enrolled_on"])
                for s in steps_of(plan, "EnrolParticipant")}
    left = {(s.organisation, s.data["participant_id"]): day(s.data["on"])
            for s in plan.steps() if s.command in ("WithdrawParticipant", "WithdrawConsent")}
    scheduled = {(s.organisation, s.data["session_id"]): s.data for s in steps_of(plan, "ScheduleSession")}
    today = date.today()
    for s in plan.steps():
        dates = [day(v) for k, v in s.data.items() if k.endswith(("_on", "_at", "up_to", "period_end")) and v]
        assert all(d <= today for d in dates), s
        if s.organisation in contracts and s.command != "RegisterCoProducer":
            contract = contracts[s.organisation]
            assert all(day(contract["starts_on"]) <= d <= day(contract["ends_on"]) for d in dates), s
    for s in steps_of(plan, "RecordSessionDelivered"):
        session = scheduled[s.organisation, s.data["session_id"]]
        held = datetime.fromisoformat(session["starts_at"]).date()
        assert START <= held <= END and 0 < len(s.data["attendees"]) <= session["capacity"]
        for person in s.data["attendees"]:
            assert enrolled[s.organisation, person] <= held < left.get((s.organisation, person), date.max), (s, person)
    baselines: dict[tuple[str, str], date] = {}
    for s in steps_of(plan, "RecordOutcome"):
        who, on = (s.organisation, s.data["participant_id"]), day(s.data["measured_on"])
        assert len(s.data["answers"]) == 7 and all(1 <= a <= 5 for a in s.data["answers"])
        assert enrolled[who] <= on < left.get(who, date.max)
        if s.data["timepoint"] == "baseline":
            baselines[who] = on
        else:
            assert baselines[who] <= on
    assert len(baselines) > 100 and len(steps_of(plan, "RecordOutcome")) - len(baselines) > 30


def test_steps_on_one_aggregate_within_a_stage_share_a_lane(plan: DemoPlan) -> None:
    for stage in plan.stages:
        for group in lanes(stage):
            assert len({s.lane for s in group}) == 1
        accounts: dict[str, set[str]] = defaultdict(set)
        for s in stage.steps:
            if s.context == "payments" and "contract_id" in s.data:
                accounts[s.data["contract_id"]].add(s.lane)
        assert all(len(lanes_used) == 1 and "" not in lanes_used for lanes_used in accounts.values()), stage.name


# --- through the running services ------------------------------------------------------


async def summary(host: ServiceHost, programme_id: str, token: str) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=host.http_app())
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://reporting", headers=headers) as http:
        response = await http.get(f"/programmes/{programme_id}/summary")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def nats_server(own_nats_server: NatsEndpoint) -> NatsEndpoint:
    """The demo's thousands of events go to a server of its own: every later test starts
    services whose views replay the shared stream from the start, and should not replay these."""
    return own_nats_server


async def caught_up(host: ServiceHost, nc: Client) -> None:
    last = await JetStreamEventStore(nc).last_sequence()
    await asyncio.wait_for(asyncio.gather(*(r.reach(last) for r in host.runners)), 60)


async def test_the_demo_loads_through_every_service_and_twice_adds_nothing(
    registry: ServiceHost, sessions: ServiceHost, payments: ServiceHost, evaluation: ServiceHost, reporting: ServiceHost,
    client: CommandClient, nats_client: Client,
) -> None:
    # Half the people and every other week: the whole plan takes ~45 s per load with every
    # service in this one process; the CLI loads it in full.
    plan = build_plan(programme_id=unique("demo-test"), scale=0.5)
    counts = plan.counts()

    async def send(step: Step) -> dict[str, Any]:
        body = {"idempotency_key": step.key, "organisation": step.organisation, "actor": step.actor, "data": step.data}
        return await client.send(step.organisation, step.command, step.data, context=step.context, body=body)

    store = JetStreamEventStore(nats_client)
    report = await load(plan, send, recorded_up_to=await store.last_sequence())
    assert report.failures == [], report.failures[:5]
    assert report.accepted + report.already == len(plan) and report.accepted > len(plan) - 10  # organisations may be shared

    await caught_up(reporting, nats_client)
    token = await TokenStore(nats_client).issue(plan.commissioner, "commissioner")
    got = await summary(reporting, plan.programme_id, token)
    assert len(got["spend"]["contracts"]) == 6 and {c["partner_id"] for c in got["spend"]["contracts"]} == set(plan.partners)
    assert got["participants"]["unique"] == len(plan.participants) == 72
    assert got["participants"]["enrolments"] == counts["EnrolParticipant"]
    assert got["sessions"]["delivered"] == counts["RecordSessionDelivered"] >= 200
    assert got["sessions"]["cancelled"] == counts["CancelSession"]
    swemwbs = got["outcomes"]["SWEMWBS"]
    follow_ups = sum(1 for s in steps_of(plan, "RecordOutcome") if s.data["timepoint"] == "follow_up")
    assert swemwbs["pairs"] == follow_ups > 30 and swemwbs["mean_change"] > 0 and not swemwbs["indicative"]
    assert set(got["co_production"]) == set(plan.partners)
    assert all(c["spent_pence"] <= c["budget_pence"] for c in got["spend"]["contracts"])
    assert got["spend"]["co_producers_paid_pence"] > 0
    assert got["you_said_we_did"]["counts"]["green"] > 0

    before = await store.last_sequence()
    again = await load(plan, send, recorded_up_to=before)
    assert again.failures == [] and again.accepted == 0 and again.already == len(plan)
    assert await store.last_sequence() == before


# --- the loader, with a made-up transport ----------------------------------------------


async def test_the_loader_retries_what_may_be_retried_keeps_lanes_in_order_and_stops_at_a_failing_stage() -> None:
    def step(n: int, lane: str = "") -> Step:
        return Step("org", "sessions", f"C{n}", {}, f"k{n}", "actor", lane)

    stages = (Stage("one", [step(1, "a"), step(2, "a"), step(3), step(4, "a")]), Stage("two", [step(5), step(6)]),
              Stage("three", [step(7)]))
    plan = DemoPlan(1, "demo-x", "c", "e", (), (), stages)
    sent: list[str] = []
    replies: dict[str, list[dict[str, Any]]] = {
        "C3": [{"status": "rejected", "code": "conflict"}, {"status": "rejected", "code": "unavailable"}],
        "C1": [{"status": "accepted", "sequence": 5}], "C6": [{"status": "rejected", "code": "rule_violation"}]}

    async def send(s: Step) -> dict[str, Any]:
        sent.append(s.command)
        await asyncio.sleep(0.01 if s.command == "C1" else 0)  # the lane still waits for it
        if s.command == "C5":
            raise TimeoutError("no reply")
        queued = replies.get(s.command)
        return queued.pop(0) if queued else {"status": "accepted", "sequence": 50}

    report = await load(plan, send, recorded_up_to=10, backoff=0.001, attempts=3)
    assert [c for c in sent if c in ("C1", "C2", "C4")] == ["C1", "C2", "C4"]
    assert sent.count("C3") == 3 and sent.count("C5") == 3 and "C7" not in sent
    assert (report.accepted, report.already, report.failed, report.skipped, report.stopped_at) == (3, 1, 2, 1, "two")
    assert {f.step.command: f.reply["code"] for f in report.failures} == {"C5": "unavailable", "C6": "rule_violation"}
