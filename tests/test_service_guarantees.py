"""DESIGN §4 guarantees 1, 2 and 4 for the sessions, payments and evaluation services,
over the real nats-server: one scenario per service says which two commands contend for
one aggregate, which command is retried, and which rule a bad command breaks."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from pathways.core.intake import CommandIntake
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost
from pathways.runtime.service import discover
from pathways.testing.servers import NatsEndpoint

from tests.conftest import CommandClient, ProgrammeSetup, appended_since, enrolment, running, setup_programme, signed_in, unique
from tests.test_registry_guarantees import BarrierStore

Command = tuple[str, str, dict[str, Any]]  # sender, command name, data


@dataclass
class Scenario:
    contenders: tuple[Command, Command]  # two commands on one aggregate, each fine on its own
    subject: str  # that aggregate's subject
    retried: Command
    broken_rule: tuple[Command, str]  # a command breaking a rule, and the code it gets


async def ok(client: CommandClient, org: str, command: str, data: dict[str, Any], context: str) -> None:
    reply = await client.send(org, command, data, context=context)
    assert reply["status"] == "accepted", (command, reply)


async def co_producer(client: CommandClient, s: ProgrammeSetup) -> str:
    cp = unique("cp")
    await ok(client, s.partner_a, "RegisterCoProducer", {"programme_id": s.programme_id, "co_producer_id": cp,
                                                         "role": "peer mentor", "hourly_rate_pence": 1400,
                                                         "receives_benefits": False}, "registry")
    return cp


async def sessions_scenario(client: CommandClient, s: ProgrammeSetup) -> Scenario:
    p = unique("p")
    await ok(client, s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p), "registry")
    session = {"programme_id": s.programme_id, "session_id": unique("session"), "activity": "music production",
               "site": "Studio 2", "starts_at": "2026-03-03T18:00:00Z", "duration_minutes": 120, "capacity": 8}
    await ok(client, s.partner_a, "ScheduleSession", session, "sessions")
    ids = {"programme_id": s.programme_id, "session_id": session["session_id"]}
    return Scenario(
        ((s.partner_a, "RecordSessionDelivered", ids | {"attendees": [p], "duration_minutes": 110}),
         (s.partner_a, "CancelSession", ids | {"reason": "Tutor unwell"})),
        f"pathways.evt.{s.programme_id}.{s.partner_a}.sessions.{session['session_id']}",
        (s.partner_a, "ScheduleSession", session | {"session_id": unique("session")}),
        ((s.partner_a, "ScheduleSession", session | {"session_id": unique("session"), "activity": "Skydiving"}),
         "rule_violation"),
    )


async def payments_scenario(client: CommandClient, s: ProgrammeSetup) -> Scenario:
    cp = await co_producer(client, s)
    claim = {"programme_id": s.programme_id, "contract_id": "contract-0", "claim_id": unique("claim"), "co_producer_id": cp,
             "category": "subsistence", "amount_pence": 850, "incurred_on": "2026-02-02", "description": "Lunch on a long day"}
    await ok(client, s.partner_a, "ClaimExpense", claim, "payments")
    decision = {"programme_id": s.programme_id, "partner_id": s.partner_a, "contract_id": "contract-0",
                "claim_id": claim["claim_id"]}
    return Scenario(
        ((s.commissioner, "ApproveExpense", decision), (s.commissioner, "RejectExpense", decision | {"reason": "No receipt"})),
        f"pathways.evt.{s.programme_id}.{s.partner_a}.payments.contract-0",
        (s.partner_a, "RecordInvolvement", {"programme_id": s.programme_id, "contract_id": "contract-0",
                                            "involvement_id": unique("inv"), "co_producer_id": cp,
                                            "worked_on": "2026-02-02", "minutes": 45, "activity": "Planning meeting"}),
        ((s.partner_a, "SubmitInvoice", {"programme_id": s.programme_id, "contract_id": "contract-0",
                                         "invoice_id": unique("inv"), "amount_pence": 10**9, "period_start": "2025-10-01",
                                         "period_end": "2025-10-31", "description": "More than the contract"}),
         "rule_violation"),
    )


async def evaluation_scenario(client: CommandClient, s: ProgrammeSetup) -> Scenario:
    p = unique("p")
    await ok(client, s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p), "registry")
    baseline = {"programme_id": s.programme_id, "participant_id": p, "measurement_id": unique("m"), "instrument": "SWEMWBS",
                "timepoint": "baseline", "measured_on": "2025-11-10", "answers": [3, 3, 2, 4, 3, 3, 3]}
    return Scenario(
        # Two different baselines for one participant: only one may stand.
        ((s.partner_a, "RecordOutcome", baseline), (s.partner_a, "RecordOutcome", baseline | {"measurement_id": unique("m")})),
        f"pathways.evt.{s.programme_id}.{s.partner_a}.evaluation.{p}",
        (s.partner_a, "ProposeDevelopment", {"programme_id": s.programme_id, "development_id": unique("dev"),
                                             "you_said": "Sessions clash with ward rounds", "raised_by": "participants",
                                             "we_will": "Move archery to the afternoon"}),
        ((s.partner_a, "RecordOutcome", baseline | {"measurement_id": unique("m"), "timepoint": "follow_up",
                                                    "participant_id": unique("p")}), "rule_violation"),
    )


SCENARIOS: dict[str, Callable[[CommandClient, ProgrammeSetup], Awaitable[Scenario]]] = {
    "sessions": sessions_scenario,
    "payments": payments_scenario,
    "evaluation": evaluation_scenario,
}


@pytest.fixture(params=sorted(SCENARIOS))
async def service(request: pytest.FixtureRequest, registry: ServiceHost, nats_server: NatsEndpoint,
                  tmp_path: Path) -> AsyncIterator[ServiceHost]:
    async with running(discover()[request.param], nats_server, tmp_path) as host:
        yield host


async def scenario_for(service: ServiceHost, client: CommandClient) -> Scenario:
    return await SCENARIOS[service.service.name](client, await setup_programme(client))


def body(org: str, data: dict[str, Any], key: str | None = None) -> bytes:
    return json.dumps({"idempotency_key": key or uuid.uuid4().hex, "organisation": org, "actor": "t", "data": data}).encode()


async def test_g1_two_concurrent_commands_on_one_aggregate_one_wins_one_conflicts(
    service: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    sc = await scenario_for(service, client)
    store = JetStreamEventStore(nats_client)
    before = len(await store.read_subject(sc.subject))
    assert service.intake is not None
    # Both commands read the same version of the aggregate before either appends.
    intake = CommandIntake(service.service.name, service.service.handlers, BarrierStore(nats_client, 2),
                           service.service.schemas, views=service.intake.views)
    replies = await asyncio.gather(*(intake.handle(org, command, body(org, data)) for org, command, data in sc.contenders))
    assert sorted(r.status for r in replies) == ["accepted", "rejected"], replies
    loser = next(r for r in replies if r.status == "rejected")
    assert loser.code == "conflict" and "Nothing was recorded" in loser.message  # type: ignore[union-attr]
    assert len(await store.read_subject(sc.subject)) == before + 1


async def test_g2_a_retried_command_appends_nothing_and_gets_the_same_answer(
    service: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    sc = await scenario_for(service, client)
    org, command, data = sc.retried
    key = unique("key")
    context = service.service.name
    first = await client.raw(org, command, body(org, data, key), context=context)
    assert first["status"] == "accepted", first
    last = await JetStreamEventStore(nats_client).last_sequence()
    replies = await asyncio.gather(*(client.raw(org, command, body(org, data, key), context=context) for _ in range(5)))
    assert all(r == first for r in replies), replies
    assert await JetStreamEventStore(nats_client).last_sequence() == last


async def test_g4_bad_input_appends_nothing_crashes_nothing_and_explains_itself(
    service: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    sc = await scenario_for(service, client)
    (org, command, data), rule_code = sc.broken_rule
    good_org, good_command, good_data = sc.retried
    other = sc.contenders[0][0] if sc.contenders[0][0] != org else "someone-else"
    cases: list[tuple[str, str, str, bytes, str]] = [
        ("not JSON", org, command, b"{nope", "invalid"),
        ("not an object", org, command, b'"text"', "invalid"),
        ("envelope missing", org, command, json.dumps({"data": data}).encode(), "invalid"),
        ("wrong schema", org, command, body(org, {k: [] for k in data}), "invalid"),
        ("unknown field", org, command, body(org, data | {"participant_name": "Jane Example"}), "invalid"),
        ("unknown command", org, "DoSomethingElse", body(org, data), "invalid"),
        ("organisation in body differs from subject", other, command, body(org, data), "forbidden"),
        ("a rule broken", org, command, body(org, data), rule_code),
    ]
    context = service.service.name
    before = await JetStreamEventStore(nats_client).last_sequence()
    for label, sender, name, payload, code in cases:
        reply = await client.raw(sender, name, payload, context=context)
        assert reply["status"] == "rejected" and reply["code"] == code, (label, reply)
        # A sentence: a capital letter, or a quoted name or a date that opens it.
        assert len(reply["message"]) > 20 and re.match(r"['0-9A-Z]", reply["message"]), (label, reply)
    domain, audit = await appended_since(nats_client, before)
    assert domain == []
    # Each refusal is on the record for the auditors: who, what and why, never the body.
    rejections = [json.loads(e.payload) for e in audit]
    assert [(r["type"], r["data"]["code"]) for r in rejections] == [("pathways.audit.CommandRejected", c[4]) for c in cases]
    assert not any("Jane Example" in e.payload.decode() for e in audit)
    before = await JetStreamEventStore(nats_client).last_sequence()
    reply = await client.raw(good_org, good_command, body(good_org, good_data), context=context)
    assert reply["status"] == "accepted" and reply["sequence"] > before


JSON = {"content-type": "application/json"}


async def test_the_same_commands_work_over_http(service: ServiceHost, client: CommandClient, nats_client: Client) -> None:

    sc = await scenario_for(service, client)
    org, command, data = sc.retried
    async with await signed_in(service, org, "partner") as http:
        response = await http.post(f"/commands/{org}/{command}", content=body(org, data, "over-http"), headers=JSON)
        assert response.status_code == 200 and response.json()["status"] == "accepted", response.text
        event_id = response.json()["event_ids"][0]
        again = await http.post(f"/commands/{org}/{command}", content=body(org, data, "over-http"), headers=JSON)
        assert again.json() == response.json()
    (bad_org, bad_command, bad_data), code = sc.broken_rule
    async with await signed_in(service, bad_org, "partner") as http:
        refused = await http.post(f"/commands/{bad_org}/{bad_command}", content=body(bad_org, bad_data), headers=JSON)
        assert refused.status_code == 422 and refused.json()["code"] == code
    found = [e async for e in JetStreamEventStore(nats_client).read_all(response.json()["sequence"], response.json()["sequence"])]
    assert found[0].event.id == event_id
