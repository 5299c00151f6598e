"""The registry's rules end to end, and the programme roster read model over HTTP."""

from __future__ import annotations

import asyncio
import json

import httpx
from pathways.core.commands import OPERATOR_ORGANISATION
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, enrolment, setup_programme, signed_in, unique


async def roster(registry: ServiceHost, programme_id: str) -> httpx.Response:
    # The projection is asynchronous: wait until it has applied the last event.
    last = await JetStreamEventStore(registry.broker.connection).last_sequence()
    await asyncio.wait_for(registry.runners[0].reach(last), 30)
    async with await signed_in(registry, "operator", "operator") as http:
        return await http.get(f"/programmes/{programme_id}")


async def test_one_participant_with_two_partners_counts_once_programme_wide(registry: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client)
    shared, only_a, only_b = unique("p"), unique("p"), unique("p")
    for partner, p in [(s.partner_a, shared), (s.partner_b, shared), (s.partner_a, only_a), (s.partner_b, only_b)]:
        assert (await client.send(partner, "EnrolParticipant", enrolment(s.programme_id, p)))["status"] == "accepted"
    await client.send(s.partner_b, "WithdrawParticipant", {"programme_id": s.programme_id, "participant_id": only_b,
                                                           "on": "2026-01-10", "reason": "moved"})
    response = await roster(registry, s.programme_id)
    assert response.status_code == 200
    body = response.json()
    assert body["unique_participants"] == 3
    assert body["active_participants"] == 2
    by_partner = {p["partner_id"]: p for p in body["partners"]}
    assert by_partner[s.partner_a]["total_enrolments"] == 2 and by_partner[s.partner_a]["active_enrolments"] == 2
    assert by_partner[s.partner_b]["total_enrolments"] == 2 and by_partner[s.partner_b]["active_enrolments"] == 1
    assert body["committed_pence"] == 2 * (10_000_000 // 4)


async def test_unknown_programme_is_404_with_a_message(registry: ServiceHost) -> None:
    response = await roster(registry, unique("nope"))
    assert response.status_code == 404 and "no programme" in response.json()["detail"]


async def test_openapi_is_published(registry: ServiceHost) -> None:
    transport = httpx.ASGITransport(app=registry.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://registry") as http:
        spec = (await http.get("/openapi.json")).json()
    assert "/programmes/{programme_id}" in spec["paths"] and "/commands/{organisation}/EnrolParticipant" in spec["paths"]


async def test_commands_over_http_use_the_same_intake(registry: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client)
    body = {"idempotency_key": unique("k"), "organisation": s.partner_a, "actor": "t",
            "data": enrolment(s.programme_id, unique("p"))}
    async with await signed_in(registry, s.partner_a, "partner") as http:
        ok = await http.post(f"/commands/{s.partner_a}/EnrolParticipant", json=body)
        again = await http.post(f"/commands/{s.partner_a}/EnrolParticipant", json=body)
        bad = await http.post(f"/commands/{s.partner_a}/EnrolParticipant", content=b"nope",
                              headers={"content-type": "application/json; charset=utf-8"})
        # What a cross-site form can send without the browser asking first: refused unread.
        for media in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""):
            refused = await http.post(f"/commands/{s.partner_a}/EnrolParticipant", content=json.dumps(body | {
                "idempotency_key": unique("k")}).encode(), headers={"content-type": media})
            assert refused.status_code == 415, (media, refused.status_code)
        as_b = await http.post(f"/commands/{s.partner_b}/EnrolParticipant", json=body | {"organisation": s.partner_b})
    assert ok.status_code == 200 and ok.json()["status"] == "accepted" and again.json() == ok.json()
    assert bad.status_code == 422 and bad.json()["code"] == "invalid"
    assert as_b.status_code == 403  # A's token cannot send as B
    async with await signed_in(registry, "an-auditor", "auditor") as auditor:
        assert (await auditor.post("/commands/an-auditor/EnrolParticipant", json=body)).status_code == 403
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=registry.http_app()), base_url="http://t") as anonymous:
        assert (await anonymous.post(f"/commands/{s.partner_a}/EnrolParticipant", json=body)).status_code == 401


async def rejected(client: CommandClient, org: str, command: str, data: dict, code: str) -> str:  # type: ignore[type-arg]
    reply = await client.send(org, command, data)
    assert reply["status"] == "rejected" and reply["code"] == code, reply
    return str(reply["message"])


