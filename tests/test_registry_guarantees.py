"""DESIGN §4 guarantees 1, 2 and 4 for the registry, over real NATS request-reply."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from nats.aio.client import Client
from pathways.core.intake import CommandIntake
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost
from pathways_registry.app import service as registry_service

from tests.conftest import CommandClient, appended_since, enrolment, setup_programme, unique


async def enrolment_history(nc: Client, programme_id: str, partner: str, participant: str) -> list[Any]:
    """The stored events of one participant's enrolment with one partner."""
    return await JetStreamEventStore(nc).read_subject(f"pathways.evt.{programme_id}.{partner}.registry.{participant}")


async def last_seq(nc: Client) -> int:
    return await JetStreamEventStore(nc).last_sequence()


class BarrierStore(JetStreamEventStore):
    """The real JetStream store, but appends wait until every command has read its
    state: the interleaving that makes two commands decide on the same version."""

    def __init__(self, nc: Client, parties: int) -> None:
        super().__init__(nc)
        self.barrier = asyncio.Barrier(parties)

    async def append(self, request: Any) -> Any:
        await self.barrier.wait()
        return await super().append(request)


async def test_g1_two_concurrent_commands_on_one_aggregate_one_wins_one_conflicts(
    registry: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    p = unique("participant")
    assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p)))["status"] == "accepted"
    intake = CommandIntake("registry", registry_service.handlers, BarrierStore(nats_client, 2), registry_service.schemas)

    def body(reason: str) -> bytes:
        return json.dumps({"idempotency_key": unique("k"), "organisation": s.partner_a, "actor": "t",
                           "data": {"programme_id": s.programme_id, "participant_id": p, "on": "2026-01-05",
                                    "reason": reason}}).encode()

    replies = await asyncio.gather(
        intake.handle(s.partner_a, "WithdrawParticipant", body("moved away")),
        intake.handle(s.partner_a, "WithdrawParticipant", body("discharged")),
    )
    statuses = sorted(r.status for r in replies)
    assert statuses == ["accepted", "rejected"]
    loser = next(r for r in replies if r.status == "rejected")
    assert loser.code == "conflict" and "Nothing was recorded" in loser.message  # type: ignore[union-attr]
    history = await enrolment_history(nats_client, s.programme_id, s.partner_a, p)
    assert [h.event.type for h in history] == ["pathways.registry.ParticipantEnrolled", "pathways.registry.ParticipantWithdrawn"]


async def test_g1_many_concurrent_commands_over_nats_exactly_one_wins(
    registry: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    p = unique("participant")
    await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, p))
    replies = await asyncio.gather(*(
        client.send(s.partner_a, "WithdrawParticipant", {"programme_id": s.programme_id, "participant_id": p,
                                                         "on": "2026-01-05", "reason": f"r{i}"})
        for i in range(20)
    ))
    accepted = [r for r in replies if r["status"] == "accepted"]
    assert len(accepted) == 1
    assert {r["code"] for r in replies if r["status"] == "rejected"} <= {"conflict", "rule_violation"}
    history = await enrolment_history(nats_client, s.programme_id, s.partner_a, p)
    assert len(history) == 2


async def test_g2_a_retried_command_appends_nothing_and_gets_the_same_answer(
    registry: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    data = enrolment(s.programme_id, unique("participant"))
    first = await client.send(s.partner_a, "EnrolParticipant", data, key="enrol-once")
    before = await last_seq(nats_client)
    again = await client.send(s.partner_a, "EnrolParticipant", data, key="enrol-once")
    assert first["status"] == "accepted" and again == first
    assert await last_seq(nats_client) == before


async def test_g2_concurrent_retries_store_one_event_and_all_get_the_same_answer(
    registry: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    p = unique("participant")
    data = enrolment(s.programme_id, p)
    replies = await asyncio.gather(*(client.send(s.partner_b, "EnrolParticipant", data, key="same-key") for _ in range(10)))
    assert all(r["status"] == "accepted" for r in replies), replies
    assert len({json.dumps(r, sort_keys=True) for r in replies}) == 1
    history = await enrolment_history(nats_client, s.programme_id, s.partner_b, p)
    assert len(history) == 1


async def test_g4_bad_input_of_every_kind_is_rejected_appends_nothing_and_crashes_nothing(
    registry: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    good = {"idempotency_key": unique("k"), "organisation": s.partner_a, "actor": "t",
            "data": enrolment(s.programme_id, unique("p"))}
    cases: list[tuple[str, str, str, bytes, str]] = [
        ("not JSON", s.partner_a, "EnrolParticipant", b"{this is not json", "invalid"),
        ("JSON but not an object", s.partner_a, "EnrolParticipant", b"[1, 2, 3]", "invalid"),
        ("envelope missing", s.partner_a, "EnrolParticipant", json.dumps({"data": {}}).encode(), "invalid"),
        ("wrong schema", s.partner_a, "EnrolParticipant",
         json.dumps(good | {"data": good["data"] | {"setting": "moon", "enrolled_on": "yesterday"}}).encode(), "invalid"),
        ("unknown field", s.partner_a, "EnrolParticipant",
         json.dumps(good | {"data": good["data"] | {"name": "Jane Example"}}).encode(), "invalid"),
        ("unknown command", s.partner_a, "DeleteEverything", json.dumps(good).encode(), "invalid"),
        ("org in body differs from subject", s.partner_b, "EnrolParticipant", json.dumps(good).encode(), "forbidden"),
        ("broken rule: partner not commissioned", s.evaluator, "EnrolParticipant",
         json.dumps(good | {"organisation": s.evaluator}).encode(), "not_found"),  # as a stranger is told
        ("broken rule: not the commissioner", s.partner_a, "CommissionPartner",
         json.dumps(good | {"data": {"programme_id": s.programme_id, "contract_id": "c9", "partner_id": s.partner_a,
                                     "budget_pence": 100, "activities": ["yoga"], "starts_on": "2025-10-01",
                                     "ends_on": "2026-01-01"}}).encode(),
         "forbidden"),
        ("unknown programme", s.partner_a, "EnrolParticipant",
         json.dumps(good | {"data": good["data"] | {"programme_id": unique("nope")}}).encode(), "not_found"),
    ]
    before = await last_seq(nats_client)
    for label, org, command, payload, code in cases:
        reply = await client.raw(org, command, payload)
        assert reply["status"] == "rejected", label
        assert reply["code"] == code, (label, reply)
        assert len(reply["message"]) > 20 and reply["message"][0].isupper(), (label, reply)
    domain, audit = await appended_since(nats_client, before)
    assert domain == [] and len(audit) == len(cases)  # only the record of each refusal
    assert not any(b"Jane Example" in e.payload for e in audit)
    # The service is still there and still decides correctly.
    before = await last_seq(nats_client)
    ok = await client.raw(s.partner_a, "EnrolParticipant", json.dumps(good).encode())
    assert ok["status"] == "accepted"
    assert ok["sequence"] == before + 1


async def test_g4_rejections_explain_field_problems(registry: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client)
    reply = await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, "has space", setting="moon"))
    assert reply["code"] == "invalid"
    fields = {d["field"] for d in reply["details"]}
    assert {"participant_id", "setting"} <= fields
    assert "setting" in reply["message"]
