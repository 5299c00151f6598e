"""Cross-service test helpers: a registry service running in-process against the real
nats-server, a client that sends commands as a partner system would, and a programme
set up with made-up organisations."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats.errors
import pytest
from nats.aio.client import Client
from pathways.core.batch_wire import BATCH, batch_body
from pathways.core.commands import OPERATOR_ORGANISATION
from pathways.core.eventstore.base import StoredEvent
from pathways.core.readmodels import make_engine
from pathways.core.subjects import command_subject
from pathways.jetstream.store import JetStreamEventStore
from pathways.runtime.host import ServiceHost
from pathways.runtime.service import ServiceDefinition, discover
from pathways.testing.servers import NatsEndpoint
from sqlalchemy import Engine


@pytest.fixture(scope="session", autouse=True)
def child_processes_compile_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Many tests start `pathways` processes (the CLI, `pathways up` and its services), and
    each imports much the same few hundred modules. Where writing bytecode is turned off
    (PYTHONDONTWRITEBYTECODE), every one of them compiled all of those again, which took
    about half of each process's start. They share a bytecode cache of this session's
    instead, outside the source tree and the virtualenv, so nothing is written there."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        yield
        return
    with pytest.MonkeyPatch.context() as env:
        env.delenv("PYTHONDONTWRITEBYTECODE")
        env.setenv("PYTHONPYCACHEPREFIX", str(tmp_path_factory.mktemp("pycache")))
        yield


async def npm_install(where: Path, *packages: str, within: float = 300) -> None:
    """npm packages installed into `where` (its node_modules), for the tests that run Node.js
    as a partner's system or tool would: the AsyncAPI parser, the `nats` client, ajv."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed to run the Node.js parts of these tests (it is on this machine and CI's)")
    child = await asyncio.create_subprocess_exec(npm, "install", "--no-audit", "--no-fund", "--silent", *packages,
                                                 cwd=where)
    try:
        assert await asyncio.wait_for(child.wait(), within) == 0, f"npm install {' '.join(packages)} failed"
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class CommandClient:
    """Sends commands over NATS request-reply, exactly as a partner system does."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc

    async def send(
        self, org: str, command: str, data: dict[str, Any], *, key: str | None = None,
        context: str = "registry", body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        payload = body if body is not None else {
            "idempotency_key": key or uuid.uuid4().hex, "organisation": org, "actor": "tester", "data": data,
        }
        return await self.raw(org, command, json.dumps(payload).encode(), context=context)

    async def send_batch(self, org: str, commands: list[tuple[str, dict[str, Any], str]], *,
                         context: str = "registry") -> dict[str, Any]:
        """A command batch (pathways.jetstream.batch) of (command, data, idempotency key)."""
        return await self.raw(org, BATCH, batch_body(org, "tester", commands), context=context)

    async def raw(self, org: str, command: str, payload: bytes, *, context: str = "registry") -> dict[str, Any]:
        # "No responders" means no instance of the service is subscribed at this instant
        # (one is starting or restarting): a partner system waits briefly and sends the
        # same request again, which the idempotency key makes safe.
        for attempt in range(10):
            try:
                msg = await self.nc.request(command_subject(org, context, command), payload, timeout=30)
                break
            except nats.errors.NoRespondersError:
                if attempt == 9:
                    raise
                await asyncio.sleep(0.2)
        reply: dict[str, Any] = json.loads(msg.data)
        return reply


@asynccontextmanager
async def running(service: ServiceDefinition, nats: NatsEndpoint, directory: Path, **options: Any) -> AsyncIterator[ServiceHost]:
    """One service in-process against the real nats-server, with its own SQLite file."""
    options.setdefault("database_url", f"sqlite:///{directory / service.name}.db")
    host = ServiceHost(service, nats.connection, **options)
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


def service_fixture(name: str) -> Any:
    """A fixture running the named service in-process for one test."""

    @pytest.fixture(name=name)
    async def fixture(nats_server: NatsEndpoint, tmp_path: Path) -> AsyncIterator[ServiceHost]:
        async with running(discover()[name], nats_server, tmp_path) as host:
            yield host

    return fixture


registry = service_fixture("registry")
sessions = service_fixture("sessions")
payments = service_fixture("payments")
evaluation = service_fixture("evaluation")
reporting = service_fixture("reporting")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def reporting_on_both_databases(
    request: pytest.FixtureRequest, nats_server: NatsEndpoint, tmp_path: Path
) -> AsyncIterator[ServiceHost]:
    """The reporting service on SQLite, and on a fresh PostgreSQL database when one is available."""
    url = request.getfixturevalue("fresh_postgres") if request.param == "postgres" else f"sqlite:///{tmp_path / 'reporting.db'}"
    async with running(discover()["reporting"], nats_server, tmp_path, database_url=url) as host:
        yield host


@pytest.fixture
async def client(nats_client: Client) -> CommandClient:
    return CommandClient(nats_client)


@dataclass
class ProgrammeSetup:
    programme_id: str
    commissioner: str
    partner_a: str
    partner_b: str
    evaluator: str


async def setup_programme(client: CommandClient, budget_pence: int = 10_000_000,
                          partners: tuple[str, str] | None = None, programme_id: str | None = None) -> ProgrammeSetup:
    """One commissioner, two commissioned partners and an evaluator (all made up); the
    partners' ids given where they must be ones the NATS server knows (tests.test_nats_permissions)."""
    a, b = partners or (unique("partner-a"), unique("partner-b"))
    s = ProgrammeSetup(programme_id or unique("prog"), unique("commissioner"), a, b, unique("evaluator"))
    for org, name, kind in [
        (s.commissioner, "Catalyst Test Commissioning", "commissioner"),
        (s.partner_a, "Archery Together CIC", "delivery_partner"),
        (s.partner_b, "Sound Studio Collective", "delivery_partner"),
        (s.evaluator, "Independent Evaluators Ltd", "evaluator"),
    ]:
        reply = await client.send(OPERATOR_ORGANISATION, "RegisterOrganisation", {"organisation_id": org, "name": name,
                                                                                  "kind": kind})
        assert reply["status"] == "accepted", reply
    reply = await client.send(s.commissioner, "LaunchProgramme", {
        "programme_id": s.programme_id, "name": "Pathways to Independence (test)",
        "aims": ["Supporting patients to connect with communities"],
        "starts_on": "2025-10-01", "ends_on": "2026-09-30", "budget_pence": budget_pence,
    })
    assert reply["status"] == "accepted", reply
    for i, partner in enumerate((s.partner_a, s.partner_b)):
        reply = await client.send(s.commissioner, "CommissionPartner", {
            "programme_id": s.programme_id, "contract_id": f"contract-{i}", "partner_id": partner,
            "budget_pence": budget_pence // 4, "activities": ["soft archery", "music production"],
            "starts_on": "2025-10-01", "ends_on": "2026-09-30",
        })
        assert reply["status"] == "accepted", reply
    return s


