"""A survey answered from a one-time link in a real headless Chromium (Debian's, driven by
Playwright) on a phone-sized screen, found and filled the way a screen reader user finds it
(by role and accessible name), by touch and by keyboard, and checked with axe-core (npm) for
WCAG 2.2 AA: no serious or critical violation on the survey, the thank-you page, the
already-answered page or the tokenism checklist. Screenshots and axe-core's results are kept
in test-artifacts/surveys/."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from pathways.runtime.host import ServiceHost
from pathways.runtime.natsserver import free_port
from pathways.testing.servers import NatsEndpoint
from pathways_evaluation.app import service as evaluation_service
from playwright.async_api import Browser, BrowserContext, Page

from tests.conftest import CommandClient, npm_install, running, setup_programme
from tests.test_dashboard_browser import browser  # noqa: F401 - the fixture: Debian's Chromium, headless
from tests.test_surveys import events_of, issue, path_of

ARTIFACTS = Path(os.environ.get("PATHWAYS_TEST_ARTIFACTS", "test-artifacts")) / "surveys"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture
async def axe_script(tmp_path: Path) -> Path:
    await npm_install(tmp_path, "axe-core@4", within=180)
    return tmp_path / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[BrowserContext]:  # noqa: F811 - the fixture imported above
    # axe-core is put into the page by the test: the page's own policy runs no script at all.
    context = await browser.new_context(**PHONE, bypass_csp=True)
    yield context
    await context.close()


@pytest.fixture
async def served(nats_server: NatsEndpoint, tmp_path: Path) -> AsyncIterator[tuple[ServiceHost, str]]:
    port = free_port()
    async with running(evaluation_service, nats_server, tmp_path, http_port=port) as host:
        yield host, f"http://127.0.0.1:{port}"


async def axe(page: Page, script: Path, name: str) -> dict[str, Any]:
    """axe-core's verdict on the page as it stands, kept beside the screenshots."""
    await page.add_script_tag(path=str(script))
    results: dict[str, Any] = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", WCAG_22_AA)
    summary = {"page": name, "path": re.sub(r"/s/[^/?]+", "/s/<secret>", "/" + page.url.split("//", 1)[1].split("/", 1)[1]),
               "axe_version": results["testEngine"]["version"], "tags": WCAG_22_AA,
               "violations": [{"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": len(v["nodes"])}
                              for v in results["violations"]],
               "rules_passed": len(results.get("passes", [])), "viewport": PHONE["viewport"]}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(summary, indent=2))
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    return summary


def serious(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """What the issue rules out (serious or critical); the test asks for no violation at all."""
    return [v for v in summary["violations"] if v["impact"] in ("serious", "critical")]


async def test_a_person_answers_on_a_phone_and_every_page_passes_axe_core(
    registry: ServiceHost, served: tuple[ServiceHost, str], client: CommandClient, nats_client: Client,
    phone: BrowserContext, axe_script: Path,
) -> None:
    host, base = served
    s = await setup_programme(client)
    [link] = (await issue(host, s.partner_a, "partner", s.programme_id))["links"]  # anonymous: with a comment box
    await host.caught_up(within=120)
    page = await phone.new_page()
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    await page.goto(base + path_of(link["url"]))

    assert await page.get_by_role("heading", level=1).text_content() == "Tell us about the session"
    first = await axe(page, axe_script, "survey-phone")
    assert serious(first) == [] and first["violations"] == []
    # Large type: the body text a person reads is at least 22 CSS pixels on a phone.
    size = await page.evaluate("parseFloat(getComputedStyle(document.querySelector('legend')).fontSize)")
    assert size >= 22, size
    # Every answer has its words as its accessible name, in a group named by its question.
    enjoyed = page.get_by_role("group", name=re.compile("Did you enjoy the session"))
    assert await enjoyed.get_by_role("radio").count() == 5
    await enjoyed.get_by_text("Very much").tap()  # a picture and its words: tapping either chooses
    assert await enjoyed.get_by_role("radio", name="Very much").is_checked()
    listened = page.get_by_role("group", name=re.compile("Did people listen to you"))
    await listened.get_by_role("radio", name="A little").focus()  # by keyboard: arrows move within a question
    await page.keyboard.press("Space")
    await page.keyboard.press("ArrowRight")
    assert await listened.get_by_role("radio", name="Some").is_checked()
    await page.get_by_role("group", name=re.compile("Would you come again")).get_by_role("radio", name="Yes").tap()
    await page.get_by_label(re.compile("anything else")).fill("I liked the music.")
    await page.screenshot(path=str(ARTIFACTS / "survey-phone-filled.png"), full_page=True)
    await page.get_by_role("button", name="Send my answers").tap()
    await page.wait_for_load_state()

    assert "Your answers are saved" in (await page.get_by_role("status").text_content() or "")
    thanked = await axe(page, axe_script, "thank-you-phone")
    assert serious(thanked) == [] and thanked["violations"] == []
    [answered] = await events_of(nats_client, "pathways.evaluation.SurveyAnswered", link["link_id"])
    assert answered.event.data["answers"] == {"enjoyed": 5, "listened_to": 3, "come_again": 1}
    assert answered.event.data["comment"] == "I liked the music."

    await host.caught_up(within=120)
    await page.goto(base + path_of(link["url"]))  # the link again, from the same sheet
    assert "used already" in (await page.get_by_role("status").text_content() or "")
    assert await page.locator("form").count() == 0
    used = await axe(page, axe_script, "already-answered-phone")
    assert serious(used) == [] and used["violations"] == []

    [checklist] = (await issue(host, s.partner_a, "partner", s.programme_id, survey_id="tokenism-checklist",
                               group="co_producer", session_id=None))["links"]
    await host.caught_up(within=120)
    await page.goto(base + path_of(checklist["url"]))
    assert await page.get_by_role("group").count() == 10  # the ten signs of tokenism
    checked = await axe(page, axe_script, "tokenism-checklist-phone")
    assert serious(checked) == [] and checked["violations"] == []
    # Nothing was fetched from anywhere but the service (axe-core is put in by the test itself).
    assert all(url.startswith(base) for url in fetched), [u for u in fetched if not u.startswith(base)]
