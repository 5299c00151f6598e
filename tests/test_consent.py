"""Consent by purpose over real NATS (pathways.policy.consent): each use checks its own
purpose, withdrawal is per purpose, and consents stored before purposes existed (schema
v1, one flag) are upcast on read by every reader: the registry's rules, its roster, and
the directory each other service keeps from the registry's events as plain JSON."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from nats.aio.client import Client
from pathways.core.eventstore.base import AppendRequest, NewEvent
from pathways.core.schemas import schema_uri
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, setup_programme, unique


async def accepted(client: CommandClient, org: str, command: str, data: dict[str, Any], context: str = "registry") -> None:
    reply = await client.send(org, command, data, context=context)
    assert reply["status"] == "accepted", reply


async def refused(client: CommandClient, org: str, command: str, data: dict[str, Any], *words: str,
                  context: str = "registry") -> None:
    reply = await client.send(org, command, data, context=context)
    assert reply["status"] == "rejected" and reply["code"] == "rule_violation", reply
    for word in words:
        assert word in reply["message"], (word, reply["message"])


async def read_as(host: ServiceHost, organisation: str, role: str, path: str) -> Any:
    """GET `path` from `host`, signed in as `organisation` in `role`, once the service has
    caught up with everything stored so far."""
    await host.caught_up()
    assert host.tokens is not None
    token = await host.tokens.issue(organisation, role)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host.http_app()), base_url="http://service",
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        response = await http.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def outcomes_seen(host: ServiceHost, s: ProgrammeSetup, organisation: str, role: str) -> set[str]:
    """The participants whose outcomes `organisation` sees from the evaluation service."""
    return {row["participant_id"] for row in await read_as(host, organisation, role, f"/programmes/{s.programme_id}/outcomes")}


async def people_in_table(host: ServiceHost, s: ProgrammeSetup, table: str, organisation: str, role: str) -> set[str]:
    """The participants in one of the reporting service's tables, as `organisation` reads it."""
    body = await read_as(host, organisation, role, f"/programmes/{s.programme_id}/tables/{table}")
    column = body["columns"].index("participant_id")
    return {row[column] for row in body["rows"]}


def measured(s: ProgrammeSetup, participant: str) -> dict[str, Any]:
    return {"programme_id": s.programme_id, "participant_id": participant, "measurement_id": unique("m"),
            "instrument": "SWEMWBS", "timepoint": "baseline", "measured_on": "2025-11-10",
            "answers": [3, 4, 2, 5, 3, 4, 3]}


def consent(s: ProgrammeSetup, participant: str, *purposes: str, **more: Any) -> dict[str, Any]:
    return {"programme_id": s.programme_id, "participant_id": participant, "on": "2025-11-04"} | (
        {"purposes": list(purposes)} if purposes else {}) | more


