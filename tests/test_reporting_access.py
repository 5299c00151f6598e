"""Reporting over HTTP, signed in: a partner's token never returns another partner's rows
on any endpoint, page or export; who may open which programme; revocation at once; and the
exports carry exactly the rows of the tables they export."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from openpyxl import load_workbook
from pathways.policy.access import TokenStore
from pathways.runtime.host import ServiceHost
from pathways.testing.servers import NatsEndpoint, wheel_nats_server
from pathways_reporting.tables import TABLES

from tests.conftest import CommandClient, ProgrammeSetup, unique
from tests.test_reporting import caught_up, small_programme


def http(host: ServiceHost, token: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=host.http_app()), base_url="http://reporting", headers=headers)


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsEndpoint]:
    """A server of this module's own. Every test here starts five services on fresh databases,
    whose views and read models replay the stream from its start: on the session's shared
    server that is every earlier test's events, which took most of each test's setup."""
    with wheel_nats_server(tmp_path_factory.mktemp("nats")) as endpoint:
        yield endpoint


@pytest.fixture
def reporting(reporting_on_both_databases: ServiceHost) -> ServiceHost:
    return reporting_on_both_databases


@pytest.fixture
async def programme(
    registry: ServiceHost, sessions: ServiceHost, payments: ServiceHost, evaluation: ServiceHost, reporting: ServiceHost,
    client: CommandClient, nats_client: Client,
) -> AsyncIterator[tuple[ProgrammeSetup, dict[str, str], dict[str, str]]]:
    """The hand-built programme, caught up in reporting, with a token for each organisation."""
    s, people = await small_programme(client)
    await caught_up(reporting, nats_client)
    store = TokenStore(nats_client)
    tokens = {
        "commissioner": await store.issue(s.commissioner, "commissioner"),
        "a": await store.issue(s.partner_a, "partner"),
        "b": await store.issue(s.partner_b, "partner"),
        "evaluator": await store.issue(s.evaluator, "evaluator"),
    }
    yield s, people, tokens


def every_path(programme_id: str) -> list[str]:
    """Every reporting endpoint, page and export that shows a programme's rows."""
    base = f"/programmes/{programme_id}"
    return [
        "/programmes", f"{base}/summary", f"{base}/tables", f"{base}/360giving.json",
        *(f"{base}/tables/{t}" for t in TABLES), *(f"{base}/exports/{t}.{fmt}" for t in TABLES for fmt in ("csv", "xlsx")),
        "/dashboard", f"/dashboard/programmes/{programme_id}", f"/dashboard/programmes/{programme_id}/report",
    ]


def readable(response: httpx.Response) -> str:
    """What a person could read in the response, spreadsheets included."""
    if response.headers["content-type"].startswith("application/vnd.openxmlformats"):
        sheet = load_workbook(io.BytesIO(response.content)).active
        assert sheet is not None
        return "\n".join(" ".join(str(v) for v in row) for row in sheet.iter_rows(values_only=True))
    return response.text


async def test_a_partner_token_never_returns_another_partners_rows(
    reporting: ServiceHost, programme: tuple[ProgrammeSetup, dict[str, str], dict[str, str]],
) -> None:
    s, p, tokens = programme
    # p1 and p3 are only with partner A, p4 only with B, p2 with both.
    secrets_of_a = [s.partner_a, p["p1"], p["p3"], "contract-0"]
    async with http(reporting, tokens["b"]) as b, http(reporting, tokens["commissioner"]) as commissioner:
        seen_by_b = ""
        for path in every_path(s.programme_id):
            response = await b.get(path, follow_redirects=True)
            assert response.status_code == 200, (path, response.text[:300])
            seen_by_b += readable(response)
            for secret in secrets_of_a:
                assert secret not in readable(response), (path, secret)
        # B does see its own rows: the checks above look where A's rows would be.
        assert p["p4"] in seen_by_b and "contract-1" in seen_by_b
        summary = (await b.get(f"/programmes/{s.programme_id}/summary")).json()
        assert summary["participants"]["unique"] == 2 and summary["sessions"]["delivered"] == 1
        # Asking for A's rows by name is refused everywhere, pages and exports included.
        for path in every_path(s.programme_id)[1:]:
            if path.startswith("/dashboard/programmes") or "/programmes/" in path:
                response = await b.get(path, params={"partner": s.partner_a})
                assert response.status_code == 403, path
        # The commissioner sees both partners.
        whole = readable(await commissioner.get(f"/programmes/{s.programme_id}/exports/participants.csv"))
        assert p["p1"] in whole and p["p4"] in whole and s.partner_a in whole
        grants = (await commissioner.get(f"/programmes/{s.programme_id}/360giving.json")).json()["grants"]
        assert len(grants) == 2
        assert len((await b.get(f"/programmes/{s.programme_id}/360giving.json")).json()["grants"]) == 1


