"""One-time survey links over real NATS and the evaluation service's HTTP: who may ask whom,
an answer counted once (a double click, a second tab, two instances of the service racing),
an expired or guessed link recording nothing, and the link's secret never kept anywhere."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost
from pathways.testing.servers import NatsEndpoint
from pathways_evaluation.app import service as evaluation_service

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, running, setup_programme, signed_in, unique

ANSWERED = "pathways.evaluation.SurveyAnswered"


def page_of(host: ServiceHost) -> httpx.AsyncClient:
    """The answer page as a person's browser reaches it: no token, no cookie."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=host.http_app()), base_url="http://evaluation")


async def issue(host: ServiceHost, org: str, role: str, programme_id: str, **wanted: Any) -> dict[str, Any]:
    await host.caught_up(within=120)  # a fresh service reads the suite's whole stream first
    async with await signed_in(host, org, role) as http:
        answer = await http.post(f"/programmes/{programme_id}/survey-links", params={"organisation": org},
                                 json={"survey_id": "session-feedback", "group": "participant",
                                       "session_id": "session-1"} | wanted)
    assert answer.status_code == 200, answer.text
    issued: dict[str, Any] = answer.json()
    return issued


def path_of(url: str) -> str:
    return "/s/" + url.rsplit("/s/", 1)[1]


async def ready(host: ServiceHost, page: httpx.AsyncClient, path: str) -> httpx.Response:
    """The page once the service's read model knows the link (a moment after it was issued)."""
    await host.caught_up(within=120)
    for _ in range(100):
        shown = await page.get(path)
        if shown.status_code != 404:
            return shown
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never found")


async def events_of(nc: Client, type_: str, link_id: str) -> list[Any]:
    """The link's events of that type: its own subject, whoever issued it (link ids are unique here)."""
    found = await JetStreamEventStore(nc).read_subject(f"pathways.evt.*.*.evaluation.{link_id}")
    return [e for e in found if e.event.type == type_]


async def enrol(client: CommandClient, s: ProgrammeSetup, partner: str, **overrides: Any) -> str:
    person = unique("p")
    reply = await client.send(partner, "EnrolParticipant", enrolment(s.programme_id, person, **overrides))
    assert reply["status"] == "accepted", reply
    return person