def enrolment(programme_id: str, participant_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "programme_id": programme_id, "participant_id": participant_id, "setting": "ward",
        "referral_source": "clinical_team", "consent_given": True, "enrolled_on": "2025-11-03",
    } | overrides


async def appended_since(nc: Client, before: int) -> tuple[list[StoredEvent], list[StoredEvent]]:
    """(domain events, audit records) appended after sequence `before`. A rejected command
    appends no domain event, but its rejection is recorded for the auditors."""
    store = JetStreamEventStore(nc)
    last = await store.last_sequence()
    found = [e async for e in store.read_all(before + 1, last)] if last > before else []
    audit = [e for e in found if e.subject.split(".")[4] == "audit"]
    return [e for e in found if e not in audit], audit


async def signed_in(host: ServiceHost, organisation: str, role: str) -> httpx.AsyncClient:
    """An HTTP client of the service's API, signed in as the organisation with that role."""
    assert host.tokens is not None
    token = await host.tokens.issue(organisation, role)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=host.http_app()), base_url="http://test",
                             headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], scope="module")
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A read-model database for a module's tests: a SQLite file, then the PostgreSQL server."""
    if request.param == "postgres":
        return make_engine(request.getfixturevalue("postgres"))
    return make_engine(f"sqlite:///{tmp_path_factory.mktemp('readmodel') / 'readmodel.db'}")
