"""Every read endpoint of every service, signed in (DESIGN §4 G5): found from each
service's own OpenAPI document, so an endpoint added later is covered too. Partner B's
token never gets partner A's rows; asking for A by name is refused; other organisations
see nothing of a programme not theirs; roles see only their business; no token, no data."""

from __future__ import annotations

import re
from typing import Any

import httpx
from nats.aio.client import Client
from pathways.runtime.host import ServiceHost

from tests.conftest import CommandClient, signed_in, unique
from tests.test_reporting import caught_up, small_programme


def read_paths(host: ServiceHost, programme_id: str) -> list[str]:
    """Every GET route of the service about one programme, with its path filled in."""
    spec = host.http_app().openapi()
    paths = [p for p, ops in spec["paths"].items() if "get" in ops and "{programme_id}" in p]
    return [re.sub(r"\{run_id\}", "any-run", p.replace("{programme_id}", programme_id)) for p in paths]


async def test_no_service_gives_one_partner_anothers_rows(
    registry: ServiceHost, sessions: ServiceHost, payments: ServiceHost, evaluation: ServiceHost,
    client: CommandClient, nats_client: Client,
) -> None:
    s, people = await small_programme(client)
    only_a = [people["p1"], people["p3"]]  # enrolled with A alone
    hosts = {"registry": registry, "sessions": sessions, "payments": payments, "evaluation": evaluation}
    for host in hosts.values():
        await caught_up(host, nats_client)
    checked = 0
    for name, host in hosts.items():
        paths = read_paths(host, s.programme_id)
        assert paths, name
        async with await signed_in(host, s.partner_b, "partner") as b, \
                await signed_in(host, s.partner_a, "partner") as a, \
                await signed_in(host, unique("commissioner"), "commissioner") as stranger, \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=host.http_app()), base_url="http://t") as anonymous:
            for path in paths:
                seen = await b.get(path)
                assert seen.status_code in (200, 403, 404), (name, path, seen.status_code)
                for secret in (s.partner_a, *only_a):
                    assert secret not in seen.text, (name, path, secret)
                asked_for_a = await b.get(path, params={"partner_id": s.partner_a})
                assert asked_for_a.status_code in (403, 404) or s.partner_a not in asked_for_a.text, (name, path)
                assert (await stranger.get(path)).status_code in (403, 404), (name, path)
                assert (await anonymous.get(path)).status_code == 401, (name, path)
                checked += 1
            # A does see its own rows: the scan is not passing because nothing is shown.
            mine = [await a.get(p) for p in paths]
            assert any(r.status_code == 200 and s.partner_a in r.text for r in mine), name
    assert checked >= 12

    # Roles see only their business: an evaluator reads outcomes, not payments; a partner not payment runs.
    async with await signed_in(payments, s.evaluator, "evaluator") as evaluator:
        assert (await evaluator.get(f"/programmes/{s.programme_id}/claims")).status_code == 403
    async with await signed_in(payments, s.partner_a, "partner") as a:
        assert (await a.get(f"/programmes/{s.programme_id}/payment-runs")).status_code == 403
        claims = (await a.get(f"/programmes/{s.programme_id}/claims")).json()
        assert claims and {c["partner_id"] for c in claims} == {s.partner_a}
    async with await signed_in(evaluation, s.evaluator, "evaluator") as evaluator:
        outcomes: list[dict[str, Any]] = (await evaluator.get(f"/programmes/{s.programme_id}/outcomes")).json()
        assert {o["participant_id"] for o in outcomes} >= {people["p1"], people["p2"]}  # pseudonymous ids only
    async with await signed_in(registry, s.partner_b, "partner") as b:
        roster = (await b.get(f"/programmes/{s.programme_id}")).json()
        assert [p["partner_id"] for p in roster["partners"]] == [s.partner_b]
        # B's totals are B's own (p2 and p4): programme-wide counts would tell it A's.
        assert roster["unique_participants"] == roster["partners"][0]["total_enrolments"] == 2
        assert roster["committed_pence"] == roster["partners"][0]["budget_pence"]
        listed = (await b.get("/programmes")).json()
        assert s.programme_id in {p["programme_id"] for p in listed}
    async with await signed_in(registry, s.commissioner, "commissioner") as commissioner:
        assert (await commissioner.get(f"/programmes/{s.programme_id}")).json()["unique_participants"] == 4
    async with await signed_in(registry, unique("commissioner"), "commissioner") as other:
        assert s.programme_id not in {p["programme_id"] for p in (await other.get("/programmes")).json()}


async def test_guessing_tokens_is_bounded_per_address(registry: ServiceHost) -> None:
    """Ten bad tokens from an address throttle it: further tokens from it are refused unread
    (no lookup, so a guess tells nothing), except one that signed in within the window, so
    the people already working from that address (all of `pathways up`'s users share one)
    are not locked out by a guesser."""
    assert registry.tokens is not None
    signed_in_before = await registry.tokens.issue(unique("partner"), "partner")
    first_used_later = await registry.tokens.issue(unique("partner"), "partner")
    app = registry.http_app()
    lookups: list[str] = []
    real_caller = registry.tokens.caller

    async def counted(token: str) -> Any:
        lookups.append(token)
        return await real_caller(token)

    registry.tokens.caller = counted  # type: ignore[method-assign]

    def from_address(address: str, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://t",
                                 headers={"Authorization": f"Bearer {token}"})

    async with from_address("203.0.113.7", signed_in_before) as colleague:
        assert (await colleague.get("/organisations")).status_code == 200
    for attempt in range(10):
        async with from_address("203.0.113.7", f"pwt_guess-{attempt}") as guesser:
            assert (await guesser.get("/organisations")).status_code == 401
    looked_up = len(lookups)
    for attempt in range(10, 60):
        async with from_address("203.0.113.7", f"pwt_guess-{attempt}") as guesser:
            refused = await guesser.get("/organisations")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert len(lookups) == looked_up  # fifty guesses, not one of them looked up
    assert "pwt_guess" not in refused.text  # a token is never echoed back
    async with from_address("203.0.113.7", signed_in_before) as colleague:
        assert (await colleague.get("/organisations")).status_code == 200  # already signed in: carries on
    async with from_address("203.0.113.7", first_used_later) as newcomer:
        assert (await newcomer.get("/organisations")).status_code == 429  # first seen while throttled: waits
    async with from_address("198.51.100.2", first_used_later) as elsewhere:
        assert (await elsewhere.get("/organisations")).status_code == 200


def test_a_guesser_who_keeps_on_stays_refused_and_holds_no_more_than_the_limit(monkeypatch: Any) -> None:
    import pathways.policy.access as access

    clock = [1000.0]
    monkeypatch.setattr(access.time, "monotonic", lambda: clock[0])
    limiter = access.FailedSignIns(limit=10, window=60.0)
    refused = 0
    for _ in range(600):  # one bad token every second for ten minutes
        try:
            limiter.check("203.0.113.7")
        except Exception as err:
            assert getattr(err, "status_code", None) == 429
            refused += 1
        limiter.failed("203.0.113.7")
        clock[0] += 1.0
    assert refused == 590  # the first ten answered, every later one refused
    assert len(limiter._failures["203.0.113.7"]) == 10
    clock[0] += 61.0
    limiter.check("203.0.113.7")  # a minute of quiet, and the address may try again