async def test_a_link_answered_on_its_page_is_recorded_once_and_then_says_so(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    person = await enrol(client, s, s.partner_a)
    issued = await issue(evaluation, s.partner_a, "partner", s.programme_id, respondent_ids=[person])
    [link] = issued["links"]
    assert link["status"] == "accepted" and link["respondent_id"] == person
    path = path_of(link["url"])
    async with page_of(evaluation) as page:
        shown = await ready(evaluation, page, path)
        assert shown.status_code == 200 and "Tell us about the session" in shown.text
        assert person not in shown.text and s.partner_a not in shown.text  # the page says nothing of whom it is for
        assert "<script" not in shown.text
        assert "<textarea" not in shown.text  # a link for one person takes no words tied to them
        answers = {"q-enjoyed": "5", "q-listened_to": "4", "q-come_again": "1", "comment": "Sent anyway."}
        done = await page.post(path, data=answers)
        assert done.status_code == 200 and "Your answers are saved" in done.text
        again = await page.post(path, data={"q-enjoyed": "1"})  # the back button, a second tab
        assert again.status_code == 200 and "saved" in again.text
        await evaluation.caught_up()
        later = await page.get(path)
        assert later.status_code == 200 and "used already" in later.text and "<form" not in later.text

    [answered] = await events_of(nats_client, ANSWERED, link["link_id"])
    [issued_event] = await events_of(nats_client, "pathways.evaluation.SurveyLinkIssued", link["link_id"])
    assert issued_event.event.data["consent_purpose"] == "taking_part"
    data = answered.event.data
    assert data["answers"] == {"enjoyed": 5, "listened_to": 4, "come_again": 1}  # the first answers, the only ones
    assert (data["participant_id"], data["co_producer_id"], data["partner_id"], data["group"], data["survey_version"]) == (
        person, None, s.partner_a, "participant", 1)
    assert data["comment"] == "" and answered.event.actor == "answer page"

    async with await signed_in(evaluation, s.partner_a, "partner") as http:
        mine = (await http.get(f"/programmes/{s.programme_id}/survey-links")).json()
        results = (await http.get(f"/programmes/{s.programme_id}/surveys/session-feedback/results")).json()
    assert [(m["link_id"], m["answered_at"] is not None) for m in mine] == [(link["link_id"], True)]
    assert "secret_sha256" not in mine[0]
    assert results["groups"]["participant"]["answered"] == 1
    assert results["groups"]["participant"]["questions"]["enjoyed"] == {"answered": 1, "mean": 5.0}
    assert results["groups"]["participant"]["questions"]["come_again"] == {"answered": 1, "share_yes": 1.0}

    # What the person answered is part of everything held on them (subject access), for the partner that asked.
    await registry.caught_up(within=120)  # its read model of enrolments (a fresh one reads the suite's whole stream)
    async with await signed_in(registry, s.partner_a, "partner") as http:
        export = (await http.get(f"/programmes/{s.programme_id}/participants/{person}/export")).json()
    assert "events" in export, export
    surveyed = [e for e in export["events"] if e["type"].startswith("pathways.evaluation.Survey")]
    assert [e["type"].rsplit(".", 1)[1] for e in surveyed] == ["SurveyLinkIssued", "SurveyAnswered"]
    assert surveyed[1]["data"]["answers"] == {"enjoyed": 5, "listened_to": 4, "come_again": 1}


async def test_answers_racing_on_two_instances_record_one(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient, nats_client: Client,
    nats_server: NatsEndpoint, tmp_path: Path,
) -> None:
    s = await setup_programme(client)
    issued = await issue(evaluation, s.partner_a, "partner", s.programme_id, count=3)
    (tmp_path / "second").mkdir()
    async with running(evaluation_service, nats_server, tmp_path / "second") as second:
        for link in issued["links"]:
            path = path_of(link["url"])
            async with page_of(evaluation) as one, page_of(second) as two:
                await ready(evaluation, one, path)
                await ready(second, two, path)
                # Eight submissions at once, half to each instance, each with other answers.
                sent = [(one if i % 2 else two).post(path, data={"q-enjoyed": str(1 + i % 5)}) for i in range(8)]
                replies = await asyncio.gather(*sent)
            assert all(r.status_code == 200 and "saved" in r.text for r in replies), [r.text[-300:] for r in replies]
            assert len(await events_of(nats_client, ANSWERED, link["link_id"])) == 1

    # Sent as the issuer over NATS with other keys: still one answer per link.
    link = issued["links"][0]
    secret = link["url"].rsplit("/s/", 1)[1]
    replies = await asyncio.gather(*(client.send(s.partner_a, "AnswerSurvey", {
        "programme_id": s.programme_id, "link_id": link["link_id"], "secret": secret, "answers": {"enjoyed": 2}},
        context="evaluation") for _ in range(4)))
    assert all(r["status"] == "rejected" and r["code"] == "rule_violation" for r in replies), replies
    assert len(await events_of(nats_client, ANSWERED, link["link_id"])) == 1


def link_command(s: ProgrammeSetup, **overrides: Any) -> dict[str, Any]:
    return {"programme_id": s.programme_id, "link_id": unique("link"), "survey_id": "session-feedback",
            "group": "participant", "session_id": "session-1", "secret": secrets.token_urlsafe(32),
            "expires_at": (datetime.now(UTC) + timedelta(days=7)).isoformat()} | overrides


async def test_a_guessed_a_strangers_or_an_expired_answer_records_nothing(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    # Sent with another offset: expiring is an instant, whatever the zone it was written in.
    east = timezone(timedelta(hours=5))
    await evaluation.caught_up(within=120)
    expires = datetime.now(east) + timedelta(seconds=8)  # long enough for the checks before it, on a busy machine
    soon = link_command(s, expires_at=expires.isoformat())
    reply = await client.send(s.partner_a, "IssueSurveyLink", soon, context="evaluation")
    assert reply["status"] == "accepted", reply

    def answer(**overrides: Any) -> dict[str, Any]:
        return {"programme_id": s.programme_id, "link_id": soon["link_id"], "secret": soon["secret"],
                "answers": {"enjoyed": 3}} | overrides

    missing = await client.send(s.partner_a, "AnswerSurvey", answer(link_id="no-such-link"), context="evaluation")
    guessed = await client.send(s.partner_a, "AnswerSurvey", answer(secret=secrets.token_urlsafe(32)),
                                context="evaluation")
    stranger = await client.send(s.partner_b, "AnswerSurvey", answer(), context="evaluation")
    assert missing["code"] == guessed["code"] == stranger["code"] == "not_found"
    assert missing["message"] == guessed["message"] == stranger["message"]  # a guess learns nothing
    wrong = await client.send(s.partner_a, "AnswerSurvey", answer(answers={"enjoyed": 9}), context="evaluation")
    assert wrong["code"] == "invalid" and "not an answer" in wrong["message"], wrong
    unknown = await client.send(s.partner_a, "AnswerSurvey", answer(answers={"salary": 1}), context="evaluation")
    assert unknown["code"] == "invalid" and "no question 'salary'" in unknown["message"], unknown
    await evaluation.caught_up()
    async with page_of(evaluation) as page:
        assert (await page.get(f"/s/{soon['secret']}")).status_code == 200
        await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
        expired = await client.send(s.partner_a, "AnswerSurvey", answer(), context="evaluation")
        assert expired["code"] == "rule_violation" and "expired" in expired["message"], expired
        shown = await page.get(f"/s/{soon['secret']}")
        assert shown.status_code == 410 and "ended" in shown.text
        store = JetStreamEventStore(nats_client)
        before = await store.last_sequence()
        posted = await page.post(f"/s/{soon['secret']}", data={"q-enjoyed": "4"})
        assert posted.status_code == 410
        assert await store.last_sequence() == before  # not even a refusal's record: an old sheet cannot fill the ledger
        assert (await page.get(f"/s/{secrets.token_urlsafe(32)}")).status_code == 404
    assert await events_of(nats_client, ANSWERED, soon["link_id"]) == []


async def test_who_may_ask_whom(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    await evaluation.caught_up(within=120)  # a fresh service reads the suite's whole stream first
    theirs = await enrol(client, s, s.partner_b)
    cp = unique("cp")  # a co-producer partner B engaged
    reply = await client.send(s.partner_b, "RegisterCoProducer", {"programme_id": s.programme_id, "co_producer_id": cp,
                                                                  "role": "co-facilitator", "hourly_rate_pence": 1500,
                                                                  "receives_benefits": False})
    assert reply["status"] == "accepted", reply
    not_evaluated = await enrol(client, s, s.partner_a, consent_given=False)
    reply = await client.send(s.partner_a, "RecordConsent", {
        "programme_id": s.programme_id, "participant_id": not_evaluated, "on": "2025-11-04", "purposes": ["taking_part"],
        "information_version": "PIS v3 (easy read)", "capacity_note": "Has capacity", "review_on": "2026-05-04"})
    assert reply["status"] == "accepted", reply
    evaluated = await enrol(client, s, s.partner_a)

    async def said(org: str, **overrides: Any) -> dict[str, Any]:
        return await client.send(org, "IssueSurveyLink", link_command(s, **overrides), context="evaluation")

    refusals = {
        "someone else's participant": await said(s.partner_a, respondent_id=theirs),
        "another partner's work": await said(s.partner_a, partner_id=s.partner_b),
        "the commissioner's staff, by a partner": await said(s.partner_a, survey_id="tokenism-checklist",
                                                            group="commissioner", session_id=None),
        "staff on a session survey": await said(s.partner_a, group="partner"),
        "a session survey without its session": await said(s.partner_a, session_id=None),
        "open too long": await said(s.partner_a, expires_at=(datetime.now(UTC) + timedelta(days=93)).isoformat()),
        "already expired": await said(s.partner_a, expires_at=(datetime.now(UTC) - timedelta(seconds=1)).isoformat()),
        "no such survey": await said(s.partner_a, survey_id="favourite-colour"),
        "no consent to evaluation": await said(s.evaluator, respondent_id=not_evaluated, partner_id=s.partner_a),
        "a participant without their partner": await said(s.evaluator, respondent_id=evaluated),
        "a weak secret": await said(s.partner_a, secret="1234"),
        "a stranger": await said(unique("stranger")),
    }
    expected = {  # (code, the field it names)
        "someone else's participant": ("rule_violation", "respondent_id"),
        "another partner's work": ("forbidden", "partner_id"),
        "the commissioner's staff, by a partner": ("forbidden", "group"),
        "staff on a session survey": ("rule_violation", "group"),
        "a session survey without its session": ("rule_violation", "session_id"),
        "open too long": ("rule_violation", "expires_at"),
        "already expired": ("rule_violation", "expires_at"),
        "no such survey": ("rule_violation", "survey_id"),
        "no consent to evaluation": ("rule_violation", "respondent_id"),
        "a participant without their partner": ("rule_violation", "partner_id"),
        "a weak secret": ("invalid", "secret"),
        "a stranger": ("not_found", None),
        "another partner's co-producer": ("rule_violation", "respondent_id"),
    }
    refusals["another partner's co-producer"] = await said(s.partner_a, survey_id="tokenism-checklist",
                                                           group="co_producer", session_id=None, respondent_id=cp)
    for why, reply in refusals.items():
        code, field = expected[why]
        named = {d.get("field") for d in reply.get("details") or []} | {
            d.get("loc", [None])[-1] for d in reply.get("details") or []}
        assert reply["status"] == "rejected" and reply["code"] == code, (why, reply)
        assert field is None or field in named, (why, reply)
    assert "evaluation" in refusals["no consent to evaluation"]["message"]

    accepted = {
        "a partner's own participant": await said(s.partner_a, respondent_id=evaluated),
        "an evaluator, bound to someone who consents": await said(s.evaluator, respondent_id=evaluated,
                                                                  partner_id=s.partner_a),
        "the commissioner's own staff": await said(s.commissioner, survey_id="tokenism-checklist",
                                                   group="commissioner", session_id=None),
        "a partner's staff, by the partner": await said(s.partner_b, survey_id="tokenism-checklist", group="partner",
                                                        session_id=None),
        "the evaluator, anonymous, about the programme": await said(s.evaluator, survey_id="tokenism-checklist",
                                                                    group="co_producer", session_id=None),
        "a partner's own co-producer": await said(s.partner_b, survey_id="tokenism-checklist", group="co_producer",
                                                  session_id=None, respondent_id=cp),
    }
    for why, reply in accepted.items():
        assert reply["status"] == "accepted", (why, reply)
    taken = link_command(s)
    assert (await said(s.partner_a, **taken))["status"] == "accepted"
    again = await said(s.partner_a, **taken | {"secret": secrets.token_urlsafe(32)})
    assert again["code"] == "rule_violation" and "already issued" in again["message"]


async def test_the_secret_is_kept_nowhere(
    registry: ServiceHost, evaluation: ServiceHost, reporting: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    """Only the secret's hash is recorded: not in the stream (events, rejection records), not
    in the read model's database."""
    s = await setup_programme(client)
    issued = await issue(evaluation, s.partner_a, "partner", s.programme_id, count=2)
    secret = issued["links"][0]["url"].rsplit("/s/", 1)[1]
    refused = link_command(s, secret=secret, survey_id="no-such-survey")
    assert (await client.send(s.partner_a, "IssueSurveyLink", refused, context="evaluation"))["status"] == "rejected"
    bad = {"programme_id": s.programme_id, "link_id": issued["links"][0]["link_id"], "secret": secret,
           "answers": {"enjoyed": 42}, "comment": "a comment to withhold"}
    body = {"idempotency_key": unique("k"), "organisation": s.partner_a, "actor": "tester", "data": bad}
    refusal = await client.raw(s.partner_a, "AnswerSurvey", json.dumps(body).encode(), context="evaluation")
    assert refusal["code"] == "invalid", refusal
    await evaluation.caught_up()
    await reporting.caught_up()
    # Every event of the programme as stored, the refusals' records among them.
    stored = b"".join(e.payload for e in await JetStreamEventStore(nats_client).read_subject(
        f"pathways.evt.{s.programme_id}.>"))
    assert secret.encode() not in stored and b"a comment to withhold" not in stored
    assert re.search(rb"IssueSurveyLink", stored)  # the refusal is recorded, without the secret
    # Its digest leaves the secret and the comment out: a hash kept for ever confirms no guess at either.
    [record] = [json.loads(e.payload)["data"] for e in await JetStreamEventStore(nats_client).read_subject(
        f"pathways.evt.{s.programme_id}.{s.partner_a}.audit.>") if b'"AnswerSurvey"' in e.payload]
    kept = body | {"data": {k: v for k, v in bad.items() if k not in ("secret", "comment")}}
    assert record["body_sha256"] == hashlib.sha256(json.dumps(kept, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    for host in (evaluation, reporting):  # the database file and its write-ahead log
        base = Path(str(host.engine.url.database))
        files = [f for f in (base, base.with_name(base.name + "-wal")) if f.exists()]
        held = b"".join([await asyncio.to_thread(f.read_bytes) for f in files])
        assert len(held) > 0 and secret.encode() not in held


async def test_hostile_answers_a_shared_secret_and_a_withdrawn_consent_record_nothing(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)
    [anonymous] = (await issue(evaluation, s.partner_a, "partner", s.programme_id))["links"]
    path = path_of(anonymous["url"])
    async with page_of(evaluation) as page:
        await ready(evaluation, page, path)
        for hostile in ({"q-enjoyed": "--1"}, {"q-enjoyed": "\u00b2"}, {"q-enjoyed": "9" * 5000},
                        {"q-enjoyed": "1.0"}, {"comment": "\x00\x07\x0b"}, {}):
            shown = await page.post(path, data=hostile)
            assert shown.status_code == 422 and "Please choose" in shown.text, (hostile, shown.status_code)
        assert await events_of(nats_client, ANSWERED, anonymous["link_id"]) == []
        # Pasted from a word processor: the control characters go, the words and line breaks stay.
        kept = await page.post(path, data={"q-enjoyed": "2", "comment": "Line one\x0b\nline\x00 two\x07"})
        assert kept.status_code == 200
    [answered] = await events_of(nats_client, ANSWERED, anonymous["link_id"])
    assert answered.event.data["comment"] == "Line one\nline two"
    nul = {"programme_id": s.programme_id, "link_id": unique("link"), "secret": secrets.token_urlsafe(32),
           "answers": {}, "comment": "nul \x00"}
    refused = await client.send(s.partner_a, "AnswerSurvey", nul, context="evaluation")
    assert refused["code"] == "invalid" and "control characters" in refused["message"], refused  # what PostgreSQL cannot hold
    # A comment on a link made for one person is refused over NATS too.
    person = await enrol(client, s, s.partner_a)
    bound = link_command(s, respondent_id=person)
    assert (await client.send(s.partner_a, "IssueSurveyLink", bound, context="evaluation"))["status"] == "accepted"
    answer = {"programme_id": s.programme_id, "link_id": bound["link_id"], "secret": bound["secret"],
              "participant_id": person, "answers": {"enjoyed": 4}}
    worded = await client.send(s.partner_a, "AnswerSurvey", answer | {"comment": "My name is Zebedee"},
                               context="evaluation")
    assert worded["code"] == "invalid" and "comment" in worded["message"], worded
    unnamed = await client.send(s.partner_a, "AnswerSurvey", {k: v for k, v in answer.items() if k != "participant_id"},
                                context="evaluation")
    assert unnamed["code"] == "not_found", unnamed  # the answer names whom the link is for
    # Consent withdrawn after the link went out: the answer no longer counts, and the page says so.
    withdrawn = await client.send(s.partner_a, "WithdrawConsent", {"programme_id": s.programme_id,
                                                                    "participant_id": person, "on": "2025-12-01"})
    assert withdrawn["status"] == "accepted", withdrawn
    await evaluation.caught_up()
    async with page_of(evaluation) as page:
        closed = await page.post(f"/s/{bound['secret']}", data={"q-enjoyed": "5"})
        assert closed.status_code == 410 and "cannot be used" in closed.text
    assert await events_of(nats_client, ANSWERED, bound["link_id"]) == []

    # Two links with one secret (a careless issuer): the read model carries on; neither opens.
    shared = secrets.token_urlsafe(32)
    for _ in range(2):
        reply = await client.send(s.partner_b, "IssueSurveyLink", link_command(s, secret=shared), context="evaluation")
        assert reply["status"] == "accepted", reply
    [later] = (await issue(evaluation, s.partner_b, "partner", s.programme_id))["links"]
    async with page_of(evaluation) as page:
        assert (await ready(evaluation, page, path_of(later["url"]))).status_code == 200
        assert (await page.get(f"/s/{shared}")).status_code == 404


async def test_one_link_id_in_two_programmes_and_an_evaluators_bound_link(
    registry: ServiceHost, evaluation: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    """An issuer may reuse a link id in another programme: each answer is its own. An evaluator's
    link bound to a participant counts while their consent to evaluation does."""
    s = await setup_programme(client)
    other = unique("prog")  # the same commissioner's second programme, the same partner commissioned
    for command, data in (
        ("LaunchProgramme", {"programme_id": other, "name": "A second programme (test)", "aims": ["Another"],
                             "starts_on": "2025-10-01", "ends_on": "2026-09-30", "budget_pence": 1_000_000}),
        ("CommissionPartner", {"programme_id": other, "contract_id": "contract-9", "partner_id": s.partner_a,
                               "budget_pence": 100_000, "activities": ["yoga"], "starts_on": "2025-10-01",
                               "ends_on": "2026-09-30"}),
    ):
        reply = await client.send(s.commissioner, command, data)
        assert reply["status"] == "accepted", reply
    await evaluation.caught_up(within=120)  # a fresh service reads the suite's whole stream first
    same = unique("link")
    for programme in (s.programme_id, other):
        command = link_command(s, programme_id=programme, link_id=same)
        assert (await client.send(s.partner_a, "IssueSurveyLink", command, context="evaluation"))["status"] == "accepted"
        await evaluation.caught_up()
        async with page_of(evaluation) as page:
            done = await page.post(f"/s/{command['secret']}", data={"q-enjoyed": "4"})
            assert done.status_code == 200 and "saved" in done.text
    answered = await JetStreamEventStore(nats_client).read_subject(f"pathways.evt.*.{s.partner_a}.evaluation.{same}")
    assert sorted(e.event.programme for e in answered if e.event.type == ANSWERED) == sorted([s.programme_id, other])

    person, again = await enrol(client, s, s.partner_a), await enrol(client, s, s.partner_a)
    links = [link_command(s, respondent_id=p, partner_id=s.partner_a) for p in (person, again)]
    for link in links:
        assert (await client.send(s.evaluator, "IssueSurveyLink", link, context="evaluation"))["status"] == "accepted"
    withdrawn = await client.send(s.partner_a, "WithdrawConsent", {"programme_id": s.programme_id,
                                                                    "participant_id": again, "on": "2025-12-01",
                                                                    "purposes": ["evaluation"]})
    assert withdrawn["status"] == "accepted", withdrawn
    await evaluation.caught_up()
    async with page_of(evaluation) as page:
        counted = await page.post(f"/s/{links[0]['secret']}", data={"q-enjoyed": "5"})
        lapsed = await page.post(f"/s/{links[1]['secret']}", data={"q-enjoyed": "5"})
    assert counted.status_code == 200 and "saved" in counted.text
    assert lapsed.status_code == 410 and "cannot be used" in lapsed.text
    assert len(await events_of(nats_client, ANSWERED, links[0]["link_id"])) == 1
    assert await events_of(nats_client, ANSWERED, links[1]["link_id"]) == []
