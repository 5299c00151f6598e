"""Two partners' systems written in Node.js from the exported AsyncAPI document and the
README alone (tests/partner_node/partner.mjs), run at once against the platform as
`pathways up` secures it: each with its own credentials file, every subject taken from a
channel's address, every command, reply and event checked against the document's schemas.
Each enrols a participant, registers a co-producer, schedules and delivers a session (one
batch) and claims an expense, which the commissioner approves; each hears all of its own
facts on the follow channel, and none of the other's."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from pathways.jetstream.contract import export_schemas
from pathways.runtime.follow import ensure_following
from pathways.runtime.service import all_schemas, discover

from tests.conftest import CommandClient, ProgrammeSetup, npm_install, running, setup_programme
from tests.test_follow_examples import creds_file
from tests.test_nats_permissions import Secured, secured

__all__ = ["secured"]  # the fixture used here

PARTNER = Path(__file__).resolve().parent / "partner_node" / "partner.mjs"
SERVICES = ["registry", "sessions", "payments"]
HEARD = {"ParticipantEnrolled", "CoProducerRegistered", "SessionScheduled", "SessionDelivered", "ExpenseClaimed",
         "ExpenseApproved"}
WITHIN = 25.0  # seconds for a partner's whole run (it gives itself 20)


async def partner(org: str, creds: Path, contract: str, s: ProgrammeSetup, commissioner: CommandClient,
                  where: Path) -> list[dict[str, Any]]:
    """Runs one partner's system to its end, approving its claim when it says it made one."""
    child = await asyncio.create_subprocess_exec(
        "node", str(where / "partner.mjs"), str(where / "schemas" / "asyncapi.json"), str(creds),
        s.programme_id, contract, cwd=where, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    lines: list[dict[str, Any]] = []
    deadline = time.monotonic() + WITHIN
    try:
        while not lines or "done" not in lines[-1]:
            raw = await asyncio.wait_for(child.stdout.readline(), max(deadline - time.monotonic(), 0.1))
            if not raw:
                await asyncio.wait_for(child.wait(), 5)
                raise AssertionError(f"{org}'s system ended ({child.returncode}): "
                                     f"{(await child.stderr.read()).decode()[-3000:]}\n{lines}")
            lines.append(json.loads(raw))
            if "claimed" in lines[-1]:
                reply = await commissioner.send(s.commissioner, "ApproveExpense", lines[-1]["claimed"], context="payments")
                assert reply["status"] == "accepted", reply
        assert await asyncio.wait_for(child.wait(), 5) == 0, (await child.stderr.read()).decode()[-3000:]
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    return lines


@pytest.mark.parametrize("secured", [SERVICES], indirect=True)
async def test_two_partners_written_from_the_asyncapi_document_each_hear_only_their_own(
    secured: Secured, tmp_path: Path
) -> None:
    export_schemas(all_schemas(discover()), tmp_path / "schemas")
    (tmp_path / "partner.mjs").write_text(PARTNER.read_text())  # beside its node_modules
    creds = {org: creds_file(secured, org, tmp_path) for org in ("org-a", "org-b")}
    async with AsyncExitStack() as stack:
        installing = asyncio.create_task(npm_install(tmp_path, "nats@2", "ajv@8", "ajv-formats@3", within=120))
        stack.callback(installing.cancel)  # (a no-op once installed) npm is stopped if the setup fails
        for name in SERVICES:
            await stack.enter_async_context(running(discover()[name], secured.service_endpoint(name), tmp_path))
        platform = await secured.endpoint.connection.connect("commissioner")
        stack.push_async_callback(platform.close)
        commissioner = CommandClient(platform)  # the operator and the commissioner, from Python
        s = await setup_programme(commissioner, partners=("org-a", "org-b"))
        await ensure_following(platform, [s.partner_a, s.partner_b])  # what `pathways org add` does
        await installing
        async with asyncio.TaskGroup() as both:  # at once; if one fails, the other is stopped too
            runs = [both.create_task(partner(org, creds[org], contract, s, commissioner, tmp_path))
                    for org, contract in [(s.partner_a, "contract-0"), (s.partner_b, "contract-1")]]

    a, b = (run.result() for run in runs)
    for org, other, lines in [(s.partner_a, s.partner_b, a), (s.partner_b, s.partner_a, b)]:
        steps = [line for line in lines if "step" in line]
        assert [line["step"] for line in steps] == ["EnrolParticipant", "RegisterCoProducer", "batch", "ClaimExpense"]
        assert all(line["subject"].startswith(f"pathways.cmd.{org}.") for line in steps), steps
        replies = [r for line in steps for r in line["reply"].get("replies", [line["reply"]])]
        assert len(replies) == 5 and all(r["status"] == "accepted" for r in replies), replies
        events = [line["event"] for line in lines if "event" in line]
        heard = {e["type"].rsplit(".", 1)[1] for e in events}
        assert HEARD <= heard, sorted(HEARD - heard)
        assert all(e["subject"].split(".")[3] == org for e in events), [e["subject"] for e in events]
        # The subject says whose fact it is; the envelope's `organisation`, who sent the command
        # (the commissioner approved the claim, the operator registered the partner).
        assert all(e["organisation"] in {org, s.commissioner, "operator"} for e in events), events
        own = {e["type"].rsplit(".", 1)[1]: e for e in events}
        assert {own[kind]["organisation"] for kind in HEARD - {"ExpenseApproved"}} == {org}
        assert own["ExpenseApproved"]["organisation"] == s.commissioner
        assert own["ParticipantEnrolled"]["data"]["participant_id"] == f"{org}-P-0001"
        assert "Fictitious" not in json.dumps(events) and "Madeup" not in json.dumps(events)  # sealed, never in the clear
        assert own["ExpenseApproved"]["data"]["claim_id"] == f"{org}-C-01"
        assert not any(other in json.dumps(e) for e in events), "heard something of the other partner's"
        assert lines[-1] == {"done": {"heard": [e["type"].rsplit(".", 1)[1] for e in events]}}
    ids_a = {line["event"]["id"] for line in a if "event" in line}
    ids_b = {line["event"]["id"] for line in b if "event" in line}
    assert ids_a and ids_b and not ids_a & ids_b
