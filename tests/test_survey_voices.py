"""The service user perspective from what people answered themselves: survey answers given
through one-time links reach the reporting service's story, its dashboard and its printable
report, each group beside the others (the tokenism checklist as the festival blog asks:
participants, co-producers, partners' staff and the commissioner's), with how many answered;
a partner sees only its own links' answers; and the summary grows with days and questions,
not with answers."""

from __future__ import annotations

import re
from typing import Any

from nats.aio.client import Client
from pathways.core.projection import dump
from pathways.core.rebuild import rebuild
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost
from sqlalchemy import func, select

from tests.conftest import CommandClient, setup_programme, signed_in
from tests.test_surveys import enrol, issue, page_of, path_of, ready

NOTHING_SEEN = dict.fromkeys(
    ["not_involved_until_the_end", "solution_already_decided", "suggestions_rejected_as_not_fitting",
     "not_reflected_in_final_service", "consulted_and_never_heard_of_again", "no_expenses_or_fee",
     "too_little_notice_or_impossible_times", "inaccessible_venue", "key_stakeholders_absent",
     "comments_not_documented"], "0")


async def answer_all(evaluation: ServiceHost, issued: dict[str, Any], answers: list[dict[str, str]]) -> None:
    async with page_of(evaluation) as page:
        for link, given in zip(issued["links"], answers, strict=True):
            path = path_of(link["url"])
            await ready(evaluation, page, path)
            done = await page.post(path, data=given)
            assert done.status_code == 200 and "saved" in done.text, done.text[-400:]


def checklist(**seen: str) -> dict[str, str]:
    return {f"q-{k}": v for k, v in (NOTHING_SEEN | seen).items()}


async def story_of(reporting: ServiceHost, org: str, role: str, programme_id: str, query: str = "") -> dict[str, Any]:
    await reporting.caught_up(within=120)
    async with await signed_in(reporting, org, role) as http:
        answer = await http.get(f"/programmes/{programme_id}/story{query}")
    assert answer.status_code == 200, answer.text
    story: dict[str, Any] = answer.json()
    return story


