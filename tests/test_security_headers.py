"""Every response of every service carries the security headers (pathways.runtime.headers):
answers, errors, pages and exports alike; and no GET route answers a server error, to
anyone or to any role."""

from __future__ import annotations

import httpx
from pathways.policy.access import TokenStore
from pathways.runtime.host import ServiceHost
from starlette.routing import Route

from tests.conftest import CommandClient, setup_programme, unique

EXPECTED = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer",
            "cache-control": "no-store"}


def gets(host: ServiceHost, programme: str) -> list[str]:
    """Every GET route of the service, path parameters filled with something."""
    out = []
    for route in host.http_app().routes:
        if isinstance(route, Route) and "GET" in (route.methods or ()):
            out.append(route.path.replace("{programme_id}", programme).replace("{", "").replace("}", ""))
    return out


async def test_every_answer_of_every_service_carries_the_security_headers(
    registry: ServiceHost, sessions: ServiceHost, payments: ServiceHost, evaluation: ServiceHost,
    reporting: ServiceHost, client: CommandClient,
) -> None:
    s = await setup_programme(client)
    tokens = TokenStore(client.nc)
    signed_in = {"anonymous": None, "commissioner": await tokens.issue(s.commissioner, "commissioner"),
                 "partner": await tokens.issue(s.partner_a, "partner"), "auditor": await tokens.issue(unique("aud"), "auditor")}
    for host in (registry, sessions, payments, evaluation, reporting):
        for who, token in signed_in.items():
            await answers_carry_the_headers(host, s.programme_id, token, who)


async def answers_carry_the_headers(host: ServiceHost, programme: str, token: str | None, who: str) -> None:
    """Every GET route, as anyone and as each role: the headers on every answer, and no
    answer a server error."""
    name = host.service.name
    paths = gets(host, programme)
    assert len(paths) >= 4, paths
    seen = set()
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host.http_app()), base_url="http://svc",
                                 headers=headers) as http:
        for path in [*paths, "/no-such-page", "/commands/x/Nothing"]:
            answer = await http.get(path)
            seen.add(answer.status_code)
            assert answer.status_code < 500, (name, who, path, answer.status_code, answer.text[:200])
            for header, value in EXPECTED.items():
                assert answer.headers.get(header) == value, (name, path, answer.status_code, header)
            policy = answer.headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, (path, policy)
            if not path.startswith(("/docs", "/redoc")):
                assert "script-src" not in policy, path  # no page runs a script
        posted = await http.post("/commands/x/Nothing", content=b"{}")
        assert posted.headers.get("x-frame-options") == "DENY"
    assert 200 in seen and seen - {200}, (name, who, seen)  # answers and refusals both looked at