async def test_an_evaluator_sees_the_outcomes_only_of_people_who_consent_to_evaluation(
    registry: ServiceHost, evaluation: ServiceHost, reporting: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    only_taking_part, everything = unique("p"), unique("p")
    await accepted(client, s.partner_a, "EnrolParticipant", enrolment(s.programme_id, only_taking_part, consent_given=False))
    await accepted(client, s.partner_a, "RecordConsent", consent(s, only_taking_part, "taking_part",
                                                                 information_version="PIS v3 (easy read)",
                                                                 capacity_note="Assessed by the ward team: has capacity",
                                                                 review_on="2026-05-04"))
    await accepted(client, s.partner_a, "EnrolParticipant", enrolment(s.programme_id, everything))  # the single flag
    for person in (only_taking_part, everything):
        await accepted(client, s.partner_a, "RecordOutcome", measured(s, person), "evaluation")

    assert await outcomes_seen(evaluation, s, s.evaluator, "evaluator") == {everything}
    assert await outcomes_seen(evaluation, s, s.commissioner, "commissioner") == {everything}
    assert await outcomes_seen(evaluation, s, s.partner_a, "partner") == {only_taking_part, everything}  # its own
    # The reporting service's person-level tables (and so their exports) read the same way.
    for table in ("outcomes", "participants"):
        assert await people_in_table(reporting, s, table, s.evaluator, "evaluator") == {everything}, table
        assert await people_in_table(reporting, s, table, s.commissioner, "commissioner") == {everything}, table
        assert await people_in_table(reporting, s, table, s.partner_a, "partner") == {only_taking_part, everything}, table
        # A page of one row counts the rest as the reader may read them: the person who does not
        # consent is not in the total either, over the whole programme or over a period.
        for period in ("", "&from=2025-11-01&to=2025-11-30"):
            page = await read_as(reporting, s.commissioner, "commissioner",
                                 f"/programmes/{s.programme_id}/tables/{table}?limit=1{period}")
            assert (len(page["rows"]), page["total"]) == (1, 1), (table, period)

    await accepted(client, s.partner_a, "RecordConsent", consent(s, only_taking_part, "evaluation"))
    assert await outcomes_seen(evaluation, s, s.evaluator, "evaluator") == {only_taking_part, everything}
    assert await outcomes_seen(evaluation, s, s.commissioner, "commissioner") == {everything}  # not shared with it

    await accepted(client, s.partner_a, "WithdrawConsent", consent(s, everything, "evaluation"))
    assert await outcomes_seen(evaluation, s, s.evaluator, "evaluator") == {only_taking_part}
    assert await people_in_table(reporting, s, "outcomes", s.evaluator, "evaluator") == {only_taking_part}
    assert await outcomes_seen(evaluation, s, s.commissioner, "commissioner") == {everything}  # the other purposes stay
    await refused(client, s.partner_a, "WithdrawConsent", consent(s, everything, "evaluation"),
                  "has not consented to evaluation")
    await refused(client, s.partner_a, "RecordConsent", consent(s, only_taking_part, "taking_part", "evaluation"),
                  "already consented to taking part, evaluation")


async def store_v1(nc: Client, s: ProgrammeSetup, participant: str, name: str, data: dict[str, Any]) -> None:
    """Append a consent event as the platform stored it before consent had purposes: the
    enrolment's own envelope, with schema v1 and v1's data (one flag, no purposes)."""
    store = JetStreamEventStore(nc)
    subject = f"pathways.evt.{s.programme_id}.{s.partner_a}.registry.{participant}"
    history = await store.read_subject(subject)
    v1 = history[0].event.model_copy(update={
        "id": str(uuid.uuid4()), "type": f"pathways.registry.{name}",
        "dataschema": schema_uri("event", "registry", name, 1),
        "data": {"programme_id": s.programme_id, "participant_id": participant, "partner_id": s.partner_a} | data})
    await store.append(AppendRequest([NewEvent.of(subject, v1)], {subject: history[-1].sequence}))


async def roster_consents(registry: ServiceHost, s: ProgrammeSetup, participant: str) -> dict[str, Any]:
    from pathways_registry.readmodel import ENROLMENT
    from sqlalchemy import select

    await registry.caught_up()
    with registry.engine.connect() as conn:
        row = conn.execute(select(ENROLMENT).where(ENROLMENT.c.programme_id == s.programme_id,
                                                   ENROLMENT.c.participant_id == participant)).one()
    return {k: v for k, v in row._mapping.items() if k.startswith("consent")}


async def test_consents_stored_as_one_flag_are_read_as_the_purposes_it_covered(
    registry: ServiceHost, evaluation: ServiceHost, sessions: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    person = unique("p")
    await accepted(client, s.partner_a, "EnrolParticipant", enrolment(s.programme_id, person, consent_given=False))
    await store_v1(nats_client, s, person, "ConsentRecorded", {"recorded_on": "2025-11-04"})

    # The registry's rules fold the v1 event as its v2 (taking part, sharing, evaluation)...
    await refused(client, s.partner_a, "RecordConsent", consent(s, person, "evaluation"), "already consented to evaluation")
    await accepted(client, s.partner_a, "RecordConsent", consent(s, person, "photographs_and_showcases"))
    # ...its roster reads it so...
    assert await roster_consents(registry, s, person) == {
        "consent": True, "consent_sharing_with_commissioner": True, "consent_evaluation": True,
        "consent_photographs_and_showcases": True, "consent_review_on": None}
    # ...and so does the directory the evaluation service keeps from the plain JSON.
    await accepted(client, s.partner_a, "RecordOutcome", measured(s, person), "evaluation")
    assert await outcomes_seen(evaluation, s, s.evaluator, "evaluator") == {person}
    assert await outcomes_seen(evaluation, s, s.commissioner, "commissioner") == {person}

    # A v1 withdrawal withdrew the one consent there was: every purpose.
    await store_v1(nats_client, s, person, "ConsentWithdrawn", {"withdrawn_on": "2025-12-01"})
    assert await outcomes_seen(evaluation, s, s.evaluator, "evaluator") == set()
    assert set((await roster_consents(registry, s, person)).values()) == {False, None}
    await refused(client, s.partner_a, "WithdrawConsent", consent(s, person), "has not consented")
    await refused(client, s.partner_a, "RecordOutcome", measured(s, person), "without consent on record",
                  context="evaluation")
    session = {"programme_id": s.programme_id, "session_id": unique("session"), "activity": "Soft archery",
               "site": "Riverside ward garden", "starts_at": "2026-02-03T14:00:00Z", "duration_minutes": 90, "capacity": 3}
    await accepted(client, s.partner_a, "ScheduleSession", session, "sessions")
    await refused(client, s.partner_a, "RecordSessionDelivered", {
        "programme_id": s.programme_id, "session_id": session["session_id"], "attendees": [person],
        "duration_minutes": 80}, "without consent on record", context="sessions")


async def test_consent_is_withdrawn_per_purpose_even_after_the_person_has_left(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient
) -> None:
    """Leaving the programme is not withdrawing consent, and withdrawing consent must stay
    possible afterwards: their recorded outcomes are read until they say no."""
    s = await setup_programme(client)
    person = unique("p")
    await accepted(client, s.partner_a, "EnrolParticipant", enrolment(s.programme_id, person))
    await accepted(client, s.partner_a, "RecordOutcome", measured(s, person), "evaluation")
    await accepted(client, s.partner_a, "WithdrawParticipant", {"programme_id": s.programme_id, "participant_id": person,
                                                                "on": "2025-12-01", "reason": "moved away"})
    assert await outcomes_seen(evaluation, s, s.evaluator, "evaluator") == {person}
    await refused(client, s.partner_a, "RecordConsent", consent(s, person, "photographs_and_showcases"), "withdrawn")
    await accepted(client, s.partner_a, "WithdrawConsent", consent(s, person, "evaluation"))
    assert await outcomes_seen(evaluation, s, s.evaluator, "evaluator") == set()
    assert await outcomes_seen(evaluation, s, s.commissioner, "commissioner") == {person}
