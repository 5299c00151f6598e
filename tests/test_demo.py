"""`pathways demo`: the made-up programme's plan is sound on paper (pure tests of the full-scale
plan), and loading it through every running service records all of it, gives the headline
figures the plan promises, and loading it again adds nothing."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import sys
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from pathways.core.commands import CommandContext
from pathways.core.ids import ID_PATTERN
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.access import TokenStore
from pathways.runtime.host import ServiceHost
from pathways.runtime.service import discover
from pathways.testing.servers import NatsEndpoint
from pathways_demo import DemoPlan, Stage, Step, build_plan, load
from pathways_demo.cast import END, START
from pathways_demo.load import lanes, stage_order
from pathways_demo.recorded import already_loaded, evidence, roles
from pathways_demo.surveys import try_it_link

from tests.conftest import CommandClient, signed_in, unique
from tests.test_surveys import page_of

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
    assert Counter(o["kind"] for o in orgs.values()) == {"delivery_partner": 6, "commissioner": 1, "evaluator": 1,
                                                        "nhs_trust": 1}
    assert all(o["name"].endswith("(demo)") and (("charity_number" in o) != ("company_number" in o)
                                                 or o["kind"] == "nhs_trust") for o in orgs.values())
    assert len(plan.participants) == 143 == len({s.data["participant_id"] for s in steps_of(plan, "EnrolParticipant")})
    assert counts["EnrolParticipant"] > 143 and counts["TransitionParticipant"] > 5 and counts["WithdrawParticipant"] > 0
    assert 300 <= counts["ScheduleSession"] <= 600 and counts["CancelSession"] > 0
    assert counts["ScheduleSession"] == counts["RecordSessionDelivered"] + counts["CancelSession"]
    assert {s.data["activity"] for s in steps_of(plan, "ScheduleSession")} >= {
        "employability", "soft archery", "yoga", "podcasting", "music production"}
    assert counts["SetEarningsLimit"] == 4 and counts["IssuePaymentRun"] == 12 and counts["PayInvoice"] >= 2
    statuses = [s.data["status"] for s in steps_of(plan, "SetDevelopmentStatus")]
    assert "amber" in statuses and "green" in statuses and counts["ProposeDevelopment"] > statuses.count("amber")
    assert {s.data["partner_id"] for s in steps_of(plan, "AssessCoProduction")} == set(plan.partners)
    # The journey (issue 17): most enrolments take up a referral, some referrals are declined and some wait;
    # partners record absences, with and without a reason; people complete and say where they moved on to.
    enrolments = steps_of(plan, "EnrolParticipant")
    assert 0.6 < sum("referral_id" in s.data for s in enrolments) / len(enrolments) < 0.95
    assert counts["DeclineReferral"] >= 10 and counts["AcceptReferral"] > sum("referral_id" in s.data for s in enrolments)
    absences = [a for s in steps_of(plan, "RecordSessionDelivered") for a in s.data.get("absences", [])]
    assert {a["kind"] for a in absences} == {"excused", "unexcused"} and all("reason" in a for a in absences
                                                                             if a["kind"] == "excused")
    completed = steps_of(plan, "CompleteParticipation")
    assert len(completed) >= 10 and {s.data["moved_on_to"] for s in completed} >= {"community_living", "volunteering"}


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
    # Earnings count when paid: a run a month, paid on the 3rd, is what falls in one assessment
    # period; someone on benefits is paid past their allowance once or a few times (demo-cp-music-1
    # in February), and those runs name them, as the commissioner does once warned.
    limits = {s.data["benefit"]: s.data["amount_pence"] for s in steps_of(plan, "SetEarningsLimit")}
    benefit = {s.data["co_producer_id"]: s.data["benefits"][0] for s in steps_of(plan, "RecordCoProducerBenefits")}
    on_benefits = {s.data["co_producer_id"] for s in steps_of(plan, "RegisterCoProducer") if s.data["receives_benefits"]}
    assert set(benefit) == on_benefits and all(s.data["assessment_period_starts_on"]
                                               for s in steps_of(plan, "RecordCoProducerBenefits"))
    monthly: Counter[tuple[str, str]] = Counter()
    for s in steps_of(plan, "RecordInvolvement"):
        if s.data["co_producer_id"] in on_benefits:
            monthly[s.data["co_producer_id"], s.data["worked_on"][:7]] += pay(s)
    confirmed = {(cp, s.data["up_to"][:7]) for s in steps_of(plan, "IssuePaymentRun")
                 for cp in s.data.get("confirm_over_limits", [])}
    over = {(cp, month) for (cp, month), pence in monthly.items()
            if pence > limits[benefit[cp]] and month <= "2026-03"}  # runs paid up to 3 April, in the tax year
    assert confirmed == over and 0 < len(over) <= 3 and ("demo-cp-music-1", "2026-02") in over, (confirmed, over)


def test_attendance_outcomes_and_dates_follow_the_rules(plan: DemoPlan) -> None:
    contracts = {s.data["partner_id"]: s.data for s in steps_of(plan, "CommissionPartner")}
    enrolled = {(s.organisation, s.data["participant_id"]): day(s.data["enrolled_on"])
                for s in steps_of(plan, "EnrolParticipant")}
    left = {(s.organisation, s.data["participant_id"]): day(s.data["on"])
            for s in plan.steps() if s.command in ("WithdrawParticipant", "WithdrawConsent")}
    scheduled = {(s.organisation, s.data["session_id"]): s.data for s in steps_of(plan, "ScheduleSession")}
    today = date.today()
    for s in plan.steps():
        # A consent's review date and a survey link's expiry are to come: the only dates a step may set ahead.
        dates = [day(v) for k, v in s.data.items() if k.endswith(("_on", "_at", "up_to", "period_end")) and v
                 and k not in ("review_on", "expires_at")]
        assert all(d <= today for d in dates), s
        # A benefit claim's start is a fact about the person, not something done under the contract.
        if s.organisation in contracts and s.command not in ("RegisterCoProducer", "RecordCoProducerBenefits"):
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


def ancestors(plan: DemoPlan) -> dict[str, set[str]]:
    """Every stage each stage waits for, directly or not."""
    out: dict[str, set[str]] = {}
    for name, waits in stage_order(plan).items():
        out[name] = set(waits).union(*(out[w] for w in waits))
    return out


def subject_of(step: Step, services: dict[str, Any]) -> str:
    """The aggregate the step's command writes, as its service decides it."""
    handler = services[step.context].handlers[step.command]
    ctx = CommandContext(step.organisation, step.actor, step.command, datetime.now(UTC))
    return str(handler.target(handler.model.model_validate(step.data), ctx).ref.subject)