async def test_the_tokenism_checklist_group_beside_group_in_the_story_dashboard_and_report(
    registry: ServiceHost, evaluation: ServiceHost, reporting: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    people = [await enrol(client, s, s.partner_a) for _ in range(3)]
    tokenism = {"survey_id": "tokenism-checklist", "session_id": None}
    by_participants = await issue(evaluation, s.partner_a, "partner", s.programme_id, **tokenism,
                                  respondent_ids=people[:2])
    by_participants["links"] += (await issue(evaluation, s.partner_a, "partner", s.programme_id, **tokenism))["links"]
    by_co_producers = await issue(evaluation, s.evaluator, "evaluator", s.programme_id, **tokenism,
                                  group="co_producer", partner_id=s.partner_a, count=2)
    by_staff = await issue(evaluation, s.partner_a, "partner", s.programme_id, **tokenism, group="partner")
    by_commissioner = await issue(evaluation, s.commissioner, "commissioner", s.programme_id, **tokenism,
                                  group="commissioner", count=2)  # one never answered
    other_partner = await issue(evaluation, s.partner_b, "partner", s.programme_id, count=1)  # session feedback
    await answer_all(evaluation, by_participants, [
        checklist(no_expenses_or_fee="1", comments_not_documented="1"),
        {"q-no_expenses_or_fee": "0"},  # the rest skipped
        checklist(no_expenses_or_fee="1") | {"comment": "Nobody paid my bus fare."},  # an anonymous link's words
    ])
    await answer_all(evaluation, by_co_producers, [checklist(solution_already_decided="1"), checklist()])
    await answer_all(evaluation, by_staff, [checklist()])
    await answer_all(evaluation, {"links": by_commissioner["links"][:1]}, [checklist(key_stakeholders_absent="1")])
    await answer_all(evaluation, other_partner, [{"q-enjoyed": "4", "comment": "Loved the studio."}])

    voices = (await story_of(reporting, s.commissioner, "commissioner", s.programme_id))["voices"]
    assert voices["people_answered"] == 6  # 3 participants, 2 co-producers, 1 at partner B's session
    [feedback, checked] = voices["surveys"]
    assert (feedback["survey_id"], checked["survey_id"]) == ("session-feedback", "tokenism-checklist")
    assert checked["groups"] == {"participant": {"answered": 3, "issued": 3}, "co_producer": {"answered": 2, "issued": 2},
                                 "partner": {"answered": 1, "issued": 1}, "commissioner": {"answered": 1, "issued": 2}}
    rows = {q["question_id"]: q for q in checked["questions"]}
    assert [q["question_id"] for q in checked["questions"]][:2] == ["not_involved_until_the_end",
                                                                    "solution_already_decided"]
    assert rows["no_expenses_or_fee"]["by_group"]["participant"] == {"answered": 3, "share_yes": round(2 / 3, 3)}
    assert rows["no_expenses_or_fee"]["by_group"]["partner"] == {"answered": 1, "share_yes": 0.0}
    assert rows["comments_not_documented"]["by_group"]["participant"] == {"answered": 2, "share_yes": 0.5}
    assert rows["solution_already_decided"]["by_group"]["co_producer"]["share_yes"] == 0.5
    assert rows["key_stakeholders_absent"]["by_group"]["commissioner"]["share_yes"] == 1.0
    assert feedback["questions"][0]["by_group"] == {"participant": {"answered": 1, "mean": 4.0}}
    assert {q["comment"] for q in voices["quoted"]} == {"Nobody paid my bus fare.", "Loved the studio."}

    # A partner sees the answers to its own links, and to links about its work.
    mine = (await story_of(reporting, s.partner_b, "partner", s.programme_id))["voices"]
    assert [sv["survey_id"] for sv in mine["surveys"]] == ["session-feedback"]
    assert [q["comment"] for q in mine["quoted"]] == ["Loved the studio."]
    theirs = (await story_of(reporting, s.partner_a, "partner", s.programme_id))["voices"]
    assert theirs["surveys"][0]["groups"]["co_producer"]["answered"] == 2  # the evaluator's links about its work
    assert "commissioner" not in theirs["surveys"][0]["groups"]  # about the programme as a whole

    async with await signed_in(reporting, s.commissioner, "commissioner") as http:
        page = (await http.get(f"/dashboard/programmes/{s.programme_id}")).text
        report = (await http.get(f"/dashboard/programmes/{s.programme_id}/report")).text
    for html in (page, report):
        assert 'data-survey="tokenism-checklist"' in html
        assert html.count('<th scope="col" class="num" data-group=') == 5  # 4 groups + session feedback's one
        assert "3 answered of 3 asked" in html and "1 answered of 2 asked" in html
        assert "67% said yes" in html and "Nobody paid my bus fare." in html
        # The checklist drawn too, a bar per group for each sign, the groups named with how many answered.
        assert 'aria-label="The tokenism checklist, group by group"' in html
        assert "Participants (3)" in html and "Co-producers (2)" in html
        for staff in ("Partners", "Commissioner(&#39;|&#x27;|')s"):  # each legend (a long one whole in its title)
            assert re.search(staff + r"(&#39;|&#x27;|')? staff \(1\)", html), re.findall(r".{40}staff.{20}", html)
    assert "Service user perspective" in report and "What people answered themselves" in report
    assert 'data-figure="people-answered">6<' in report


async def test_the_summary_grows_with_questions_not_with_answers(
    registry: ServiceHost, evaluation: ServiceHost, reporting: ServiceHost, client: CommandClient, nats_client: Client
) -> None:
    s = await setup_programme(client)

    async def rows_after(answers: int) -> int:
        issued = await issue(evaluation, s.partner_a, "partner", s.programme_id, count=answers)
        await answer_all(evaluation, issued, [{"q-enjoyed": "5", "q-come_again": "1"}] * answers)
        await reporting.caught_up(within=120)
        from pathways_reporting.voices import DAYS

        with reporting.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(DAYS)
                                    .where(DAYS.c.programme_id == s.programme_id)).scalar_one())

    assert await rows_after(2) == 3  # the response row and the two questions answered, for today
    assert await rows_after(20) == 3
    voices = (await story_of(reporting, s.commissioner, "commissioner", s.programme_id))["voices"]
    assert voices["surveys"][0]["groups"]["participant"] == {"answered": 22, "issued": 22}
    # Counters only ever add (DESIGN §4 G3): what they hold, applied as answers came, is what a
    # rebuild from the whole stream makes; and so for the evaluation service's links and answers.
    store = JetStreamEventStore(nats_client)
    for host in (reporting, evaluation):
        await host.caught_up(within=120)
        for projection in host.service.all_projections:
            live = dump(host.engine, projection)
            await rebuild(projection, host.engine, store)
            assert dump(host.engine, projection) == live, projection.name


async def test_a_period_before_any_answer_shows_none(
    registry: ServiceHost, evaluation: ServiceHost, reporting: ServiceHost, client: CommandClient
) -> None:
    s = await setup_programme(client)
    issued = await issue(evaluation, s.partner_a, "partner", s.programme_id, count=1)
    await answer_all(evaluation, issued, [{"q-enjoyed": "3"}])
    before = (await story_of(reporting, s.commissioner, "commissioner", s.programme_id, "?to=2025-12-31"))["voices"]
    assert before == {"surveys": [], "people_answered": 0, "quoted": []}
    async with await signed_in(reporting, s.commissioner, "commissioner") as http:
        report = (await http.get(f"/dashboard/programmes/{s.programme_id}/report", params={"to": "2025-12-31"})).text
    assert "No one answered a survey of their own in the period." in report