async def test_who_may_open_a_programme_and_revocation_is_immediate(
    reporting: ServiceHost, programme: tuple[ProgrammeSetup, dict[str, str], dict[str, str]], nats_client: Client,
) -> None:
    s, _, tokens = programme
    store = TokenStore(nats_client)
    stranger_commissioner = await store.issue(unique("other-commissioner"), "commissioner")
    stranger_partner = await store.issue(unique("other-partner"), "partner")
    summary = f"/programmes/{s.programme_id}/summary"
    async with http(reporting) as anonymous:
        assert (await anonymous.get(summary)).status_code == 401
        assert (await anonymous.get(summary, headers={"Authorization": "Bearer pwt_made-up"})).status_code == 401
        page = await anonymous.get(f"/dashboard/programmes/{s.programme_id}")
        assert page.status_code == 303 and page.headers["location"] == "/login"
    for token in (stranger_commissioner, stranger_partner):
        async with http(reporting, token) as other:
            # Indistinguishable from a programme that does not exist.
            assert (await other.get(summary)).status_code == 404
            assert (await other.get("/programmes/no-such-programme/summary")).status_code == 404
            assert (await other.get(f"/dashboard/programmes/{s.programme_id}")).status_code == 404
            assert (await other.get("/programmes")).json() == []
    async with http(reporting, tokens["evaluator"]) as evaluator:
        assert (await evaluator.get(summary)).json()["sessions"]["delivered"] == 3
    async with http(reporting, tokens["b"]) as b:
        assert (await b.get(summary)).status_code == 200
        assert await store.revoke(s.partner_b) == 1
        assert (await b.get(summary)).status_code == 401


async def test_exports_hold_exactly_the_rows_of_their_table_with_the_same_filters(
    reporting: ServiceHost, programme: tuple[ProgrammeSetup, dict[str, str], dict[str, str]],
) -> None:
    s, _, tokens = programme
    base = f"/programmes/{s.programme_id}"
    async with http(reporting, tokens["commissioner"]) as commissioner:
        for params in ({}, {"from": "2026-01-01", "to": "2026-01-31"}, {"partner": s.partner_b}):
            for name in TABLES:
                table = (await commissioner.get(f"{base}/tables/{name}", params=params)).json()
                as_text = [["" if v is None else str(v) for v in row] for row in table["rows"]]
                response = await commissioner.get(f"{base}/exports/{name}.csv", params=params)
                assert response.headers["content-disposition"] == f'attachment; filename="{s.programme_id}-{name}.csv"'
                assert list(csv.reader(io.StringIO(response.text))) == [table["columns"], *as_text], name
                xlsx = await commissioner.get(f"{base}/exports/{name}.xlsx", params=params)
                workbook = load_workbook(io.BytesIO(xlsx.content))
                assert workbook.active is not None
                cells: list[Any] = list(workbook.active.iter_rows(values_only=True))
                assert list(cells[0]) == table["columns"] and len(cells) - 1 == len(table["rows"]), name
                assert [[_plain(v) for v in row] for row in cells[1:]] == [[_plain(v) for v in row] for row in table["rows"]]
        first = (await commissioner.get(f"{base}/tables/sessions", params={"limit": 1})).json()
        assert len(first["rows"]) == 1 and first["total"] == 4  # a page, and the count of everything
        january = (await commissioner.get(f"{base}/tables/sessions", params={"from": "2026-01-01", "to": "2026-01-31"})).json()
        assert [r[0] for r in january["rows"]] == ["2026-01-13"]
        claims = (await commissioner.get(f"{base}/tables/claims")).json()
        amounts = sorted(float(r[claims["columns"].index("amount_gbp")]) for r in claims["rows"])
        assert amounts == [5.0, 8.0, 30.0, 1000.0]
        assert (await commissioner.get(f"{base}/tables/no-such-table")).status_code == 404
        assert (await commissioner.get(f"{base}/summary", params={"from": "2026-02-01", "to": "2026-01-01"})).status_code == 422


