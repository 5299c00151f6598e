"""`pathways org` as an operator runs it, against the embedded server's real permission
configuration: an organisation added gets credentials that work only as itself, new
credentials replace the old at once, and revocation cuts it off, all without a restart."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
from pathways.policy.access import TokenStore
from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.natsserver import Credentials, EmbeddedNatsServer
from pathways.runtime.service import discover
from pathways.testing.servers import NatsEndpoint

from tests.conftest import running
from tests.test_nats_permissions import command


@dataclass
class Operator:
    home: Path
    server: EmbeddedNatsServer
    platform: ConnectionInfo

    async def org(self, *args: str) -> subprocess.CompletedProcess[str]:
        """One `pathways org …` process (awaited: the registry it talks to runs in this loop)."""
        env = os.environ | {"PATHWAYS_HOME": str(self.home), "PATHWAYS_NATS_URL": self.platform.nats_url,
                            "PATHWAYS_NATS_USER": self.platform.user or "",
                            "PATHWAYS_NATS_PASSWORD": self.platform.password or ""}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pathways.runtime.cli.main", "org", *args, env=env, cwd=self.home,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode is not None
        return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


@pytest.fixture
async def operator(tmp_path: Path) -> AsyncIterator[Operator]:
    """What `pathways up` runs: the server with organisations' users, the platform's credentials."""
    home = tmp_path / "home"
    credentials = Credentials.load_or_create(home / "credentials.json")
    server = EmbeddedNatsServer(home, port=None, credentials=credentials, organisations=True)
    server.start()
    platform = ConnectionInfo(server.url, credentials.user, credentials.password)
    try:
        async with running(discover()["registry"], NatsEndpoint(platform, "wheel", server), tmp_path):
            yield Operator(home, server, platform)
    finally:
        server.stop()


async def connect(creds: dict[str, Any], closed: asyncio.Event | None = None) -> nats.NATS:
    async def on_closed() -> None:
        if closed is not None:
            closed.set()

    n = creds["nats"]
    return await nats.connect(n["url"], user=n["user"], password=n["password"], inbox_prefix=n["inbox_prefix"],
                              allow_reconnect=False, connect_timeout=5, closed_cb=on_closed)


async def test_add_rotate_and_revoke_an_organisation_without_a_restart(operator: Operator) -> None:
    added = await operator.org("add", "harbour-arts", "--role", "partner", "--name", "Harbour Arts CIC", "-o", "harbour.json")
    assert added.returncode == 0, added.stderr
    assert "running NATS server has them now" in added.stdout
    path = operator.home / "harbour.json"
    assert path.stat().st_mode & 0o777 == 0o600
    creds = json.loads(path.read_text())
    assert (creds["organisation_id"], creds["role"], creds["nats"]["user"]) == ("harbour-arts", "partner", "org-harbour-arts")
    register = json.loads((operator.home / "organisations.json").read_text())
    assert creds["nats"]["password"] not in json.dumps(register) and register["harbour-arts"]["password_bcrypt"].startswith("$2")
    assert creds["nats"]["password"] not in (operator.home / "authorization.conf").read_text()
    # Secrets stay in the file handed to the partner: never in what the CLI prints or the server logs.
    for secret in (creds["nats"]["password"], creds["http"]["token"]):
        assert secret not in added.stdout + added.stderr
        assert secret not in (operator.home / "nats-server.log").read_text()

    platform = await operator.platform.connect("check")
    tokens = TokenStore(platform)
    try:
        caller = await tokens.caller(creds["http"]["token"])
        assert caller is not None and (caller.organisation_id, caller.role) == ("harbour-arts", "partner")
        closed = asyncio.Event()
        partner = await connect(creds, closed)
        reply = json.loads((await partner.request("pathways.cmd.harbour-arts.registry.EnrolParticipant",
                                                  command("harbour-arts"), timeout=10)).data)
        assert reply["code"] == "not_found"  # it reaches the registry as itself (there is no such programme)
        # Its own facts arrive where its file says, from the consumer `org add` made for it.
        followed: list[str] = []

        async def heard(msg: Any) -> None:
            followed.append(msg.subject)

        await partner.subscribe(creds["follow"]["subscribe"], cb=heard)
        await platform.jetstream().publish("pathways.evt.prog-x.harbour-arts.registry.pt-9", b'{"made": "up"}',
                                           headers={"Nats-Msg-Id": "follow-check"})
        for _ in range(100):
            if followed and followed[-1].endswith("pt-9"):
                break
            await asyncio.sleep(0.05)
        # Everything on its own subjects, in order: its registration, the record of its refused
        # command, what was just stored; nothing of anyone else's.
        assert followed and followed[-1] == "pathways.evt.prog-x.harbour-arts.registry.pt-9", followed
        assert all(subject.split(".")[3] == "harbour-arts" for subject in followed), followed
        with pytest.raises(nats.errors.TimeoutError):
            await partner.request("pathways.cmd.operator.registry.RegisterOrganisation", command("operator"), timeout=2)
        again = await operator.org("add", "harbour-arts", "--role", "partner", "-o", "again.json")
        assert again.returncode == 0  # already registered is fine: new credentials, the old ones end
        await asyncio.wait_for(closed.wait(), 10)
        creds = json.loads((operator.home / "again.json").read_text())
        closed = asyncio.Event()
        partner = await connect(creds, closed)

        rotated = await operator.org("credentials", "harbour-arts", "-o", "rotated.json")
        assert rotated.returncode == 0 and "Earlier ones no longer work" in rotated.stdout, rotated.stderr
        await asyncio.wait_for(closed.wait(), 10)  # the old password's connection is closed by the server
        with pytest.raises(Exception, match=r"[Aa]uthorization"):
            await connect(creds)
        assert await tokens.caller(creds["http"]["token"]) is None
        fresh = json.loads((operator.home / "rotated.json").read_text())
        closed = asyncio.Event()
        partner = await connect(fresh, closed)

        revoked = await operator.org("revoke", "harbour-arts")
        assert revoked.returncode == 0 and "revoked" in revoked.stdout
        await asyncio.wait_for(closed.wait(), 10)
        assert await tokens.caller(fresh["http"]["token"]) is None
        listed = await operator.org("list")
        assert "harbour-arts" not in listed.stdout
    finally:
        await platform.close()
    # Independent of each other (the last two are refused before anything is written): side by side.
    made, refused, missing = await asyncio.gather(
        operator.org("services", "--env-file", "services.env"),
        operator.org("add", "not a valid id", "--role", "partner", "-o", "x.json"),
        operator.org("credentials", "nobody", "-o", "x.json"),
    )
    assert made.returncode == 0 and "running NATS server has them now" in made.stdout, made.stderr
    env_file = operator.home / "services.env"
    assert env_file.stat().st_mode & 0o777 == 0o600
    passwords = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    service = await nats.connect(operator.server.url, user="svc-registry", password=passwords["PATHWAYS_NATS_PASSWORD_REGISTRY"],
                                 allow_reconnect=False, connect_timeout=5)
    await service.close()
    assert refused.returncode == 2 and "not a valid organisation id" in refused.stderr
    assert missing.returncode == 2
