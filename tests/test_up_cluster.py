"""`pathways up --nodes 3`: a fresh start on a three-node cluster of embedded servers makes
every stream and bucket with three copies (R3); kill -9 of the node leading the history,
with the platform serving, and commands are accepted again without restarting a service,
the node is started again and `pathways status` counts it; an organisation added while
the cluster runs can connect through every node (each reloaded its authorization)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import nats
import nats.errors
from pathways.core.subjects import STREAM_NAME
from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.natsserver import free_port
from pathways.runtime.storage import STREAMS

from tests.conftest import CommandClient, enrolment, setup_programme, unique
from tests.test_cluster import led
from tests.test_supervision import PATHWAYS, accepts_an_enrolment, children, status, until


def nats_servers_of(up: subprocess.Popen[str], home: Path) -> dict[str, int]:
    """Each node's name (its server_name, as stream placement names it) and process."""
    found = {}
    for pid in children(up.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if cmdline[0].endswith("nats-server"):
            config = Path(cmdline[cmdline.index("-c") + 1]).name  # nats-server.conf, nats-server-2.conf …
            suffix = config.removeprefix("nats-server").removesuffix(".conf")
            found[f"pathways{suffix}"] = pid
    return found


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([PATHWAYS, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, text=True)


def running(pids: set[int]) -> bool:
    return any(Path(f"/proc/{pid}").exists() for pid in pids)


async def test_a_fresh_up_on_three_nodes_makes_r3_and_survives_the_loss_of_the_leader(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = os.environ | {"PATHWAYS_HOME": str(home), "NATS_PORT": str(free_port()), "COLUMNS": "250"}
    up = start(env, "up", "--nodes", "3", "--no-demo")
    seen: set[int] = set()  # every nats-server it ran
    try:
        await until(lambda: asyncio.sleep(0, (home / "connection.json").exists()), "pathways up is ready", within=240)
        connection = ConnectionInfo.read(home / "connection.json")
        urls = connection.nats_url.split(",")
        assert len(urls) == 3
        assert (home / "nats.port").read_text().split() == [u.rsplit(":", 1)[1] for u in urls]  # kept for next time
        nc = await connection.connect("up-cluster-test")
        for stream in STREAMS:  # nothing asked for: the cluster's size
            assert (await led(nc, stream)).replicas == 3, stream

        client = CommandClient(nc)
        s = await setup_programme(client)
        assert (await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, unique("p"))))["status"] \
            == "accepted"
        before = nats_servers_of(up, home)
        assert len(before) == 3, before
        seen |= set(before.values())
        leader = (await led(nc, STREAM_NAME)).leader
        assert leader in before, (leader, before)
        os.kill(before[leader], signal.SIGKILL)

        await until(lambda: accepts_an_enrolment(client, s), "commands are accepted with the leader's node killed",
                    within=90)
        await until(lambda: asyncio.sleep(0, nats_servers_of(up, home).get(leader) not in (None, before[leader])),
                    "the killed node is started again", within=60)
        assert f"{leader} started again 1" in status(home)
        seen |= set(nats_servers_of(up, home).values())

        # An organisation added now is let in by every node, not only the first.
        added = start(env, "org", "add", "harbour-arts", "--role", "partner", "-o", str(tmp_path / "harbour.json"))
        assert await asyncio.to_thread(added.wait, 60) == 0
        creds = json.loads((tmp_path / "harbour.json").read_text())["nats"]
        for url in urls:
            await until(lambda url=url: _connects(url, creds), f"the organisation connects through {url}", within=30)
        await nc.close()
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
    assert seen and not running(seen)  # no node left running


async def _connects(url: str, creds: dict[str, str]) -> bool:
    try:
        partner = await nats.connect(url, user=creds["user"], password=creds["password"],
                                     inbox_prefix=creds["inbox_prefix"], allow_reconnect=False, connect_timeout=5)
    except (nats.errors.Error, OSError):
        return False
    await partner.close()
    return True
