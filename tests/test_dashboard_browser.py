"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright): sign in, the pages load, the charts render, the filters change the figures, the
empty state shows, a partner sees a partner's view, and nothing is fetched from anywhere but
the service. Screenshots and the printed report are kept in test-artifacts/dashboard/."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from pathways.policy.access import TokenStore
from pathways.runtime.host import ServiceHost
from pathways.runtime.natsserver import free_port
from pathways.testing.servers import NatsEndpoint
from pathways_reporting.app import service as reporting_service
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import CommandClient, running
from tests.test_reporting import caught_up, small_programme

CHROMIUM = "/usr/bin/chromium"  # never a downloaded browser
ARTIFACTS = Path(os.environ.get("PATHWAYS_TEST_ARTIFACTS", "test-artifacts")) / "dashboard"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert os.access(CHROMIUM, os.X_OK), "Install Debian's chromium (apt-get install chromium); .ci/run does"
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        await chromium.close()


@pytest.fixture
async def served(nats_server: NatsEndpoint, tmp_path: Path) -> AsyncIterator[tuple[ServiceHost, str]]:
    port = free_port()
    async with running(reporting_service, nats_server, tmp_path, http_port=port) as host:
        yield host, f"http://127.0.0.1:{port}"


async def sign_in(browser: Browser, base: str, token: str) -> tuple[Page, list[str]]:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    await page.goto(f"{base}/dashboard")
    assert page.url == f"{base}/login"
    await page.fill("input[name=token]", token)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    return page, fetched


async def figure(page: Page, name: str) -> str:
    return (await page.text_content(f"[data-figure={name}]") or "").strip()


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_the_dashboard_in_headless_chromium(
    registry: ServiceHost, sessions: ServiceHost, payments: ServiceHost, evaluation: ServiceHost,
    served: tuple[ServiceHost, str], client: CommandClient, nats_client: Client, browser: Browser,
) -> None:
    host, base = served
    s, p = await small_programme(client)
    await caught_up(host, nats_client)
    store = TokenStore(nats_client)

    page, fetched = await sign_in(browser, base, await store.issue(s.commissioner, "commissioner"))
    assert page.url == f"{base}/dashboard/programmes/{s.programme_id}"
    assert "Commissioner view" in (await page.text_content("main") or "")
    assert await figure(page, "participants") == "4" and await figure(page, "sessions") == "3"
    # Every chart is drawn, with visible size and marks in it.
    charts = page.locator("figure.chart svg")
    assert await charts.count() == 6  # the journey, sessions, spend, wellbeing, co-production, settings
    for i in range(6):
        box = await charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 150
        assert await charts.nth(i).locator(".series rect, .series path").count() > 0
    await shot(page, "commissioner")

    # Filters change the figures, tables and charts.
    await page.select_option("select[name=partner]", s.partner_b)
    await page.click("text=Apply")
    await page.wait_for_load_state()
    assert await figure(page, "participants") == "2" and await figure(page, "sessions") == "1"
    assert await page.locator("table[data-table=participants] tbody tr").count() == 2
    await page.click("text=Clear")
    await page.fill("input[name=from]", "2026-01-01")
    await page.fill("input[name=to]", "2026-01-31")
    await page.click("text=Apply")
    await page.wait_for_load_state()
    assert await figure(page, "sessions") == "1"
    assert await page.locator("table[data-table=sessions] tbody tr").count() == 1
    await page.select_option("select[name=activity]", "music production")
    await page.click("text=Apply")
    await page.wait_for_load_state()
    assert await figure(page, "sessions") == "0"
    await page.goto(f"{base}/dashboard/programmes/{s.programme_id}?from=2025-10-01&to=2025-10-31&partner={s.partner_b}")
    assert await figure(page, "sessions") == "0"
    await page.goto(f"{base}/dashboard/programmes/{s.programme_id}?activity=no-such-activity&partner={s.partner_b}")
    await shot(page, "filtered")
    # A month before the programme started: every headline figure is zero, and the page says what each counts.
    await page.goto(f"{base}/dashboard/programmes/{s.programme_id}?from=2024-01-01&to=2024-01-31")
    assert await figure(page, "participants") == "0" and await figure(page, "sessions") == "0"
    assert await figure(page, "spent") == "£0" and await figure(page, "tracker") == "0/0"
    await page.click("details.definitions summary")
    definition = await page.text_content("[data-definition=participants]") or ""
    assert "enrolled on or before the period's last day" in definition

    # The printable report, printed by the browser.
    await page.goto(f"{base}/dashboard/programmes/{s.programme_id}/report")
    highlights = await page.text_content("#highlights") or ""
    assert "supported 4 participants" in " ".join(highlights.split())
    await page.emulate_media(media="print")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.pdf(path=str(ARTIFACTS / "programme-report.pdf"))
    assert (ARTIFACTS / "programme-report.pdf").stat().st_size > 10_000
    assert all(url.startswith(base) for url in fetched), [u for u in fetched if not u.startswith(base)]

    # A partner's view: its own figures, no partner picker.
    partner_page, _ = await sign_in(browser, base, await store.issue(s.partner_a, "partner"))
    assert "Partner view: Archery Together CIC" in (await partner_page.text_content("main") or "")  # by name
    assert await partner_page.locator("select[name=partner]").count() == 0
    assert await figure(partner_page, "participants") == "3" and await figure(partner_page, "sessions") == "2"
    assert p["p4"] not in (await partner_page.content())
    await shot(partner_page, "partner")


