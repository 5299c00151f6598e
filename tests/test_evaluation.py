"""Evaluation rules over real NATS: each rule broken once, with the code and message the
sender sees; scores computed by the platform and stored in the event; the read API built
from the events; the service's directory learnt from registry events only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from nats.aio.client import Client
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, setup_programme, unique

NO_TOKENISM = {
    "not_involved_until_the_end": False,
    "solution_already_decided": False,
    "suggestions_rejected_as_not_fitting": False,
    "not_reflected_in_final_service": False,
    "consulted_and_never_heard_of_again": False,
    "no_expenses_or_fee": False,
    "too_little_notice_or_impossible_times": False,
    "inaccessible_venue": False,
    "key_stakeholders_absent": False,
    "comments_not_documented": False,
}


async def send(
    client: CommandClient, org: str, command: str, data: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    return await client.send(org, command, data, context="evaluation", **kw)


async def accepted(client: CommandClient, org: str, command: str, data: dict[str, Any]) -> None:
    reply = await send(client, org, command, data)
    assert reply["status"] == "accepted", reply


async def rejected(
    client: CommandClient, org: str, command: str, data: dict[str, Any], code: str, *words: str
) -> dict[str, Any]:
    reply = await send(client, org, command, data)
    assert reply["status"] == "rejected" and reply["code"] == code, reply
    assert reply["message"][0].isupper(), reply["message"]
    for word in words:
        assert word in reply["message"], (word, reply["message"])
    return reply


async def enrol(client: CommandClient, s: ProgrammeSetup, partner: str, **overrides: Any) -> str:
    participant = unique("p")
    data = enrolment(s.programme_id, participant, **overrides)
    reply = await client.send(partner, "EnrolParticipant", data)
    assert reply["status"] == "accepted", reply
    return participant


def outcome(s: ProgrammeSetup, participant: str, **overrides: Any) -> dict[str, Any]:
    return {
        "programme_id": s.programme_id,
        "participant_id": participant,
        "measurement_id": unique("m"),
        "instrument": "SWEMWBS",
        "timepoint": "baseline",
        "measured_on": "2025-11-10",
        "answers": [3, 4, 2, 5, 3, 4, 3],
    } | overrides


async def history(nc: Client, s: ProgrammeSetup, org: str, aggregate_id: str) -> list[Any]:
    subject = f"pathways.evt.{s.programme_id}.{org}.evaluation.{aggregate_id}"
    return await JetStreamEventStore(nc).read_subject(subject)


async def read_api(
    host: ServiceHost, path: str, ready: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """GET `path`, signed in as an evaluator, until the projection has caught up enough for `ready`."""
    await host.caught_up()
    assert host.tokens is not None
    token = await host.tokens.issue(unique("evaluator"), "evaluator")
    transport = httpx.ASGITransport(app=host.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://evaluation",
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        for _ in range(100):
            response = await http.get(path)
            assert response.status_code == 200, response.text
            rows: list[dict[str, Any]] = response.json()
            if ready(rows):
                return rows
            await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never became ready: {rows}")


async def test_baseline_then_follow_up_stores_platform_scores_and_serves_them(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    person = await enrol(client, s, s.partner_a)
    baseline = outcome(s, person)
    await accepted(client, s.partner_a, "RecordOutcome", baseline)
    follow_up = outcome(
        s, person, timepoint="follow_up", measured_on="2026-03-02", answers=[4, 4, 4, 4, 4, 4, 4]
    )
    await accepted(client, s.partner_a, "RecordOutcome", follow_up)
    wemwbs = [4, 3, 5, 2, 4, 4, 3, 5, 1, 4, 3, 2, 5, 4]  # 49 by hand
    await accepted(client, s.partner_a, "RecordOutcome", outcome(s, person, instrument="WEMWBS",
                                                                 answers=wemwbs))

    stored = await history(nats_client, s, s.partner_a, person)
    data = [h.event.data for h in stored]
    assert [h.event.type for h in stored] == ["pathways.evaluation.OutcomeMeasured"] * 3
    assert (data[0]["timepoint"], data[0]["raw_score"], data[0]["metric_score"]) == (
        "baseline", 24, "21.54"
    )
    assert (data[1]["timepoint"], data[1]["raw_score"], data[1]["metric_score"]) == (
        "follow_up", 28, "25.03"
    )
    assert (data[2]["raw_score"], data[2]["metric_score"]) == (49, "49.00")
    assert data[0]["partner_id"] == s.partner_a and stored[0].event.organisation == s.partner_a

    path = f"/programmes/{s.programme_id}/outcomes"
    rows = await read_api(evaluation, path, lambda rows: len(rows) == 3)
    by_measurement = {r["measurement_id"]: r for r in rows}
    assert by_measurement[follow_up["measurement_id"]]["metric_score"] == "25.03"
    assert by_measurement[baseline["measurement_id"]]["participant_id"] == person
    assert "answers" not in rows[0]
    only_wemwbs = await read_api(evaluation, path + "?instrument=WEMWBS", lambda rows: True)
    assert [r["raw_score"] for r in only_wemwbs] == [49]


async def test_a_score_sent_by_the_caller_is_invalid_and_nothing_is_recorded(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    person = await enrol(client, s, s.partner_a)
    await rejected(client, s.partner_a, "RecordOutcome", outcome(s, person, raw_score=35),
                   "invalid", "computed by the platform", "raw_score")
    await rejected(client, s.partner_a, "RecordOutcome",
                   outcome(s, person, metric_score="35.00"), "invalid", "metric_score")
    assert await history(nats_client, s, s.partner_a, person) == []


async def test_a_follow_up_before_any_baseline_is_refused(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    person = await enrol(client, s, s.partner_a)
    await rejected(client, s.partner_a, "RecordOutcome", outcome(s, person, timepoint="follow_up"),
                   "rule_violation", "after a baseline", "Record the baseline first")
    assert await history(nats_client, s, s.partner_a, person) == []


async def test_outcome_rules(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    person = await enrol(client, s, s.partner_a)
    await rejected(client, s.evaluator, "RecordOutcome", outcome(s, person), "not_found",
                   "no programme")  # not commissioned for it: as a stranger is told (tests/test_strangers.py)
    await rejected(client, s.commissioner, "RecordOutcome", outcome(s, person), "forbidden", "not commissioned")
    elsewhere = await enrol(client, s, s.partner_b)
    await rejected(client, s.partner_a, "RecordOutcome", outcome(s, elsewhere), "rule_violation",
                   "not enrolled with", elsewhere)
    no_consent = await enrol(client, s, s.partner_a, consent_given=False)
    await rejected(client, s.partner_a, "RecordOutcome", outcome(s, no_consent), "rule_violation",
                   "without consent")
    left = await enrol(client, s, s.partner_a)
    withdrawal = {"programme_id": s.programme_id, "participant_id": left, "on": "2026-01-10",
                  "reason": "moved"}
    reply = await client.send(s.partner_a, "WithdrawParticipant", withdrawal)
    assert reply["status"] == "accepted", reply
    await rejected(client, s.partner_a, "RecordOutcome", outcome(s, left), "rule_violation",
                   "withdrawn")
    await rejected(client, s.partner_a, "RecordOutcome", outcome(s, person, answers=[3] * 14),
                   "invalid", "needs 7 answers")
    await rejected(client, s.partner_a, "RecordOutcome",
                   outcome(s, person, answers=[3, 3, 3, 3, 3, 3, 6]), "invalid", "answers")

    baseline = outcome(s, person)
    await accepted(client, s.partner_a, "RecordOutcome", baseline)
    # The same questionnaire sent again under a new idempotency key is not a retry.
    await rejected(client, s.partner_a, "RecordOutcome", baseline | {"timepoint": "follow_up"},
                   "rule_violation", f"Measurement '{baseline['measurement_id']}' is already")
    await rejected(client, s.partner_a, "RecordOutcome", outcome(s, person), "rule_violation",
                   "already has a SWEMWBS baseline")
    await rejected(client, s.partner_a, "RecordOutcome",
                   outcome(s, person, timepoint="follow_up", measured_on="2025-11-09"),
                   "rule_violation", "before the SWEMWBS baseline")
    await rejected(client, s.partner_a, "RecordOutcome",
                   outcome(s, person, timepoint="follow_up", instrument="WEMWBS",
                           answers=[3] * 14), "rule_violation", "no WEMWBS baseline")


async def test_a_retried_outcome_gets_the_same_answer_and_records_once(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    person = await enrol(client, s, s.partner_a)
    data = outcome(s, person)
    first = await send(client, s.partner_a, "RecordOutcome", data, key="same-key")
    again = await send(client, s.partner_a, "RecordOutcome", data, key="same-key")
    assert first["status"] == "accepted" and again == first
    assert len(await history(nats_client, s, s.partner_a, person)) == 1


def feedback(s: ProgrammeSetup, **overrides: Any) -> dict[str, Any]:
    return {
        "programme_id": s.programme_id, "feedback_id": unique("f"), "respondent": "participant",
        "activity": "soft archery", "rating": 5, "comment": "I liked hitting the target.",
    } | overrides


async def test_feedback_rules(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    first = feedback(s)
    await accepted(client, s.partner_a, "SubmitFeedback", first)
    await accepted(client, s.commissioner, "SubmitFeedback", feedback(s, respondent="staff"))
    await rejected(client, s.evaluator, "SubmitFeedback", feedback(s), "not_found", "no programme")
    await rejected(client, s.partner_a, "SubmitFeedback", first, "rule_violation",
                   "already recorded")
    await rejected(client, s.partner_a, "SubmitFeedback", feedback(s, rating=6), "invalid",
                   "rating")
    await rejected(client, s.partner_a, "SubmitFeedback", feedback(s, comment="x" * 2001),
                   "invalid", "comment")
    rows = await read_api(evaluation, f"/programmes/{s.programme_id}/feedback",
                          lambda rows: len(rows) == 2)
    assert sorted(r["partner_id"] for r in rows) == sorted([s.partner_a, s.commissioner])


def assessment(s: ProgrammeSetup, **overrides: Any) -> dict[str, Any]:
    return {
        "programme_id": s.programme_id, "assessment_id": unique("a"), "partner_id": s.partner_a,
        "assessed_on": "2026-02-10", "level": 2, "ladder_rung": "co_design",
        "tokenism": NO_TOKENISM | {"no_expenses_or_fee": True, "comments_not_documented": True},
        "evidence": "Co-producers chose the activities; their expenses were not yet paid.",
    } | overrides


async def test_co_production_assessment_rules_and_api(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    await rejected(client, s.partner_a, "AssessCoProduction", assessment(s), "forbidden",
                   "evaluator or the commissioner")
    await rejected(client, s.evaluator, "AssessCoProduction",
                   assessment(s, programme_id=unique("nowhere")), "not_found", "no programme")
    await rejected(client, s.evaluator, "AssessCoProduction",
                   assessment(s, partner_id=s.evaluator), "rule_violation", "holds no contract")
    partial = dict(NO_TOKENISM)
    del partial["key_stakeholders_absent"]
    await rejected(client, s.evaluator, "AssessCoProduction", assessment(s, tokenism=partial),
                   "invalid", "key_stakeholders_absent")
    await rejected(client, s.evaluator, "AssessCoProduction", assessment(s, ladder_rung="tea"),
                   "invalid", "ladder_rung")
    await rejected(client, s.evaluator, "AssessCoProduction", assessment(s, level=4),
                   "invalid", "level")

    first = assessment(s)
    await accepted(client, s.evaluator, "AssessCoProduction", first)
    await accepted(client, s.commissioner, "AssessCoProduction",
                   assessment(s, partner_id=s.partner_b, level=3, ladder_rung="co_production",
                              tokenism=NO_TOKENISM))
    # An assessment id is cited programme-wide: another assessor cannot reuse it.
    await rejected(client, s.commissioner, "AssessCoProduction", first, "rule_violation",
                   "already recorded", s.evaluator)

    rows = await read_api(evaluation, f"/programmes/{s.programme_id}/co-production",
                          lambda rows: len(rows) == 2)
    mine = next(r for r in rows if r["assessment_id"] == first["assessment_id"])
    assert (mine["level_name"], mine["tokenism_flags"], mine["assessor_id"]) == (
        "identifying and building skills", 2, s.evaluator
    )
    assert mine["tokenism_seen"] == ["no_expenses_or_fee", "comments_not_documented"]
    other = next(r for r in rows if r["partner_id"] == s.partner_b)
    assert (other["level_name"], other["tokenism_flags"]) == ("working in partnership", 0)


async def test_you_said_we_did_tracker(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    item = {"programme_id": s.programme_id, "development_id": unique("d"),
            "you_said": "Sessions clash with ward rounds.", "raised_by": "participants",
            "we_will": "Move sessions to the afternoon."}
    await rejected(client, s.evaluator, "ProposeDevelopment", item, "not_found")
    await accepted(client, s.partner_a, "ProposeDevelopment", item)
    await rejected(client, s.partner_a, "ProposeDevelopment", item, "rule_violation",
                   "already on the tracker")
    status = {"programme_id": s.programme_id, "development_id": item["development_id"]}
    await rejected(client, s.partner_b, "SetDevelopmentStatus", status | {"status": "amber"},
                   "not_found", "Only the organisation that proposed it")
    await rejected(client, s.partner_a, "SetDevelopmentStatus",
                   status | {"development_id": unique("d"), "status": "amber"}, "not_found",
                   "no development")
    await rejected(client, s.partner_a, "SetDevelopmentStatus", status | {"status": "red"},
                   "rule_violation", "already red")
    await rejected(client, s.partner_a, "SetDevelopmentStatus", status | {"status": "green"},
                   "rule_violation", "'we did'")
    await rejected(client, s.partner_a, "SetDevelopmentStatus", status | {"status": "blue"},
                   "invalid", "status")
    await accepted(client, s.partner_a, "SetDevelopmentStatus", status | {"status": "amber"})
    await accepted(client, s.partner_a, "SetDevelopmentStatus",
                   status | {"status": "green", "we_did": "Sessions now start at 2pm."})
    await accepted(client, s.commissioner, "ProposeDevelopment",
                   item | {"development_id": unique("d"), "raised_by": "carers"})

    rows = await read_api(evaluation, f"/programmes/{s.programme_id}/developments",
                          lambda rows: len(rows) == 2 and any(r["status"] == "green" for r in rows))
    green = next(r for r in rows if r["development_id"] == item["development_id"])
    assert (green["status"], green["we_did"], green["proposed_by"]) == (
        "green", "Sessions now start at 2pm.", s.partner_a
    )
    reds = await read_api(evaluation, f"/programmes/{s.programme_id}/developments?status=red",
                          lambda rows: True)
    assert [r["proposed_by"] for r in reds] == [s.commissioner]


def report(s: ProgrammeSetup, **overrides: Any) -> dict[str, Any]:
    return {
        "programme_id": s.programme_id, "report_id": unique("r"), "title": "Interim evaluation",
        "period_start": "2025-10-01", "period_end": "2026-03-31",
        "summary": "Wellbeing rose between baseline and follow-up.",
        "findings": ["Mean SWEMWBS rose by 2.1 points (indicative: fewer than 30 pairs)."],
        "document_sha256": "AB" * 32,
    } | overrides


async def test_evaluation_report_rules_and_api(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    await rejected(client, s.partner_a, "PublishEvaluationReport", report(s), "forbidden",
                   "evaluator or the commissioner")
    await rejected(client, s.evaluator, "PublishEvaluationReport",
                   report(s, programme_id=unique("nowhere")), "not_found", "no programme")
    await rejected(client, s.evaluator, "PublishEvaluationReport",
                   report(s, period_end="2026-10-31"), "rule_violation",
                   "within the programme's dates", "2026-09-30")
    await rejected(client, s.evaluator, "PublishEvaluationReport",
                   report(s, period_start="2026-04-01", period_end="2026-03-01"), "rule_violation",
                   "after it ends")
    await rejected(client, s.evaluator, "PublishEvaluationReport", report(s, findings=[]),
                   "invalid", "findings")
    await rejected(client, s.evaluator, "PublishEvaluationReport",
                   report(s, document_sha256="not-a-digest"), "invalid", "document_sha256")
    first = report(s)
    await accepted(client, s.evaluator, "PublishEvaluationReport", first)
    await rejected(client, s.commissioner, "PublishEvaluationReport", first, "rule_violation",
                   "already published")
    await accepted(client, s.commissioner, "PublishEvaluationReport",
                   report(s, title="Final report", period_end="2026-09-30"))

    rows = await read_api(evaluation, f"/programmes/{s.programme_id}/reports",
                          lambda rows: len(rows) == 2)
    assert [(r["title"], r["published_by"]) for r in rows] == [
        ("Interim evaluation", s.evaluator), ("Final report", s.commissioner)
    ]
    assert rows[0]["document_sha256"] == "ab" * 32 and rows[0]["findings"] == first["findings"]


async def test_a_report_id_shared_with_a_partners_feedback_neither_blocks_nor_changes_a_retry(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    shared_id = unique("r")
    published = report(s, report_id=shared_id)
    first = await send(client, s.evaluator, "PublishEvaluationReport", published, key="publish-once")
    assert first["status"] == "accepted", first
    # A partner happens to use the same id for a piece of feedback: a different aggregate.
    await accepted(client, s.partner_a, "SubmitFeedback", feedback(s, feedback_id=shared_id))
    again = await send(client, s.evaluator, "PublishEvaluationReport", published, key="publish-once")
    assert again == first
    await rejected(client, s.commissioner, "PublishEvaluationReport", published, "rule_violation")