async def test_only_a_commissioner_launches(registry: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client)
    data = {"programme_id": unique("prog"), "name": "X", "aims": ["a"], "starts_on": "2025-01-01", "ends_on": "2025-12-31",
            "budget_pence": 100}
    assert "commissioner" in await rejected(client, s.partner_a, "LaunchProgramme", data, "forbidden")
    assert "not registered" in await rejected(client, unique("stranger"), "LaunchProgramme", data, "forbidden")
    assert "already in use" in await rejected(client, s.commissioner, "LaunchProgramme",
                                              data | {"programme_id": s.programme_id}, "rule_violation")


async def test_only_the_operator_registers_organisations_and_only_once(registry: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client)
    data = {"organisation_id": unique("org"), "name": "N", "kind": "funder"}
    assert "operator" in await rejected(client, s.commissioner, "RegisterOrganisation", data, "forbidden")
    assert "already registered" in await rejected(client, OPERATOR_ORGANISATION, "RegisterOrganisation",
                                                  data | {"organisation_id": s.partner_a}, "rule_violation")


async def test_commissioning_rules(registry: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client, budget_pence=1_000_000)
    base = {"programme_id": s.programme_id, "contract_id": unique("k"), "partner_id": s.partner_a, "budget_pence": 100,
            "activities": ["yoga"], "starts_on": "2025-10-01", "ends_on": "2026-09-30"}
    await rejected(client, s.commissioner, "CommissionPartner", base | {"partner_id": s.evaluator}, "rule_violation")
    assert "exceeds" in await rejected(client, s.commissioner, "CommissionPartner", base | {"budget_pence": 500_001},
                                       "rule_violation")
    assert "within the programme" in await rejected(client, s.commissioner, "CommissionPartner",
                                                    base | {"ends_on": "2027-01-01"}, "rule_violation")
    await rejected(client, s.commissioner, "CommissionPartner", base | {"contract_id": "contract-0"}, "rule_violation")
    await rejected(client, s.commissioner, "CommissionPartner", base | {"programme_id": unique("nope")}, "not_found")


async def test_enrolment_rules_and_lifecycle(registry: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client)
    p = unique("p")
    await rejected(client, s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p, enrolled_on="2027-01-01"),
                   "rule_violation")
    await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p, consent_given=False))
    await rejected(client, s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p), "rule_violation")
    act = {"programme_id": s.programme_id, "participant_id": p, "on": "2026-01-01"}
    await rejected(client, s.partner_a, "WithdrawConsent", act, "rule_violation")
    assert (await client.send(s.partner_a, "RecordConsent", act))["status"] == "accepted"
    await rejected(client, s.partner_a, "RecordConsent", act, "rule_violation")
    await rejected(client, s.partner_a, "TransitionParticipant", act | {"to_setting": "ward"}, "rule_violation")
    assert (await client.send(s.partner_a, "TransitionParticipant", act | {"to_setting": "community"}))["status"] == "accepted"
    await rejected(client, s.partner_b, "RecordConsent", act, "not_found")  # not enrolled with partner b
    assert (await client.send(s.partner_a, "WithdrawParticipant", act | {"reason": "discharged"}))["status"] == "accepted"
    await rejected(client, s.partner_a, "TransitionParticipant", act | {"to_setting": "ward"}, "rule_violation")


async def test_co_producers_and_id_clashes(registry: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client)
    cp = {"programme_id": s.programme_id, "co_producer_id": unique("cp"), "role": "peer facilitator", "hourly_rate_pence": 1500,
          "receives_benefits": True}
    assert (await client.send(s.partner_a, "RegisterCoProducer", cp))["status"] == "accepted"
    await rejected(client, s.partner_a, "RegisterCoProducer", cp, "rule_violation")
    # Neither its commissioner nor commissioned for it: told what a stranger is told (tests/test_strangers.py).
    await rejected(client, s.evaluator, "RegisterCoProducer", cp | {"co_producer_id": unique("cp")}, "not_found")
    # A participant id already used for a co-producer on the same subject is refused.
    assert "already used" in await rejected(client, s.partner_a, "EnrolParticipant", enrolment(s.programme_id,
                                                                                               cp["co_producer_id"]), "conflict")