async def test_the_journey_on_the_page_filtered_by_partner_and_period(
    registry: ServiceHost, sessions: ServiceHost, served: tuple[ServiceHost, str], client: CommandClient,
    nats_client: Client, browser: Browser,
) -> None:
    """The funnel and its figures as Chromium shows them (the counts are test_journey's, made
    by hand), narrowed by partner and by quarter; and the partner's list of people who
    missed three sessions in a row."""
    from tests.test_journey import journeys

    host, base = served
    s, p = await journeys(client)
    for target_id, indicator, n, contract in (("referrals", "referrals", 6, None), ("a-people", "participants", 4, "contract-0")):
        reply = await client.send(s.commissioner, "SetTarget", {
            "programme_id": s.programme_id, "target_id": target_id, "indicator": indicator, "target": n,
            "period_start": "2025-10-01", "period_end": "2026-09-30"} | ({"contract_id": contract} if contract else {}))
        assert reply["status"] == "accepted", reply
    await caught_up(host, nats_client)
    store = TokenStore(nats_client)
    page, fetched = await sign_in(browser, base, await store.issue(s.commissioner, "commissioner"))
    statuses = {await row.get_attribute("data-target"): await row.locator("[data-status]").get_attribute("data-status")
                for row in await page.locator("table[data-table=targets] tbody tr").all()}
    assert statuses == {"referrals": "met", "a-people": "not met"}, statuses
    assert "Archery Together CIC" in (await page.text_content("table[data-table=targets]") or "")  # by name, not id

    async def funnel() -> list[str]:
        return [await figure(page, name) for name in ("referred", "enrolled", "attended", "transitioned", "moved-on")]

    assert await funnel() == ["6", "4", "3", "1", "1"]
    assert await figure(page, "days-to-first-session") == "10" and await figure(page, "declined") == "2"
    chart = page.locator("figure.chart[aria-label='The journey'] svg")
    assert await chart.locator(".series rect").count() == 5
    await shot(page, "journey-commissioner")
    await page.fill("input[name=from]", "2025-10-01")
    await page.fill("input[name=to]", "2025-12-31")
    await page.click("text=Apply")
    await page.wait_for_load_state()
    assert await funnel() == ["4", "3", "2", "0", "0"]
    await page.goto(f"{base}/dashboard/programmes/{s.programme_id}?from=2026-01-01&to=2026-03-31")
    assert await funnel() == ["2", "1", "1", "0", "0"]
    await page.goto(f"{base}/dashboard/programmes/{s.programme_id}?partner={s.partner_b}")
    assert await funnel() == ["1", "1", "0", "0", "0"]
    await shot(page, "journey-partner-b")

    await page.goto(f"{base}/dashboard/programmes/{s.programme_id}/report")
    journey_text = " ".join((await page.text_content("#journey") or "").split())
    assert journey_text.startswith("6 referred; of the 4 people enrolled in the period, 3 attended at least once"), journey_text
    assert await page.locator("#targets tr").count() == 3  # a heading row and two targets
    assert "No feedback from people taking part" in (await page.text_content("#service-user-perspective") or "")
    await shot(page, "journey-report")

    partner_page, _ = await sign_in(browser, base, await store.issue(s.partner_a, "partner"))
    missed = partner_page.locator("table[data-table=missed-sessions] tbody tr")
    assert await missed.count() == 1 and p["P5"] in (await missed.text_content() or "")
    await shot(partner_page, "journey-partner-a")
    assert all(url.startswith(base) for url in fetched)


