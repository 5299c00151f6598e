"""CSRF, in a real Chromium: partner A is signed in to the dashboard, and a page served
from another port of the same host (the same site, for SameSite) auto-submits a text/plain
form to POST /commands/A/ProposeDevelopment on the evaluation service. Before, it was
accepted and recorded as A; now the command is refused unread and nothing is stored. The
same command sent as a partner system sends it (bearer header, JSON) is accepted, so the
test would see an acceptance."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.access import TokenStore
from pathways.runtime.host import ServiceHost
from pathways.runtime.natsserver import free_port
from pathways.testing.servers import NatsEndpoint
from pathways_evaluation.app import service as evaluation_service
from playwright.async_api import Browser

from tests.conftest import CommandClient, running, setup_programme, unique
from tests.test_dashboard_browser import browser, served, sign_in

__all__ = ["browser", "served"]  # fixtures used here


def attack_page(target: str, body_before_equals: str, body_after_equals: str) -> bytes:
    """A form whose text/plain body is `name=value`: split so that the whole body is JSON."""
    return f"""<!doctype html><html><body>
<form method="post" action="{html.escape(target)}" enctype="text/plain">
<input type="hidden" name="{html.escape(body_before_equals)}" value="{html.escape(body_after_equals)}">
</form><script>document.forms[0].submit()</script></body></html>""".encode()


@pytest.fixture
def attacker() -> Iterator[tuple[str, dict[str, bytes]]]:
    pages: dict[str, bytes] = {}

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", pages
    finally:
        server.shutdown()


async def test_a_page_on_another_port_cannot_send_a_command_as_the_signed_in_partner(
    registry: ServiceHost, served: tuple[ServiceHost, str], client: CommandClient, nats_client: Client,
    nats_server: NatsEndpoint, browser: Browser, attacker: tuple[str, dict[str, bytes]], tmp_path: Path,
) -> None:
    _, dashboard = served
    s = await setup_programme(client)
    token = await TokenStore(nats_client).issue(s.partner_a, "partner")
    port = free_port()
    async with running(evaluation_service, nats_server, tmp_path, http_port=port):
        commands = f"http://127.0.0.1:{port}/commands/{s.partner_a}/ProposeDevelopment"
        page, _ = await sign_in(browser, dashboard, token)
        assert any(c["name"] == "pathways_token" for c in await page.context.cookies())
        store = JetStreamEventStore(nats_client)
        before = await store.last_sequence()

        item = {"programme_id": s.programme_id, "development_id": unique("csrf"), "you_said": "Nothing",
                "raised_by": "participants", "we_will": "x"}
        body = json.dumps({"idempotency_key": unique("k"), "organisation": s.partner_a, "actor": "victim", "data": item})
        cut = body.index('"we_will": "x') + len('"we_will": "x')  # the form's "=" lands inside we_will
        base, pages = attacker
        pages["/csrf"] = attack_page(commands, body[:cut], body[cut:])
        async with page.expect_response(commands) as answered:
            await page.goto(f"{base}/csrf")
        response = await answered.value
        sent_with = await response.request.all_headers()
        assert response.request.method == "POST" and "pathways_token=" in sent_with.get("cookie", ""), sent_with
        assert response.status in (401, 415), response.status
        await page.close()
        assert await store.last_sequence() == before  # nothing stored, not even as a refusal recorded under A

        # The same body, sent the way a partner system sends it, is a command: the attack above would have been seen.
        async with httpx.AsyncClient() as partner_system:
            sent = await partner_system.post(commands, content=body[:cut] + "=" + body[cut:],
                                             headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
        assert sent.status_code == 200 and sent.json()["status"] == "accepted", sent.text


async def test_the_dashboard_runs_under_its_policy_and_no_other_page_can_frame_it(
    registry: ServiceHost, served: tuple[ServiceHost, str], client: CommandClient, nats_client: Client,
    browser: Browser, attacker: tuple[str, dict[str, bytes]],
) -> None:
    """Nothing on the page is blocked by its Content-Security-Policy (the charts draw), and a
    page on another port that frames it (clickjacking) gets an empty frame."""
    _, dashboard = served
    s = await setup_programme(client)
    page, _ = await sign_in(browser, dashboard, await TokenStore(nats_client).issue(s.commissioner, "commissioner"))
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    # Every violation the page meets, as the browser reports it to the page itself.
    await page.add_init_script("window.__violations = []; document.addEventListener('securitypolicyviolation', "
                               "e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));")
    for path in (f"/dashboard/programmes/{s.programme_id}", f"/dashboard/programmes/{s.programme_id}/report"):
        await page.goto(f"{dashboard}{path}")
        await page.wait_for_load_state("load")
        assert await page.evaluate("window.__violations") == [], path
    await page.goto(f"{dashboard}/dashboard/programmes/{s.programme_id}")
    assert "Commissioner view" in (await page.text_content("main") or "")
    assert blocked == []
    base, pages = attacker
    pages["/frame"] = f'<!doctype html><iframe id="f" src="{dashboard}/dashboard/programmes/{s.programme_id}"></iframe>'.encode()
    await page.goto(f"{base}/frame")
    await page.wait_for_timeout(500)
    framed = [f for f in page.frames if f != page.main_frame]
    assert framed, "the frame element is there"
    for frame in framed:
        assert "Commissioner view" not in await frame.content(), frame.url
    assert any("frame-ancestors" in b or "X-Frame-Options" in b for b in blocked) or all(
        f.url in ("about:blank", "chrome-error://chromewebdata/") for f in framed), [f.url for f in framed]