def test_no_aggregate_is_written_by_two_lanes_or_two_stages_that_run_at_once(plan: DemoPlan) -> None:
    """Two commands on one aggregate in flight together: one is refused as a conflict. So
    within a stage the steps of an aggregate share a lane, and stages that do not wait for
    each other write different aggregates."""
    services, before = discover(), ancestors(plan)
    written: dict[str, set[str]] = {}
    for stage in plan.stages:
        by_subject: dict[str, list[str]] = defaultdict(list)
        for step in stage.steps:
            by_subject[subject_of(step, services)].append(step.lane)
        for subject, used in by_subject.items():
            # Unlaned steps all run at once: an aggregate with several steps needs a lane.
            assert len(set(used)) == 1 and (len(used) == 1 or used[0] != ""), (stage.name, subject, used)
        written[stage.name] = set(by_subject)
    for one, other in itertools.combinations(plan.stages, 2):
        if one.name not in before[other.name] and other.name not in before[one.name]:
            assert not written[one.name] & written[other.name], (one.name, other.name)
    # The contract accounts, the load's critical path, start before the sessions do.
    assert "Enrolments" not in before["Co-producer pay, expenses and invoices"]


def test_every_step_comes_after_what_it_builds_on(plan: DemoPlan) -> None:
    before = ancestors(plan)
    stage_of = {id(s): stage.name for stage in plan.stages for s in stage.steps}
    first: dict[tuple[str, ...], str] = {}  # the stage that first records each fact

    def record(fact: tuple[str, ...], step: Step) -> None:
        first.setdefault(fact, stage_of[id(step)])

    def needs(fact: tuple[str, ...], step: Step) -> None:
        assert fact in first and first[fact] in before[stage_of[id(step)]], (step.command, fact)

    for stage in plan.stages:
        for step in stage.steps:
            d = step.data
            if step.command == "CommissionPartner":
                record(("contract", d["contract_id"]), step)
            elif step.command == "RegisterCoProducer":
                record(("co-producer", d["co_producer_id"]), step)
            elif step.command == "EnrolParticipant":
                record(("enrolled", step.organisation, d["participant_id"]), step)
    for step in plan.steps():
        d = step.data
        if step.command in ("RecordInvolvement", "ClaimExpense", "SubmitInvoice"):
            needs(("contract", d["contract_id"]), step)
        if "co_producer_id" in d and step.command != "RegisterCoProducer":
            needs(("co-producer", d["co_producer_id"]), step)
        for cp in d.get("co_facilitators", []):
            needs(("co-producer", cp), step)
        for person in d.get("attendees", []) + d.get("featured_participants", []):
            needs(("enrolled", step.organisation, person), step)
        if step.command == "RecordOutcome":
            needs(("enrolled", step.organisation, d["participant_id"]), step)
    # A session is scheduled before it is delivered or cancelled: the same lane, in order.
    for stage in plan.stages:
        for group in lanes(stage):
            commands = [s.command for s in group if s.context == "sessions" and s.command != "HoldShowcase"]
            assert commands in ([], ["ScheduleSession"], ["ScheduleSession", "RecordSessionDelivered"],
                                ["ScheduleSession", "CancelSession"]), commands
    # Payment runs pay what the accounts hold; moves and withdrawals wait for every session.
    runs = before["Payment runs and evaluation reports"]
    assert {"Co-producer pay, expenses and invoices", "Sessions, outcomes and co-production"} <= runs
    last = "Moves, completions and withdrawals"
    assert before[last] == {stage.name for stage in plan.stages} - {last}


