"""schemathesis against every service's OpenAPI document, over real HTTP, with the token of
the organisation each service serves: generated requests, valid and hostile, must get no
server error and no response the document does not describe (status code, content type,
body schema), and every `$ref` in the document must resolve.

Bounded: a few examples per operation (fuzzing and stateful phases), two services at a
time, a time budget each. `PATHWAYS_SCHEMATHESIS_PHASES=coverage,fuzzing,stateful` and
`PATHWAYS_SCHEMATHESIS_EXAMPLES=50` run the longer sweep by hand."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from pathways.runtime.host import ServiceHost
from pathways.runtime.natsserver import free_port
from pathways.runtime.service import discover
from pathways.testing.servers import NatsEndpoint

from tests.conftest import CommandClient, ProgrammeSetup, enrolment, running, setup_programme, unique

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
PHASES = os.environ.get("PATHWAYS_SCHEMATHESIS_PHASES", "fuzzing,stateful")
EXAMPLES = os.environ.get("PATHWAYS_SCHEMATHESIS_EXAMPLES", "8")


def who(service: str, s: ProgrammeSetup) -> tuple[str, str]:
    """The organisation and role whose token each service's API is tried with."""
    return {
        "registry": (s.commissioner, "commissioner"), "reporting": (s.commissioner, "commissioner"),
        "sessions": (s.partner_a, "partner"), "payments": (s.partner_a, "partner"),
        "evaluation": (s.evaluator, "evaluator"), "audit": (unique("auditor"), "auditor"),
    }[service]


def config(token: str, organisation: str, s: ProgrammeSetup, participant: str) -> str:
    """A schemathesis.toml: the token, and path parameters that name things that exist, so
    that requests reach past 404 into the code that reads them."""
    parameters = {"programme_id": s.programme_id, "programme": s.programme_id, "organisation": organisation,
                  "participant_id": participant, "table": "sessions", "fmt": "csv", "event": "1"}
    lines = ['[warnings]', 'fail-on = ["unresolvable_reference"]', "", "[headers]",
             f'Authorization = "Bearer {token}"', "", "[parameters]"]
    lines += [f'"path.{name}" = "{value}"' for name, value in parameters.items() if name not in ("programme",)]
    return "\n".join(lines) + "\n"


async def ready(http: httpx.AsyncClient, base: str) -> None:
    for _ in range(200):
        with_answer = await http.get(f"{base}/readyz")
        if with_answer.status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{base} never became ready")


async def sweep(name: str, base: str, folder: Path) -> tuple[int, str, dict[str, Any]]:
    """One `schemathesis run`: its exit code, what it printed, and its JSON report."""
    report = folder / f"{name}.json"
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "--config-file", str(folder / f"{name}.toml"), "run", f"{base}/openapi.json",
        "--checks", CHECKS, "--phases", PHASES, "--max-examples", EXAMPLES, "--seed", "16", "--workers", "1",
        "--request-timeout", "20", "--report", "json", "--report-json-path", str(report),
        "--no-color", cwd=folder, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode is not None
    return process.returncode, out.decode(), json.loads(report.read_text()) if report.exists() else {}


@pytest.mark.timeout(600)
async def test_every_service_answers_schemathesis_within_its_documented_contract(
    own_nats_server: NatsEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATHWAYS_LEDGER_KEY", str(tmp_path / "keys" / "ledger.key"))
    services = discover()
    nc = await own_nats_server.connection.connect("schemathesis-setup")
    client = CommandClient(nc)
    async with AsyncExitStack() as stack:
        hosts: dict[str, ServiceHost] = {}
        for name in ("registry", "sessions", "payments", "evaluation", "reporting", "audit"):
            hosts[name] = await stack.enter_async_context(
                running(services[name], own_nats_server, tmp_path, http_port=free_port()))
        s = await setup_programme(client)
        participant = unique("pt")
        enrolled = await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, participant))
        assert enrolled["status"] == "accepted", enrolled
        bases: dict[str, str] = {}
        async with httpx.AsyncClient(timeout=10) as http:
            for name, host in hosts.items():
                assert host.tokens is not None
                organisation, role = who(name, s)
                token = await host.tokens.issue(organisation, role)
                (tmp_path / f"{name}.toml").write_text(config(token, organisation, s, participant))
                bases[name] = f"http://127.0.0.1:{host.http_port}"
                await ready(http, bases[name])
        two_at_a_time = asyncio.Semaphore(2)

        async def bounded(name: str) -> tuple[int, str, dict[str, Any]]:
            async with two_at_a_time:
                return await sweep(name, bases[name], tmp_path)

        results = dict(zip(bases, await asyncio.gather(*(bounded(n) for n in bases)), strict=True))
    await nc.close()
    figures = {}
    for name, (code, printed, report) in results.items():
        assert code == 0 and report.get("complete"), f"{name}: schemathesis found problems\n{printed[-6000:]}"
        operations, cases = report["operations"], report["test_cases"]
        # Every documented operation was tried (none skipped for a schema it could not read)...
        assert operations["tested"] == operations["selected"] > 0 and not operations["skipped"], (name, operations)
        # ...and nothing it sent got a server error or an answer outside the document.
        assert not report["failures"] and not report["errors"] and not cases["with_failures"], (name, report["failures"])
        assert cases["generated"] >= operations["tested"], (name, cases)
        figures[name] = f"{operations['tested']} operations, {cases['generated']} cases, {cases['with_failures']} failing"
    print(json.dumps(figures, indent=1))