def _plain(value: Any) -> Any:
    """Spreadsheet cells and JSON agree on numbers, not on their Python types."""
    if value is None or isinstance(value, bool):
        return value
    try:
        return round(float(value), 3)
    except (TypeError, ValueError):
        return str(value)


async def test_signing_in_to_the_dashboard(
    reporting: ServiceHost, programme: tuple[ProgrammeSetup, dict[str, str], dict[str, str]],
) -> None:
    s, _, tokens = programme
    async with http(reporting) as browser:
        refused = await browser.post("/login", data={"token": "pwt_not-a-token"})
        assert refused.status_code == 401 and "not valid" in refused.text
        signed_in = await browser.post("/login", data={"token": tokens["commissioner"]})
        assert signed_in.status_code == 303
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        page = await browser.get("/dashboard", follow_redirects=True)
        assert page.status_code == 200 and str(page.url).endswith(f"/dashboard/programmes/{s.programme_id}")
        assert 'data-figure="participants">4<' in page.text and 'data-figure="sessions">3<' in page.text
        assert "<svg" in page.text and "<script src" not in page.text  # charts drawn inline, nothing fetched
        report = await browser.get(f"/dashboard/programmes/{s.programme_id}/report")
        assert "supported <strong>4</strong> participants" in report.text
        assert "from\n    17.00 to 21.23" in report.text.replace("  ", " ") or "17.00 to 21.23" in report.text
        out = await browser.post("/logout")
        assert out.status_code == 303
        assert (await browser.get("/dashboard")).status_code == 303


async def test_hostile_numbers_and_days_in_a_query_are_bad_input_never_a_server_error(
    reporting: ServiceHost, programme: tuple[ProgrammeSetup, dict[str, str], dict[str, str]],
) -> None:
    """`?limit=` of 2^63 reached SQLite as a 500, and `?to=0` was read as 1970-01-01 (a Unix
    time): a limit is bounded and a day is YYYY-MM-DD only, on the API and the dashboard."""
    s, _, tokens = programme
    base = f"/programmes/{s.programme_id}"
    async with http(reporting, tokens["commissioner"]) as commissioner:
        for value in ["9223372036854775808", "18446744073709551616", "1000001", "0", "-1", "1e3", "9" * 400]:
            answer = await commissioner.get(f"{base}/tables/sessions", params={"limit": value})
            assert answer.status_code == 422, (value, answer.status_code)
        for day in ["0", "1", "20260131", "2026-W05-1", "2026-1-5", "1e9", "2026-02-30", "9" * 40]:
            for params in ({"to": day}, {"from": day}):
                assert (await commissioner.get(f"{base}/summary", params=params)).status_code == 422, params
                assert (await commissioner.get(f"{base}/tables/sessions", params=params)).status_code == 422, params
                page = await commissioner.get(f"/dashboard/programmes/{s.programme_id}", params=params)
                assert page.status_code == 422, (params, page.status_code)
        assert (await commissioner.get(f"{base}/summary", params={"to": "2026-01-31"})).status_code == 200
