"""`pathways up` keeps serving when one of its processes dies: kill -9 of a service, and of
nats-server, while the others serve; each is started again, `pathways status` counts the
restarts, and the next `pathways up` takes the same NATS port (credentials keep working)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import nats.errors
from pathways.runtime.connection import ConnectionInfo

from tests.conftest import CommandClient, enrolment, setup_programme, unique

PATHWAYS = str(Path(sys.executable).parent / "pathways")


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            out += [int(child), *children(int(child))]
    return out


def started_by(up: subprocess.Popen[str]) -> dict[str, int]:
    found = {}
    for pid in children(up.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if cmdline[0].endswith("nats-server"):
            found["nats-server"] = pid
        elif "serve" in cmdline:
            found[cmdline[cmdline.index("serve") + 1]] = pid
    return found


async def until(condition: Callable[[], Awaitable[bool]], what: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"{what} within {within:.0f} s"
        await asyncio.sleep(0.2)


async def accepts_an_enrolment(client: CommandClient, s: Any) -> bool:
    """One enrolment sent: accepted (False while the platform cannot answer yet)."""
    try:
        reply = await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, unique("p")))
    except (nats.errors.Error, TimeoutError):
        return False
    return bool(reply["status"] == "accepted")


def start_up(home: Path) -> subprocess.Popen[str]:
    env = os.environ | {"PATHWAYS_HOME": str(home), "COLUMNS": "200"}
    env.pop("NATS_PORT", None)
    return subprocess.Popen([PATHWAYS, "up", "--no-demo"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            text=True)


def status(home: Path) -> str:
    return subprocess.run([PATHWAYS, "status"], capture_output=True, text=True, timeout=60,
                          env=os.environ | {"PATHWAYS_HOME": str(home), "COLUMNS": "250"}).stdout


async def test_a_killed_service_and_a_killed_nats_server_are_started_again_and_the_port_is_kept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)  # as an earlier version left it: anyone on the machine could read it
    (home / "reporting.db").write_bytes(b"")
    (home / "reporting.db").chmod(0o644)
    home.chmod(0o755)
    up = start_up(home)
    try:
        await until(lambda: asyncio.sleep(0, (home / "connection.json").exists()), "pathways up is ready", within=240)
        connection = ConnectionInfo.read(home / "connection.json")
        nc = await connection.connect("supervision-test")
        client = CommandClient(nc)
        s = await setup_programme(client)
        # The home and everything in it (databases, logs, the nats store) are the owner's alone.
        readable = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in [home, *home.rglob("*")]
                    if not p.is_symlink() and p.stat().st_mode & 0o077}
        assert readable == {}, readable
        assert {p.name for p in home.glob("*.db")} >= {"registry.db", "reporting.db"} and any(home.glob("*.log"))
        before = started_by(up)

        os.kill(before["payments"], signal.SIGKILL)
        # The others keep serving while payments is down.
        reply = await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, unique("p")))
        assert reply["status"] == "accepted"

        async def payments_back() -> bool:
            pid = started_by(up).get("payments")
            if pid in (None, before["payments"]):
                return False
            try:
                async with httpx.AsyncClient(timeout=1) as http:
                    return (await http.get(f"{connection.services['payments']}/health")).status_code == 200
            except httpx.HTTPError:
                return False

        await until(payments_back, "payments is started again")
        assert "restarted 1×" in status(home)

        os.kill(before["nats-server"], signal.SIGKILL)

        await until(lambda: accepts_an_enrolment(client, s), "commands are accepted again after nats-server was killed",
                    within=90)
        assert started_by(up)["nats-server"] != before["nats-server"]
        assert "nats-server started again 1" in status(home)
        await nc.close()
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
    assert not (home / "connection.json").exists()  # a clean stop removes it
    first = (home / "nats.port").read_text().strip()
    again = start_up(home)
    try:
        await until(lambda: asyncio.sleep(0, (home / "connection.json").exists()), "pathways up is ready again", within=240)
        assert ConnectionInfo.read(home / "connection.json").nats_url.endswith(f":{first}")
    finally:
        again.send_signal(signal.SIGINT)
        assert again.wait(60) == 0


async def test_a_service_says_it_is_alive_and_ready_once_connected_and_caught_up(registry: Any, nats_server: Any) -> None:
    transport = httpx.ASGITransport(app=registry.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        alive = await http.get("/healthz")
        # Ready once its read models have caught up: late in the suite the shared stream is
        # long, and a fresh instance says "catching up" until it has read it.
        for _ in range(30):
            ready = await http.get("/readyz")
            if ready.status_code == 200:
                break
            assert ready.json()["reason"] == "catching up", ready.text
    assert alive.status_code == 200 and alive.json()["status"] == "alive"
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    # Its connection lost (a closed one in its place, so the fixture can still stop it):
    # alive still, not ready.
    lost = await nats_server.connection.connect("lost")
    await lost.close()
    serving, registry.nc = registry.nc, lost
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            assert (await http.get("/healthz")).status_code == 200
            gone = await http.get("/readyz")
    finally:
        registry.nc = serving
    assert gone.status_code == 503 and "not connected" in gone.json()["reason"]
