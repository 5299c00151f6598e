"""An auditor's journey with `pathways audit`, as separate processes against the audit
service's real HTTP port and the real stream: keep a checkpoint, come back later for an
inclusion proof and a consistency proof, check them offline with nothing but the key,
verify the whole history, and ask who looked at a person's records."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nats.aio.client import Client
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.access import TokenStore
from pathways.runtime.natsserver import free_port
from pathways.runtime.service import discover
from pathways.testing.servers import NatsEndpoint

from tests.conftest import CommandClient, enrolment, running, setup_programme, unique


@dataclass
class Desk:
    """Where the auditor works: a folder, an environment pointing at the platform."""

    folder: Path
    env: dict[str, str]
    nc: Client

    async def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """One CLI process. Awaited, not blocking: the audit service it calls runs in this event loop."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pathways.runtime.cli.main", "audit", *args, env=self.env | env, cwd=self.folder,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode is not None
        return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


@pytest.fixture
async def desk(own_nats_server: NatsEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Desk]:
    key = tmp_path / "operator" / "ledger.key"
    monkeypatch.setenv("PATHWAYS_LEDGER_KEY", str(key))
    monkeypatch.setenv("PATHWAYS_LEDGER_CHECKPOINT_SECONDS", "0.2")
    services = discover()
    nc = await own_nats_server.connection.connect("audit-cli-test")
    port = free_port()
    async with running(services["registry"], own_nats_server, tmp_path), \
            running(services["audit"], own_nats_server, tmp_path, http_port=port):
        folder = tmp_path / "auditor"
        folder.mkdir()
        (folder / "ledger.vkey").write_text(key.with_suffix(".vkey").read_text())  # handed over out of band
        connection = own_nats_server.connection
        env = os.environ | {
            "PATHWAYS_NATS_URL": connection.nats_url, "PATHWAYS_NATS_USER": connection.user or "",
            "PATHWAYS_NATS_PASSWORD": connection.password or "", "PATHWAYS_AUDIT_URL": f"http://127.0.0.1:{port}",
            "PATHWAYS_TOKEN": await TokenStore(nc).issue(unique("auditor"), "auditor"),
            "PATHWAYS_LEDGER_VKEY": str(folder / "ledger.vkey"), "PATHWAYS_HOME": str(folder),
        }
        yield Desk(folder, env, nc)
    await nc.close()


async def history(nc: Client, people: int) -> str:
    """Some made-up enrolments; returns the last event's id once a checkpoint covers it."""
    client = CommandClient(nc)
    s = await setup_programme(client)
    for i in range(people):
        reply = await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, f"pt-{i}"))
        assert reply["status"] == "accepted", reply
    return str(reply["event_ids"][0])


async def signed_checkpoint(desk: Desk, name: str, covering: int) -> str:
    """`audit checkpoint -o`, repeated until the checkpoint covers `covering` events."""
    for _ in range(100):
        done = await desk.run("checkpoint", "-o", name)
        if done.returncode == 0 and int((desk.folder / name).read_text().split("\n")[1]) >= covering:
            return done.stderr
    raise AssertionError("no checkpoint covered the history")


async def test_an_auditors_journey_through_the_cli(desk: Desk) -> None:
    await history(desk.nc, 3)
    store = JetStreamEventStore(desk.nc)
    assert "Verified" in await signed_checkpoint(desk, "kept.txt", await store.last_sequence())

    event_id = await history(desk.nc, 4)
    await signed_checkpoint(desk, "latest.txt", await store.last_sequence())
    # Steps that need nothing from each other run side by side: each is a process of its
    # own, and most of its time is Python starting up.
    proved, consistent, made, rejected, who, anonymous = await asyncio.gather(
        desk.run("prove", event_id, "-o", "inclusion.json"),
        desk.run("consistency", "kept.txt", "-o", "consistency.json"),
        # Someone else's key: every checkpoint is refused and the history does not verify.
        desk.run("keygen", "-o", "impostor.key", "--origin", "pathways/ledger"),
        desk.run("rejections"),
        desk.run("reads", "pt-0"),
        desk.run("checkpoint", PATHWAYS_TOKEN=""),
    )
    assert proved.returncode == 0 and "Verified" in proved.stderr, proved.stderr
    assert json.loads((desk.folder / "inclusion.json").read_text())["event_id"] == event_id
    assert consistent.returncode == 0 and "is a prefix" in consistent.stderr, consistent.stderr
    assert made.returncode == 0 and (desk.folder / "impostor.key").stat().st_mode & 0o777 == 0o600
    assert rejected.returncode == 0
    assert who.returncode == 0 and "No recorded reads" in who.stdout
    assert anonymous.returncode == 2 and "auditor's token" in anonymous.stderr

    bundle = json.loads((desk.folder / "inclusion.json").read_text())
    bundle["leaf_index"] += 1
    (desk.folder / "wrong-index.json").write_text(json.dumps(bundle))
    checked, wrong, verified, made_again, refused, forged = await asyncio.gather(
        desk.run("check", "inclusion.json", "consistency.json", "kept.txt"),
        desk.run("check", "wrong-index.json"),
        desk.run("verify", "--checkpoint", "kept.txt", "--json"),
        desk.run("keygen", "-o", "impostor.key"),
        desk.run("verify", "--key", "impostor.vkey", "--no-ledger"),
        desk.run("check", "kept.txt", "--key", "impostor.vkey"),
    )
    assert checked.returncode == 0 and checked.stdout.count("OK") == 3, checked.stdout
    assert wrong.returncode == 1 and "FAIL" in wrong.stdout

    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] and report["ledger_compared"] and report["events"] >= await store.last_sequence() - 2
    assert report["checkpoints"] >= 2

    assert made_again.returncode == 2
    assert refused.returncode == 1 and "checkpoint-forged" in refused.stdout, refused.stdout + refused.stderr
    assert forged.returncode == 1
