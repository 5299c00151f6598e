"""Reporting figures: a small programme built by hand through every service, each headline
number checked, the filters narrowing them, and a rebuild from the stream giving exactly
the live figures."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from pathways.core.projection import dump
from pathways.core.rebuild import rebuild
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.access import TokenStore
from pathways.runtime.host import ServiceHost
from pathways_reporting import figures
from pathways_reporting.app import service as reporting_service

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, setup_programme, unique

NO_TOKENISM = dict.fromkeys(
    ["not_involved_until_the_end", "solution_already_decided", "suggestions_rejected_as_not_fitting",
     "not_reflected_in_final_service", "consulted_and_never_heard_of_again", "no_expenses_or_fee",
     "too_little_notice_or_impossible_times", "inaccessible_venue", "key_stakeholders_absent", "comments_not_documented"],
    False,
)


async def ok(client: CommandClient, org: str, command: str, data: dict[str, Any], context: str = "registry") -> None:
    reply = await client.send(org, command, data, context=context)
    assert reply["status"] == "accepted", (command, reply)


async def small_programme(client: CommandClient) -> tuple[ProgrammeSetup, dict[str, str]]:
    """Four made-up people, one of them with both partners; four sessions (one cancelled);
    co-producer time, expenses and an invoice; SWEMWBS before and after; assessments; a tracker."""
    s = await setup_programme(client)
    g, a, b = s.programme_id, s.partner_a, s.partner_b
    p = {k: unique(k) for k in ("p1", "p2", "p3", "p4")}
    for partner, person, setting in [(a, "p1", "ward"), (a, "p2", "ward"), (a, "p3", "community"), (b, "p2", "community"),
                                     (b, "p4", "community")]:
        await ok(client, partner, "EnrolParticipant", enrolment(g, p[person], setting=setting))

    async def session(partner: str, activity: str, day: str, capacity: int, attendees: list[str] | None, minutes: int) -> None:
        sid = unique("s")
        await ok(client, partner, "ScheduleSession", {"programme_id": g, "session_id": sid, "activity": activity,
                                                      "site": "Ward 3" if partner == a else "Community hub",
                                                      "starts_at": f"{day}T10:00:00Z", "duration_minutes": minutes,
                                                      "capacity": capacity}, "sessions")
        if attendees is None:
            await ok(client, partner, "CancelSession", {"programme_id": g, "session_id": sid, "reason": "Staff sickness"},
                     "sessions")
        else:
            await ok(client, partner, "RecordSessionDelivered", {"programme_id": g, "session_id": sid, "attendees": attendees,
                                                                 "duration_minutes": minutes}, "sessions")

    await session(a, "soft archery", "2026-01-13", 4, [p["p1"], p["p2"], p["p3"]], 60)
    await session(a, "music production", "2026-02-10", 2, [p["p1"]], 90)
    await session(a, "soft archery", "2026-02-17", 4, None, 60)
    await session(b, "soft archery", "2026-03-03", 5, [p["p2"], p["p4"]], 90)

    cp = unique("cp")
    await ok(client, a, "RegisterCoProducer", {"programme_id": g, "co_producer_id": cp, "role": "peer facilitator",
                                               "hourly_rate_pence": 1500, "receives_benefits": False})
    await ok(client, a, "RecordInvolvement", {"programme_id": g, "contract_id": "contract-0", "involvement_id": unique("i"),
                                              "co_producer_id": cp, "worked_on": "2026-01-13", "minutes": 120,
                                              "activity": "Co-facilitating archery"}, "payments")
    claims = {}
    for pence in (800, 500):
        claims[pence] = unique("c")
        await ok(client, a, "ClaimExpense", {"programme_id": g, "contract_id": "contract-0", "claim_id": claims[pence],
                                             "co_producer_id": cp, "category": "travel", "amount_pence": pence,
                                             "incurred_on": "2026-01-13", "description": "Bus fare"}, "payments")
    await ok(client, s.commissioner, "ApproveExpense", {"programme_id": g, "partner_id": a, "contract_id": "contract-0",
                                                         "claim_id": claims[800]}, "payments")
    await ok(client, a, "SubmitInvoice", {"programme_id": g, "contract_id": "contract-0", "invoice_id": unique("inv"),
                                          "amount_pence": 100_000, "period_start": "2025-10-01", "period_end": "2025-12-31",
                                          "description": "Quarter 1"}, "payments")
    await ok(client, s.commissioner, "IssuePaymentRun", {"programme_id": g, "run_id": unique("run"), "up_to": "2026-03-31"},
             "payments")

    def outcome(person: str, timepoint: str, answers: list[int], day: str) -> dict[str, Any]:
        return {"programme_id": g, "participant_id": p[person], "measurement_id": unique("m"), "instrument": "SWEMWBS",
                "timepoint": timepoint, "measured_on": day, "answers": answers}

    await ok(client, a, "RecordOutcome", outcome("p1", "baseline", [3] * 7, "2025-11-10"), "evaluation")  # raw 21: 19.25
    await ok(client, a, "RecordOutcome", outcome("p1", "follow_up", [4] * 7, "2026-03-10"), "evaluation")  # raw 28: 25.03
    await ok(client, a, "RecordOutcome", outcome("p2", "baseline", [2] * 6 + [1], "2025-11-10"), "evaluation")  # 13: 14.75
    await ok(client, a, "RecordOutcome", outcome("p2", "follow_up", [3] * 4 + [2] * 3, "2026-03-10"), "evaluation")  # 18: 17.43
    await ok(client, a, "RecordOutcome", outcome("p3", "baseline", [5] * 7, "2025-11-10"), "evaluation")  # no follow-up yet

    for level, rung, day in [(2, "co_design", "2026-01-20"), (3, "co_production", "2026-06-20")]:
        await ok(client, s.evaluator, "AssessCoProduction", {
            "programme_id": g, "assessment_id": unique("as"), "partner_id": a, "assessed_on": day, "level": level,
            "ladder_rung": rung, "tokenism": NO_TOKENISM | {"no_expenses_or_fee": level == 2}, "evidence": "Observed sessions"},
            "evaluation")
    developments = [unique("d"), unique("d")]
    for dev in developments:
        await ok(client, a, "ProposeDevelopment", {"programme_id": g, "development_id": dev, "you_said": "More evening sessions",
                                                   "raised_by": "participants", "we_will": "Trial an evening slot"}, "evaluation")
    await ok(client, a, "SetDevelopmentStatus", {"programme_id": g, "development_id": developments[0], "status": "amber"},
             "evaluation")
    return s, p


async def summary(host: ServiceHost, programme_id: str, token: str, **params: str) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=host.http_app())
    signed_in = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://reporting", headers=signed_in) as http:
        response = await http.get(f"/programmes/{programme_id}/summary", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def caught_up(host: ServiceHost, nc: Client) -> None:
    last = await JetStreamEventStore(nc).last_sequence()
    await asyncio.wait_for(asyncio.gather(*(r.reach(last) for r in host.runners)), 30)


@pytest.fixture
def reporting(reporting_on_both_databases: ServiceHost) -> ServiceHost:
    return reporting_on_both_databases


async def test_every_headline_figure_of_a_hand_built_programme(
    registry: ServiceHost, sessions: ServiceHost, payments: ServiceHost, evaluation: ServiceHost, reporting: ServiceHost,
    client: CommandClient, nats_client: Client,
) -> None:
    s, _ = await small_programme(client)
    await caught_up(reporting, nats_client)
    token = await TokenStore(nats_client).issue(s.commissioner, "commissioner")
    got = await summary(reporting, s.programme_id, token)
    assert got["participants"] == {  # active: enrolments not withdrawn (figures.DEFINITIONS)
        "unique": 4, "active": 5, "enrolments": 5, "by_partner": {s.partner_a: 3, s.partner_b: 2},
        "by_setting": {"community": 3, "ward": 2}, "attended_at_least_once": 4,
    }
    assert got["sessions"] == {
        "delivered": 3, "cancelled": 1, "attendances": 6, "hours_delivered": 4.0, "attendance_rate": round(6 / 11, 3),
        "by_partner": {s.partner_a: 2, s.partner_b: 1}, "by_activity": {"music production": 1, "soft archery": 2},
        "by_site": {"Community hub": 1, "Ward 3": 2}, "by_month": {"2026-01": 1, "2026-02": 1, "2026-03": 1},
        "by_month_and_partner": {s.partner_a: {"2026-01": 1, "2026-02": 1}, s.partner_b: {"2026-03": 1}},
        "by_month_and_activity": {"music production": {"2026-02": 1}, "soft archery": {"2026-01": 1, "2026-03": 1}},
    }
    spend = got["spend"]
    assert spend["spent_pence"] == 3000 + 800 + 100_000 and spend["co_producers_paid_pence"] == 3800
    assert spend["by_kind_pence"] == {"expense": 800, "involvement": 3000, "invoice": 100_000}
    assert [(c["partner_id"], c["spent_pence"], c["remaining_pence"]) for c in spend["contracts"]] == [
        (s.partner_a, 103_800, 2_500_000 - 103_800), (s.partner_b, 0, 2_500_000)]
    swemwbs = got["outcomes"]["SWEMWBS"]
    # Pairs: 19.25 → 25.03 and 14.75 → 17.43; changes 5.78 and 2.68.
    assert {k: swemwbs[k] for k in ("pairs", "baselines", "mean_baseline", "mean_follow_up", "mean_change", "indicative")} == {
        "pairs": 2, "baselines": 3, "mean_baseline": 17.0, "mean_follow_up": 21.23, "mean_change": 4.23, "indicative": True}
    t = 4.23 / ((5.78 - 2.68) / math.sqrt(2) / math.sqrt(2))
    assert swemwbs["t"] == round(t, 3)
    assert swemwbs["p_value"] == round(1 - 2 * math.atan(t) / math.pi, 4)  # Student's t with 1 degree of freedom
    assert got["outcomes"]["WEMWBS"] == {"pairs": 0, "indicative": True, "baselines": 0}
    assert got["co_production"] == {s.partner_a: {"assessed_on": "2026-06-20", "level": 3, "ladder_rung": "co_production",
                                                  "tokenism_flags": 0}}
    assert got["you_said_we_did"]["counts"] == {"red": 1, "amber": 1, "green": 0}

    only_b = await summary(reporting, s.programme_id, token, partner=s.partner_b)
    assert only_b["participants"]["unique"] == 2 and only_b["sessions"]["delivered"] == 1
    assert only_b["sessions"]["attendances"] == 2 and only_b["spend"]["spent_pence"] == 0
    music = await summary(reporting, s.programme_id, token, activity="music production")
    assert music["sessions"]["delivered"] == 1 and music["sessions"]["attendances"] == 1
    january = await summary(reporting, s.programme_id, token, **{"from": "2026-01-01", "to": "2026-01-31"})
    assert january["sessions"]["delivered"] == 1 and january["sessions"]["attendances"] == 3
    assert january["spend"]["by_kind_pence"] == {"expense": 800, "involvement": 3000}
    assert january["participants"]["attended_at_least_once"] == 3


async def test_a_rebuild_from_the_stream_gives_the_live_figures(
    registry: ServiceHost, sessions: ServiceHost, payments: ServiceHost, evaluation: ServiceHost, reporting: ServiceHost,
    client: CommandClient, nats_client: Client,
) -> None:
    s, _ = await small_programme(client)
    await caught_up(reporting, nats_client)
    live = {projection.name: dump(reporting.engine, projection) for projection in reporting_service.all_projections}
    with reporting.engine.connect() as conn:
        live_summary = figures.programme_summary(conn, s.programme_id)
    # Rebuilt from the whole stream into fresh tables, swapped in beside the running service.
    store = JetStreamEventStore(nats_client)
    for projection in reporting_service.all_projections:
        await rebuild(projection, reporting.engine, store)
    for projection in reporting_service.all_projections:
        assert dump(reporting.engine, projection) == live[projection.name], projection.name
    with reporting.engine.connect() as conn:
        assert figures.programme_summary(conn, s.programme_id) == live_summary
    assert live_summary is not None and live_summary["sessions"]["delivered"] == 3
