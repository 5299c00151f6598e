"""Sessions rules over real NATS: each rule broken once, with the code and message a
partner sees; the service's directory learnt from registry events only."""

from __future__ import annotations

from typing import Any

from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, setup_programme, signed_in, unique


async def send(client: CommandClient, org: str, command: str, data: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return await client.send(org, command, data, context="sessions", **kw)


async def rejected(client: CommandClient, org: str, command: str, data: dict[str, Any], code: str, *words: str) -> dict[str, Any]:
    reply = await send(client, org, command, data)
    assert reply["status"] == "rejected" and reply["code"] == code, reply
    for word in words:
        assert word in reply["message"], (word, reply["message"])
    return reply


def session(s: ProgrammeSetup, **overrides: Any) -> dict[str, Any]:
    return {
        "programme_id": s.programme_id, "session_id": unique("session"), "activity": "Soft archery",
        "site": "Riverside ward garden", "starts_at": "2026-02-03T14:00:00Z", "duration_minutes": 90, "capacity": 3,
    } | overrides


async def enrol(client: CommandClient, s: ProgrammeSetup, partner: str, **overrides: Any) -> str:
    participant = unique("p")
    reply = await client.send(partner, "EnrolParticipant", enrolment(s.programme_id, participant, **overrides))
    assert reply["status"] == "accepted", reply
    return participant


async def scheduled(client: CommandClient, s: ProgrammeSetup, **overrides: Any) -> dict[str, Any]:
    data = session(s, **overrides)
    reply = await send(client, s.partner_a, "ScheduleSession", data)
    assert reply["status"] == "accepted", reply
    return data


def delivered(data: dict[str, Any], attendees: list[str]) -> dict[str, Any]:
    return {"programme_id": data["programme_id"], "session_id": data["session_id"], "attendees": attendees,
            "duration_minutes": 80}


async def test_a_partner_schedules_and_delivers_for_its_consenting_participants(
    registry: ServiceHost, sessions: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    people = [await enrol(client, s, s.partner_a) for _ in range(3)]
    data = await scheduled(client, s)
    reply = await send(client, s.partner_a, "RecordSessionDelivered", delivered(data, people))
    assert reply["status"] == "accepted", reply
    await sessions.caught_up()

    async with await signed_in(sessions, s.commissioner, "commissioner") as http:
        for _ in range(100):
            rows = (await http.get(f"/programmes/{s.programme_id}/sessions")).json()
            if rows and rows[0]["status"] == "delivered":
                break
            import asyncio

            await asyncio.sleep(0.05)
    assert rows[0]["attendance"] == 3 and rows[0]["delivered_on"] == "2026-02-03"


async def test_scheduling_rules(registry: ServiceHost, sessions: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client)
    await rejected(client, s.evaluator, "ScheduleSession", session(s), "forbidden", "not commissioned")
    await rejected(client, s.partner_a, "ScheduleSession", session(s, activity="Trampolining"), "rule_violation",
                   "not an activity", "soft archery")
    await rejected(client, s.partner_a, "ScheduleSession", session(s, starts_at="2027-01-01T10:00:00Z"), "rule_violation",
                   "outside every contract period")
    await rejected(client, s.partner_a, "ScheduleSession", session(s, co_facilitators=["cp-unknown"]), "rule_violation",
                   "registered co-producers", "cp-unknown")
    data = await scheduled(client, s)
    await rejected(client, s.partner_a, "ScheduleSession", data, "rule_violation", "already scheduled")


async def test_co_facilitators_are_learnt_from_registry_events(
    registry: ServiceHost, sessions: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    cp = unique("cp")
    reply = await client.send(s.partner_a, "RegisterCoProducer", {"programme_id": s.programme_id, "co_producer_id": cp,
                                                                 "role": "peer facilitator", "hourly_rate_pence": 1500,
                                                                 "receives_benefits": False})
    assert reply["status"] == "accepted"
    await scheduled(client, s, co_facilitators=[cp])


async def test_attendance_rules(registry: ServiceHost, sessions: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client)
    ok = await enrol(client, s, s.partner_a)
    data = await scheduled(client, s)
    elsewhere = await enrol(client, s, s.partner_b)
    await rejected(client, s.partner_a, "RecordSessionDelivered", delivered(data, [ok, elsewhere]), "rule_violation",
                   "not enrolled with", elsewhere)
    no_consent = await enrol(client, s, s.partner_a, consent_given=False)
    await rejected(client, s.partner_a, "RecordSessionDelivered", delivered(data, [ok, no_consent]), "rule_violation",
                   "without consent", no_consent)
    withdrew = await enrol(client, s, s.partner_a)
    assert (await client.send(s.partner_a, "WithdrawConsent", {"programme_id": s.programme_id, "participant_id": withdrew,
                                                               "on": "2026-01-10"}))["status"] == "accepted"
    # The withdrawal was acknowledged a moment ago; the very next command already sees it.
    await rejected(client, s.partner_a, "RecordSessionDelivered", delivered(data, [withdrew]), "rule_violation",
                   "without consent")
    left = await enrol(client, s, s.partner_a)
    assert (await client.send(s.partner_a, "WithdrawParticipant", {"programme_id": s.programme_id, "participant_id": left,
                                                                   "on": "2026-01-10",
                                                                   "reason": "moved"}))["status"] == "accepted"
    await rejected(client, s.partner_a, "RecordSessionDelivered", delivered(data, [left]), "rule_violation", "withdrawn")
    crowd = [ok] + [await enrol(client, s, s.partner_a) for _ in range(3)]
    await rejected(client, s.partner_a, "RecordSessionDelivered", delivered(data, crowd), "rule_violation", "capacity of 3")
    await rejected(client, s.partner_a, "RecordSessionDelivered", delivered(data, [ok, ok]), "invalid", "only once")
    await rejected(client, s.partner_a, "RecordSessionDelivered", delivered(session(s), [ok]), "not_found",
                   "no scheduled session")
    assert (await send(client, s.partner_a, "RecordSessionDelivered", delivered(data, [ok])))["status"] == "accepted"
    await rejected(client, s.partner_a, "RecordSessionDelivered", delivered(data, [ok]), "rule_violation", "already delivered")
    await rejected(client, s.partner_a, "CancelSession", {"programme_id": s.programme_id, "session_id": data["session_id"],
                                                          "reason": "rain"}, "rule_violation", "already delivered")


async def test_a_cancelled_session_cannot_be_delivered(registry: ServiceHost, sessions: ServiceHost,
                                                       client: CommandClient) -> None:
    s = await setup_programme(client)
    ok = await enrol(client, s, s.partner_a)
    data = await scheduled(client, s)
    cancel = {"programme_id": s.programme_id, "session_id": data["session_id"], "reason": "Ward closed for infection control"}
    assert (await send(client, s.partner_a, "CancelSession", cancel))["status"] == "accepted"
    await rejected(client, s.partner_a, "RecordSessionDelivered", delivered(data, [ok]), "rule_violation", "was cancelled")
    await rejected(client, s.partner_a, "CancelSession", cancel, "rule_violation", "was cancelled")


async def test_showcase_rules(registry: ServiceHost, sessions: ServiceHost, client: CommandClient) -> None:
    s = await setup_programme(client)
    ok = await enrol(client, s, s.partner_a)
    elsewhere = await enrol(client, s, s.partner_b)
    show = {"programme_id": s.programme_id, "showcase_id": unique("show"), "title": "Podcast launch night",
            "held_on": "2026-06-20", "venue": "Community hall", "activities": ["podcasting"], "featured_participants": [ok],
            "audience": 40}
    await rejected(client, s.partner_a, "HoldShowcase", show | {"featured_participants": [ok, elsewhere]}, "rule_violation",
                   "not enrolled with")
    await rejected(client, s.evaluator, "HoldShowcase", show, "forbidden")
    await rejected(client, s.partner_a, "HoldShowcase", show | {"held_on": "2030-01-01"}, "rule_violation", "outside")
    # Consent to taking part is not consent to be shown: a showcase needs its own purpose.
    await rejected(client, s.partner_a, "HoldShowcase", show, "rule_violation",
                   "consent to photographs and showcases", f"without consent to photographs and showcases on record: {ok}")
    photographs = {"programme_id": s.programme_id, "participant_id": ok, "on": "2026-06-01",
                   "purposes": ["photographs_and_showcases"], "information_version": "Showcases v1 (easy read)"}
    assert (await client.send(s.partner_a, "RecordConsent", photographs))["status"] == "accepted"
    assert (await send(client, s.partner_a, "HoldShowcase", show))["status"] == "accepted"
    await rejected(client, s.partner_a, "HoldShowcase", show, "rule_violation", "already recorded")


async def test_the_delivery_day_is_not_before_the_scheduled_day_nor_in_the_future(
    registry: ServiceHost, sessions: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    ok = await enrol(client, s, s.partner_a)
    data = await scheduled(client, s)
    await rejected(client, s.partner_a, "RecordSessionDelivered", delivered(data, [ok]) | {"delivered_on": "2026-02-02"},
                   "rule_violation", "on or after the scheduled day")
    await rejected(client, s.partner_a, "RecordSessionDelivered", delivered(data, [ok]) | {"delivered_on": "2099-01-01"},
                   "rule_violation", "not in the future")


async def test_a_retry_gets_its_first_answer_even_after_the_facts_it_consulted_changed(
    registry: ServiceHost, sessions: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    ok = await enrol(client, s, s.partner_a)
    data = await scheduled(client, s)
    first = await send(client, s.partner_a, "RecordSessionDelivered", delivered(data, [ok]), key="deliver-once")
    assert first["status"] == "accepted"
    assert (await client.send(s.partner_a, "WithdrawConsent", {"programme_id": s.programme_id, "participant_id": ok,
                                                               "on": "2026-02-10"}))["status"] == "accepted"
    again = await send(client, s.partner_a, "RecordSessionDelivered", delivered(data, [ok]), key="deliver-once")
    assert again == first
