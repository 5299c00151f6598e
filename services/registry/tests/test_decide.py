"""Unit tests of the registry's rules through the intake with the in-memory store: fast,
no server. The same rules are tested over real NATS in tests/."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pathways.eventstore.memory import InMemoryEventStore
from pathways.intake import CommandIntake
from pathways_registry.app import service


def intake() -> CommandIntake:
    return CommandIntake("registry", service.handlers, InMemoryEventStore(), service.schemas,
                         clock=lambda: datetime(2025, 11, 1, tzinfo=UTC))


async def send(i: CommandIntake, org: str, command: str, data: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    default_key = hashlib.sha256(f"{command}{json.dumps(data, sort_keys=True)}".encode()).hexdigest()
    body = {"idempotency_key": key or default_key, "organisation": org, "actor": "u", "data": data}
    reply = await i.handle(org, command, json.dumps(body).encode())
    return reply.model_dump(mode="json")


async def programme(i: CommandIntake) -> None:
    for org, kind in [("council", "commissioner"), ("archers", "delivery_partner"), ("studio", "delivery_partner")]:
        assert (await send(i, "operator", "RegisterOrganisation", {"organisation_id": org, "name": org.title(),
                                                                   "kind": kind}))["status"] == "accepted"
    assert (await send(i, "council", "LaunchProgramme", {"programme_id": "p1", "name": "P", "aims": ["a"],
                                                         "starts_on": "2025-10-01",
                                                         "ends_on": "2026-09-30", "budget_pence": 1000}))["status"] == "accepted"
    assert (await send(i, "council", "CommissionPartner", {"programme_id": "p1", "contract_id": "k1", "partner_id": "archers",
                                                           "budget_pence": 600,
                                                           "activities": ["soft archery"], "starts_on": "2025-10-01",
                                                           "ends_on": "2026-09-30"}))["status"] == "accepted"


async def test_budget_cannot_be_overcommitted() -> None:
    i = intake()
    await programme(i)
    reply = await send(i, "council", "CommissionPartner", {"programme_id": "p1", "contract_id": "k2", "partner_id": "studio",
                                                           "budget_pence": 401,
                                                           "activities": ["music"], "starts_on": "2025-10-01",
                                                           "ends_on": "2026-09-30"})
    assert reply["code"] == "rule_violation" and reply["details"][0]["remaining_pence"] == 400


async def test_uncommissioned_partner_cannot_enrol_but_commissioned_one_can() -> None:
    i = intake()
    await programme(i)
    data = {"programme_id": "p1", "participant_id": "P-1", "setting": "ward", "referral_source": "self", "consent_given": True,
            "enrolled_on": "2025-11-01"}
    assert (await send(i, "studio", "EnrolParticipant", data))["code"] == "not_found"  # not commissioned: a stranger
    accepted = await send(i, "archers", "EnrolParticipant", data)
    assert accepted["status"] == "accepted" and accepted["sequence"] == 6


async def test_event_ids_follow_the_idempotency_key() -> None:
    a, b = intake(), intake()
    for i in (a, b):
        await programme(i)
    data = {"programme_id": "p1", "participant_id": "P-1", "setting": "ward", "referral_source": "self", "consent_given": True,
            "enrolled_on": "2025-11-01"}
    ra = await send(a, "archers", "EnrolParticipant", data, key="k")
    rb = await send(b, "archers", "EnrolParticipant", data, key="k")
    assert ra["event_ids"] == rb["event_ids"]
    assert await send(a, "archers", "EnrolParticipant", data, key="k") == ra


async def test_an_erased_participant_is_not_enrolled_again_under_the_same_id() -> None:
    i = intake()
    await programme(i)
    data = {"programme_id": "p1", "participant_id": "P-1", "setting": "ward", "referral_source": "self",
            "consent_given": True, "enrolled_on": "2025-11-01"}
    assert (await send(i, "archers", "EnrolParticipant", data))["status"] == "accepted"
    action = {"programme_id": "p1", "participant_id": "P-1", "on": "2025-12-01"}
    assert (await send(i, "archers", "WithdrawParticipant", action | {"reason": "moved away"}))["status"] == "accepted"
    assert (await send(i, "archers", "EraseParticipantData", action))["status"] == "accepted"
    again = await send(i, "archers", "EnrolParticipant", data, key="again")
    assert again["code"] == "rule_violation" and "new pseudonymous id" in again["message"]
    assert (await send(i, "archers", "EnrolParticipant", data | {"participant_id": "P-2"}))["status"] == "accepted"
