"""Data-sharing agreements (issue 18) over real NATS: once a programme has one, the
commissioner and the evaluator read a partner's people's records (outcomes, the person-level
tables, identities, the subject access export) only while an agreement of that partner with
them covering that kind is in force, on top of the person's consent; a partner always reads
its own; a programme with none shares as before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pathways.policy.agreements import today as uk_today
from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, setup_programme, signed_in, unique
from tests.test_consent import accepted, measured, outcomes_seen, people_in_table


def agreement(s: ProgrammeSetup, provider: str, recipient: str, *data: str, **more: Any) -> dict[str, Any]:
    return {"programme_id": s.programme_id, "agreement_id": unique("dsa"), "provider_id": provider,
            "recipient_id": recipient, "data": list(data), "starts_on": "2025-10-01", "ends_on": "2099-12-31",
            "reference": "DSA-2025-07 (made up)"} | more


async def identity_status(registry: ServiceHost, s: ProgrammeSetup, person: str) -> int:
    await registry.caught_up()
    async with await signed_in(registry, s.commissioner, "commissioner") as http:
        return (await http.get(f"/programmes/{s.programme_id}/participants/{person}/identity")).status_code


async def test_reads_of_a_partners_people_honour_the_programmes_agreements(
    registry: ServiceHost, evaluation: ServiceHost, reporting: ServiceHost, client: CommandClient,
) -> None:
    s = await setup_programme(client)
    a_person, b_person = unique("pt"), unique("pt")
    for partner, person in ((s.partner_a, a_person), (s.partner_b, b_person)):
        await accepted(client, partner, "EnrolParticipant", enrolment(s.programme_id, person) | {
            "personal": {"name": "Ottoline Brackenbury"}})  # made up
        await accepted(client, partner, "RecordOutcome", measured(s, person), "evaluation")
    everyone = {a_person, b_person}

    # No agreement yet: the programme shares as its contracts always did.
    assert await outcomes_seen(evaluation, s, s.evaluator, "evaluator") == everyone
    assert await outcomes_seen(evaluation, s, s.commissioner, "commissioner") == everyone
    assert await identity_status(registry, s, a_person) == 200

    # The first agreement governs the programme: partner A shares outcomes with the evaluator.
    to_evaluator = agreement(s, s.partner_a, s.evaluator, "outcomes")
    await accepted(client, s.commissioner, "RecordDataSharingAgreement", to_evaluator)
    assert await outcomes_seen(evaluation, s, s.evaluator, "evaluator") == {a_person}
    assert await people_in_table(reporting, s, "outcomes", s.evaluator, "evaluator") == {a_person}
    assert await people_in_table(reporting, s, "participants", s.evaluator, "evaluator") == set()  # outcomes only
    assert await outcomes_seen(evaluation, s, s.commissioner, "commissioner") == set()
    assert await identity_status(registry, s, a_person) == 404
    for partner, person in ((s.partner_a, a_person), (s.partner_b, b_person)):  # a partner always reads its own
        assert await outcomes_seen(evaluation, s, partner, "partner") == {person}

    # Partner B shares its people, their identities and outcomes with the commissioner.
    await accepted(client, s.commissioner, "RecordDataSharingAgreement",
                   agreement(s, s.partner_b, s.commissioner, "participants", "identities", "outcomes"))
    assert await outcomes_seen(evaluation, s, s.commissioner, "commissioner") == {b_person}
    assert await people_in_table(reporting, s, "participants", s.commissioner, "commissioner") == {b_person}
    assert (await identity_status(registry, s, b_person), await identity_status(registry, s, a_person)) == (200, 404)
    async with await signed_in(registry, s.commissioner, "commissioner") as http:
        exported = await http.get(f"/programmes/{s.programme_id}/participants/{b_person}/export")
        assert exported.status_code == 200 and exported.json()["enrolled_with"] == [s.partner_b]
        assert (await http.get(f"/programmes/{s.programme_id}/participants/{a_person}/export")).status_code == 404

    # Ended early today, A's agreement is over: it was in force until yesterday.
    today = uk_today()  # the day agreements are read on (the UK's)
    await accepted(client, s.commissioner, "EndDataSharingAgreement", {
        "programme_id": s.programme_id, "agreement_id": to_evaluator["agreement_id"], "on": today.isoformat()})
    assert await outcomes_seen(evaluation, s, s.evaluator, "evaluator") == set()
    # One that starts tomorrow is not in force yet.
    await accepted(client, s.commissioner, "RecordDataSharingAgreement", agreement(
        s, s.partner_a, s.evaluator, "outcomes", starts_on=(today + timedelta(days=1)).isoformat()))
    assert await outcomes_seen(evaluation, s, s.evaluator, "evaluator") == set()
    # Consent still counts under an agreement: B's person stops sharing with the commissioner.
    await accepted(client, s.partner_b, "WithdrawConsent", {"programme_id": s.programme_id, "participant_id": b_person,
                                                            "on": "2026-01-04", "purposes": ["sharing_with_commissioner"]})
    assert await outcomes_seen(evaluation, s, s.commissioner, "commissioner") == set()


async def test_only_the_commissioner_records_an_agreement_and_only_between_those_it_can_be(
    registry: ServiceHost, client: CommandClient,
) -> None:
    s = await setup_programme(client)

    async def code(org: str, command: str, data: dict[str, Any]) -> str:
        reply = await client.send(org, command, data)
        return "accepted" if reply["status"] == "accepted" else str(reply["code"])

    good = agreement(s, s.partner_a, s.evaluator, "outcomes")
    assert await code(s.partner_a, "RecordDataSharingAgreement", good) == "forbidden"
    assert await code(s.commissioner, "RecordDataSharingAgreement", agreement(s, unique("p"), s.evaluator, "outcomes")) \
        == "rule_violation"  # not a commissioned partner
    assert await code(s.commissioner, "RecordDataSharingAgreement", agreement(s, s.partner_a, s.partner_b, "outcomes")) \
        == "rule_violation"  # a partner is not a recipient
    assert await code(s.commissioner, "RecordDataSharingAgreement", agreement(s, s.partner_a, s.partner_a, "outcomes")) \
        == "invalid"
    assert await code(s.commissioner, "RecordDataSharingAgreement", good | {"data": ["outcomes", "outcomes"]}) == "invalid"
    assert await code(s.commissioner, "RecordDataSharingAgreement", good | {"ends_on": "2025-01-01"}) == "invalid"
    assert await code(s.commissioner, "RecordDataSharingAgreement", good) == "accepted"
    assert await code(s.commissioner, "RecordDataSharingAgreement", good | {"provider_id": s.partner_b}) == "rule_violation"
    ending = {"programme_id": s.programme_id, "agreement_id": good["agreement_id"], "on": "2026-01-01"}
    assert await code(s.commissioner, "EndDataSharingAgreement", ending | {"on": "2100-01-01"}) == "rule_violation"
    assert await code(s.commissioner, "EndDataSharingAgreement", ending) == "accepted"
    assert await code(s.commissioner, "EndDataSharingAgreement", ending) == "rule_violation"
    assert await code(s.commissioner, "EndDataSharingAgreement", ending | {"agreement_id": "dsa-none"}) == "not_found"


async def test_each_kind_of_record_reaches_the_commissioner_only_as_agreed(
    registry: ServiceHost, sessions: ServiceHost, evaluation: ServiceHost, reporting: ServiceHost, client: CommandClient,
) -> None:
    """An agreement covering the people alone: the commissioner sees who they are enrolled with
    and when, never their attendance or outcomes, nor another partner's declined referral."""
    s = await setup_programme(client)
    person, b_person = unique("pt"), unique("pt")
    await accepted(client, s.partner_a, "EnrolParticipant", enrolment(s.programme_id, person) | {
        "personal": {"name": "Wilhelmina Cotterell"}})  # made up
    await accepted(client, s.partner_b, "EnrolParticipant", enrolment(s.programme_id, b_person) | {
        "personal": {"name": "Barnaby Fettiplace"}})  # made up
    referral = {"programme_id": s.programme_id, "referral_id": unique("r"), "participant_id": person}
    await accepted(client, s.partner_b, "ReferParticipant", referral | {"referrer": "clinical_team",
                                                                       "referred_on": "2025-10-20"})
    await accepted(client, s.partner_b, "DeclineReferral", referral | {"on": "2025-10-22", "reason": "no_capacity"})
    session = unique("session")
    await accepted(client, s.partner_a, "ScheduleSession", {
        "programme_id": s.programme_id, "session_id": session, "activity": "soft archery", "site": "Ward 3",
        "starts_at": "2025-11-10T10:00:00Z", "duration_minutes": 60, "capacity": 8}, "sessions")
    await accepted(client, s.partner_a, "RecordSessionDelivered", {
        "programme_id": s.programme_id, "session_id": session, "attendees": [person], "duration_minutes": 60}, "sessions")
    await accepted(client, s.partner_a, "RecordOutcome", measured(s, person), "evaluation")
    await accepted(client, s.commissioner, "RecordDataSharingAgreement",
                   agreement(s, s.partner_a, s.commissioner, "participants"))

    await registry.caught_up()
    async with await signed_in(registry, s.commissioner, "commissioner") as http:
        exported = (await http.get(f"/programmes/{s.programme_id}/participants/{person}/export")).json()
        due = (await http.get(f"/programmes/{s.programme_id}/retention")).json()
    assert [e["type"].rsplit(".", 1)[1] for e in exported["events"]] == ["ParticipantEnrolled"]
    assert exported["enrolled_with"] == [s.partner_a] and exported["personal_details"] == []  # no identities agreed
    assert ([r["participant_id"] for r in due["to_erase"]], due["not_shown"]) == ([person], 1)  # B shares no one

    assert await outcomes_seen(evaluation, s, s.commissioner, "commissioner") == set()
    await reporting.caught_up()
    async with await signed_in(reporting, s.commissioner, "commissioner") as http:
        table = (await http.get(f"/programmes/{s.programme_id}/tables/participants")).json()
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]
    assert [(r["participant_id"], r["sessions_attended"], r["attendance_rate"]) for r in rows] == [(person, None, None)]
    async with await signed_in(reporting, s.partner_a, "partner") as http:  # the partner sees its own attendance
        own = (await http.get(f"/programmes/{s.programme_id}/tables/participants")).json()
    assert own["rows"][0][own["columns"].index("sessions_attended")] == 1