def test_what_proves_the_plan_is_on_record_is_its_last_stage(plan: DemoPlan) -> None:
    last = plan.stages[-1]
    assert last.steps and evidence(plan) == last.steps
    # A last stage with nothing in it leaves the proof to the stages it waits for.
    empty = replace(plan, stages=(*plan.stages[:-1], Stage(last.name, [])))
    assert evidence(empty) == plan.stages[-2].steps


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
    # Half the people and every other week, to keep the test short with every service in this
    # one process; the CLI loads it in full.
    plan = build_plan(programme_id=unique("demo-test"), scale=0.5)
    counts = plan.counts()

    async def send(step: Step) -> dict[str, Any]:
        body = {"idempotency_key": step.key, "organisation": step.organisation, "actor": step.actor, "data": step.data}
        return await client.send(step.organisation, step.command, step.data, context=step.context, body=body)

    store = JetStreamEventStore(nats_client)
    # Interrupted before its last stage: not on record yet, and the next load completes it.
    partial = replace(plan, stages=plan.stages[:-1])
    first = await load(partial, send, recorded_up_to=await store.last_sequence())
    assert first.failures == [], first.failures[:5]
    assert first.accepted + first.already == len(partial) and first.accepted > len(partial) - 10  # organisations may be shared
    assert not await already_loaded(store, plan)
    report = await load(plan, send, recorded_up_to=await store.last_sequence())
    assert report.failures == [] and (report.accepted, report.already) == (len(plan.stages[-1].steps), len(partial))
    assert await already_loaded(store, plan)

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
    # People's own answers: every group scored the tokenism checklist, and the link handed out is there to try.
    async with await signed_in(reporting, plan.commissioner, "commissioner") as http:
        voices = (await http.get(f"/programmes/{plan.programme_id}/story")).json()["voices"]
    assert sum(g["answered"] for sv in voices["surveys"] for g in sv["groups"].values()) == counts["AnswerSurvey"] > 20
    checklist = next(sv for sv in voices["surveys"] if sv["survey_id"] == "tokenism-checklist")
    assert set(checklist["groups"]) == {"participant", "co_producer", "partner", "commissioner"}
    await evaluation.caught_up()
    async with page_of(evaluation) as page:
        assert "Tell us about the session" in (await page.get(try_it_link(plan.seed, plan.programme_id))).text

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