async def test_the_empty_state(
    registry: ServiceHost, served: tuple[ServiceHost, str], client: CommandClient, nats_client: Client, browser: Browser,
) -> None:
    from tests.conftest import setup_programme

    host, base = served
    s = await setup_programme(client)
    await caught_up(host, nats_client)
    page, _ = await sign_in(browser, base, await TokenStore(nats_client).issue(s.commissioner, "commissioner"))
    assert await page.locator("#empty-state").is_visible()
    assert await page.locator("figure.chart").count() == 0
    await shot(page, "empty")


async def test_a_commissioner_sees_its_programmes_side_by_side(
    registry: ServiceHost, served: tuple[ServiceHost, str], client: CommandClient, nats_client: Client, browser: Browser,
) -> None:
    """Year one beside year two: the programme list shows each programme's headline figures."""
    from tests.conftest import enrolment, setup_programme, unique

    host, base = served
    s = await setup_programme(client)
    year_two = unique("prog")
    for command, data in (
        ("LaunchProgramme", {"programme_id": year_two, "name": "Pathways to Independence: year two (test)",
                             "aims": ["Moving on"], "starts_on": "2026-10-01", "ends_on": "2027-09-30",
                             "budget_pence": 5_000_000}),
        ("CommissionPartner", {"programme_id": year_two, "contract_id": "contract-y2", "partner_id": s.partner_a,
                               "budget_pence": 1_000_000, "activities": ["soft archery"], "starts_on": "2026-10-01",
                               "ends_on": "2027-09-30"}),
    ):
        assert (await client.send(s.commissioner, command, data))["status"] == "accepted"
    for programme, people, on in ((s.programme_id, 3, "2025-11-03"), (year_two, 2, "2026-10-05")):
        for i in range(people):
            reply = await client.send(s.partner_a, "EnrolParticipant", enrolment(programme, unique(f"pt{i}"), enrolled_on=on))
            assert reply["status"] == "accepted", reply
    await caught_up(host, nats_client)
    page, _ = await sign_in(browser, base, await TokenStore(nats_client).issue(s.commissioner, "commissioner"))
    assert page.url == f"{base}/dashboard"
    columns = await page.locator("table[data-table=side-by-side] th").all()
    heads = [" ".join((await h.text_content() or "").split()) for h in columns]
    assert heads[1].startswith("Pathways to Independence (test)") and heads[2].startswith("Pathways to Independence: year two")
    cells = [(await c.text_content() or "").strip()
             for c in await page.locator("tr[data-figure-row=participants] td").all()]
    assert cells[1:] == ["3", "2"], cells
    await shot(page, "programmes-side-by-side")
