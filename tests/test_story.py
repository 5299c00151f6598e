"""The programme's story beyond the counts, as the dashboard and the report read it:
feedback in people's own words, showcases, the evaluator's reports and payment runs
approved past a benefits limit, each counted by hand and each partner's kept to itself."""

from __future__ import annotations

from typing import Any

import httpx
from nats.aio.client import Client
from pathways.core.commands import OPERATOR_ORGANISATION
from pathways.policy.access import TokenStore
from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, enrolment, setup_programme, unique
from tests.test_reporting import caught_up, ok


async def test_voices_showcases_reports_and_warnings_reach_the_reporting_read_model(
    registry: ServiceHost, sessions: ServiceHost, payments: ServiceHost, evaluation: ServiceHost,
    reporting_on_both_databases: ServiceHost, client: CommandClient, nats_client: Client,
) -> None:
    reporting = reporting_on_both_databases
    s = await setup_programme(client, budget_pence=4_000_000)
    g, a, b = s.programme_id, s.partner_a, s.partner_b
    people = [unique("pt") for _ in range(3)]
    for person in people:
        await ok(client, a, "EnrolParticipant", enrolment(g, person))
    for person in people[:2]:  # those featured at the showcase below
        await ok(client, a, "RecordConsent", {"programme_id": g, "participant_id": person, "on": "2026-03-01",
                                              "purposes": ["photographs_and_showcases"]})
    for rating, words in ((5, "I look forward to it every week."), (4, "It helps me feel calmer."), (2, "Too short.")):
        await ok(client, a, "SubmitFeedback", {"programme_id": g, "feedback_id": unique("fb"), "respondent": "participant",
                                               "rating": rating, "comment": words}, "evaluation")
    await ok(client, b, "SubmitFeedback", {"programme_id": g, "feedback_id": unique("fb"), "respondent": "carer",
                                           "rating": 1, "comment": "Partner B's own."}, "evaluation")
    await ok(client, a, "SubmitFeedback", {"programme_id": g, "feedback_id": unique("fb"), "respondent": "staff",
                                           "rating": 3}, "evaluation")  # no comment, and staff: counted, never quoted
    await ok(client, a, "HoldShowcase", {"programme_id": g, "showcase_id": unique("sc"), "title": "Ward music night",
                                         "held_on": "2026-03-19", "venue": "Willow Ward day room",
                                         "activities": ["music production"], "featured_participants": people[:2],
                                         "audience": 34}, "sessions")
    await ok(client, s.evaluator, "PublishEvaluationReport", {
        "programme_id": g, "report_id": unique("rep"), "title": "Interim report", "period_start": "2025-10-01",
        "period_end": "2026-03-31", "summary": "Halfway.", "findings": ["People came back."]}, "evaluation")
    # A payment run approved past a co-producer's limit: the warning reaches the dashboard too.
    # Limits are platform-wide: this one named apart, and valid on this test's pay day only (the
    # demo's runs on the same server are paid on the 3rd).
    limit_id = unique("uc")
    limit = {"limit_id": limit_id, "scheme": f"UC work allowance ({limit_id})", "amount_pence": 10_000,
             "per": "assessment_period", "valid_from": "2026-04-02", "valid_until": "2026-04-02",
             "benefit": "universal_credit_with_housing_costs"}
    await ok(client, OPERATOR_ORGANISATION, "SetEarningsLimit", limit, "payments")
    cp = unique("cp")
    await ok(client, a, "RegisterCoProducer", {"programme_id": g, "co_producer_id": cp, "role": "peer facilitator",
                                               "hourly_rate_pence": 1500, "receives_benefits": True})
    await ok(client, a, "RecordCoProducerBenefits", {"programme_id": g, "co_producer_id": cp,
                                                      "benefits": ["universal_credit_with_housing_costs"],
                                                      "assessment_period_starts_on": "2025-10-10"}, "payments")
    await ok(client, a, "RecordInvolvement", {"programme_id": g, "contract_id": "contract-0", "involvement_id": unique("i"),
                                              "co_producer_id": cp, "worked_on": "2026-03-02", "minutes": 600,
                                              "activity": "Co-facilitating"}, "payments")  # £150
    await ok(client, s.commissioner, "IssuePaymentRun", {"programme_id": g, "run_id": unique("run"), "up_to": "2026-03-31",
                                                         "paid_on": "2026-04-02", "confirm_over_limits": [cp]}, "payments")
    await caught_up(reporting, nats_client)
    store = TokenStore(nats_client)

    async def story(org: str, role: str) -> dict[str, Any]:
        token = await store.issue(org, role)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=reporting.http_app()), base_url="http://reporting",
                                     headers={"Authorization": f"Bearer {token}"}) as http:
            found: dict[str, Any] = (await http.get(f"/programmes/{g}/story")).json()
            return found

    whole = await story(s.commissioner, "commissioner")
    assert (whole["feedback"]["responses"], whole["feedback"]["mean_rating"]) == (5, 3.0)  # 5, 4, 2, 1 and 3
    assert whole["feedback"]["by_rating"] == {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1}
    assert [q["respondent"] for q in whole["feedback"]["quoted"]] == ["participant"] * 3  # carers' and staff's not quoted
    assert [(sc["title"], sc["featured"], sc["audience"]) for sc in whole["showcases"]] == [("Ward music night", 2, 34)]
    assert [r["title"] for r in whole["evaluation_reports"]] == ["Interim report"]
    mine = [w for w in whole["earnings_warnings"] if w["scheme"] == limit["scheme"]]
    assert [(w["co_producer_id"], w["partner_id"], w["earnings_after_pence"], w["period_start"], w["period_end"])
            for w in mine] == [(cp, a, 15_000, "2026-03-10", "2026-04-09")]
    only_a = await story(a, "partner")
    assert (only_a["feedback"]["responses"], only_a["feedback"]["mean_rating"]) == (4, 3.5)
    assert "Partner B's own." not in str(only_a)
    assert {q["comment"] for q in only_a["feedback"]["quoted"]} == {"I look forward to it every week.",
                                                                    "It helps me feel calmer.", "Too short."}
    evaluator = await story(s.evaluator, "evaluator")
    assert evaluator["earnings_warnings"] == [] and evaluator["feedback"]["responses"] == 5  # benefits are not theirs
    only_b = await story(b, "partner")
    assert only_b["feedback"]["responses"] == 1 and only_b["showcases"] == [] and only_b["earnings_warnings"] == []
    assert [r["title"] for r in only_b["evaluation_reports"]] == ["Interim report"]  # the programme's, for everyone