async def test_stages_that_do_not_wait_for_each_other_run_at_once_and_a_stage_waits_for_all_it_names() -> None:
    def step(n: int, lane: str = "") -> Step:
        return Step("org", "sessions", f"C{n}", {}, f"k{n}", "actor", lane)

    stages = (Stage("a", [step(1)]), Stage("b", [step(2, "x"), step(3, "x")], after=("a",)),
              Stage("c", [step(4)], after=("a",)), Stage("d", [step(5)], after=("b", "c")))
    plan = DemoPlan(1, "demo-x", "c", "e", (), (), stages)
    log: list[str] = []
    b_may_finish = asyncio.Event()

    async def send(s: Step) -> dict[str, Any]:
        log.append(f"sent {s.command}")
        if s.command == "C2":
            await b_may_finish.wait()  # b is held up until c has been answered: they overlap
        if s.command == "C4":
            b_may_finish.set()
        log.append(f"answered {s.command}")
        return {"status": "accepted", "sequence": 50}

    report = await asyncio.wait_for(load(plan, send, recorded_up_to=10), 10)
    assert report.accepted == 5 and log.index("sent C4") < log.index("answered C2")
    assert log.index("sent C5") > max(log.index("answered C3"), log.index("answered C4"))

    async def refusing(s: Step) -> dict[str, Any]:
        return {"status": "rejected", "code": "rule_violation"} if s.command == "C3" else {"status": "accepted", "sequence": 50}

    failed = await load(plan, refusing)
    assert (failed.failed, failed.stopped_at, failed.skipped, failed.by_command["C5"]) == (1, "b", 1, 0)
    with pytest.raises(ValueError, match="only for earlier stages"):
        await load(replace(plan, stages=(Stage("late", [step(9)], after=("d",)), *stages)), send)


async def test_running_the_demo_again_sends_nothing_and_keeps_its_tokens(
    registry: ServiceHost, sessions: ServiceHost, payments: ServiceHost, evaluation: ServiceHost,
    nats_client: Client, nats_server: NatsEndpoint, tmp_path: Path,
) -> None:
    """What `make run` does at every start (`pathways up --demo` runs `pathways demo`): the
    second time the plan is on record, so no command is sent, nothing is stored and no token
    is issued; a token that was revoked is the only one issued again."""
    programme = unique("demo-again")
    plan = build_plan(programme_id=programme, scale=0.1)
    home = tmp_path / "home"
    store, tokens = JetStreamEventStore(nats_client), TokenStore(nats_client)

    code, out = await pathways_demo(nats_server, home, "--programme-id", programme, "--scale", "0.1")
    assert code == 0 and f"{len(plan):,} recorded" in out and "0 failed" in out, out
    handed_out = json.loads((home / "demo-tokens.json").read_text())
    assert set(handed_out) == set(roles(plan)) and len(await tokens.listing()) == len(roles(plan))

    commands: list[str] = []

    async def seen(msg: Msg) -> None:
        commands.append(msg.subject)

    watching = await nats_client.subscribe("pathways.cmd.>", cb=seen)
    last = await store.last_sequence()
    code, out = await pathways_demo(nats_server, home, "--programme-id", programme, "--scale", "0.1")
    await nats_client.flush()
    assert code == 0 and "already loaded" in out and "0 new" in out, out
    assert commands == [] and await store.last_sequence() == last
    assert json.loads((home / "demo-tokens.json").read_text()) == handed_out
    assert len(await tokens.listing()) == len(roles(plan))

    assert await tokens.revoke(plan.evaluator) == 1
    code, out = await pathways_demo(nats_server, home, "--programme-id", programme, "--scale", "0.1")
    await watching.unsubscribe()
    again = json.loads((home / "demo-tokens.json").read_text())
    assert code == 0 and "1 new" in out and commands == [] and await store.last_sequence() == last, out
    assert {org for org in again if again[org] != handed_out[org]} == {plan.evaluator}
    assert len(await tokens.listing()) == len(roles(plan))
    assert await tokens.caller(again[plan.evaluator]) is not None and await tokens.caller(handed_out[plan.evaluator]) is None


async def pathways_demo(endpoint: NatsEndpoint, home: Path, *args: str) -> tuple[int, str]:
    """`pathways demo` as a user runs it, against the test's server (the services run here)."""
    conn = endpoint.connection
    env = os.environ | {"PATHWAYS_NATS_URL": conn.nats_url, "PATHWAYS_NATS_USER": conn.user or "",
                        "PATHWAYS_NATS_PASSWORD": conn.password or "", "PATHWAYS_HOME": str(home), "COLUMNS": "250"}
    proc = await asyncio.create_subprocess_exec(str(Path(sys.executable).parent / "pathways"), "demo", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 240)
    return proc.returncode or 0, out.decode()
