"""The garbage collector's pace in a served service (pathways.runtime.garbage): a service
started as `pathways serve` freezes what it holds once up and walks its young generation
rarely. Counted, not timed: the collections a real registry makes over 500 commands, read
from its /health, beside the same registry at CPython's defaults, where the count is
several times higher (the cost the setting removes)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client
from pathways.runtime import garbage
from pathways.runtime.natsserver import free_port
from pathways.testing.servers import NatsEndpoint

from tests.conftest import CommandClient, enrolment, setup_programme, unique

COMMANDS = 500
YOUNG_AT_MOST = 5  # young collections over COMMANDS commands, settled


def serve_registry(endpoint: NatsEndpoint, home: Path, http_port: int, thresholds: str | None) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "PATHWAYS_NATS_URL": endpoint.connection.nats_url,
        "PATHWAYS_NATS_USER": endpoint.connection.user or "",
        "PATHWAYS_NATS_PASSWORD": endpoint.connection.password or "",
        "PATHWAYS_HOME": str(home),
    }
    env.pop(garbage.ENV, None)
    if thresholds is not None:
        env[garbage.ENV] = thresholds
    with open(home / "registry.log", "ab") as log:  # its log, for a failure to show (a pipe unread could fill)
        return subprocess.Popen([sys.executable, "-m", "pathways.runtime.cli.main", "serve", "registry", "--http-port",
                                 str(http_port), "--database-url", f"sqlite:///{home / 'registry.db'}"],
                                env=env, stdout=subprocess.DEVNULL, stderr=log)


async def health(http: httpx.AsyncClient, port: int) -> dict[str, Any]:
    reply = await http.get(f"http://127.0.0.1:{port}/health")
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()["garbage_collector"]
    return body


@pytest.mark.parametrize("thresholds", [None, "700,10,10"], ids=["settled", "cpython-defaults"])
async def test_a_served_registry_walks_its_young_objects_rarely(
    nats_server: NatsEndpoint, nats_client: Client, tmp_path: Path, thresholds: str | None
) -> None:
    port = free_port()
    registry = serve_registry(nats_server, tmp_path, port, thresholds)
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):  # until it is up (it subscribes before it says so)
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                pytest.fail(f"the registry never said it was ready:\n{(tmp_path / 'registry.log').read_text()[-3000:]}")
            client = CommandClient(nats_client)
            s = await setup_programme(client)
            before = await health(http, port)
            for _ in range(COMMANDS):
                reply = await client.send(s.partner_a, "EnrolParticipant", enrolment(s.programme_id, unique("p")))
                assert reply["status"] == "accepted", reply
            after = await health(http, port)
    finally:
        registry.terminate()
        registry.wait(timeout=30)
    young = after["collections"][0] - before["collections"][0]
    # What it ran with, and that what it built was frozen (its modules, schemas, handlers).
    assert before["frozen"] > 10_000
    assert before["uncollectable"] == after["uncollectable"] == 0
    if thresholds is None:
        assert tuple(before["thresholds"]) == garbage.THRESHOLDS
        assert young < YOUNG_AT_MOST, after  # measured: 0
    else:
        assert before["thresholds"] == [700, 10, 10]
        assert young >= YOUNG_AT_MOST, after  # measured: 16


@pytest.mark.parametrize("setting", ["50000,twenty,10", "2147483648,20,10", "1_000,20,10"])
@pytest.mark.parametrize("command", [["serve", "registry"], ["up", "--no-demo"]])
def test_a_mistyped_setting_stops_the_command_before_it_starts_anything(tmp_path: Path, command: list[str],
                                                                        setting: str) -> None:
    # A number past a C int passed int() and overflowed gc.set_threshold once the service was up
    # (`up` had started its server and services); "1_000" is taken by int() but is no setting.
    home = tmp_path / "home"
    env = os.environ | {garbage.ENV: setting, "PATHWAYS_HOME": str(home),
                        "PATHWAYS_NATS_URL": "nats://127.0.0.1:9"}  # nothing listens there: it must not get so far
    done = subprocess.run([sys.executable, "-m", "pathways.runtime.cli.main", *command], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert garbage.ENV in done.stderr and ("three whole numbers" in done.stderr or "at most" in done.stderr)
    assert "Traceback" not in done.stderr
    assert not home.exists()  # `up` made no home, started no server


def _expected(text: str) -> tuple[int, ...] | None:
    """The oracle: three comma-separated runs of ASCII digits, each in its range, or nothing."""
    if not text.strip():
        return garbage.THRESHOLDS
    parts = [p.strip(" \t\n") for p in text.split(",")]
    if len(parts) != 3 or not all(p and len(p) <= 8 and all(c in "0123456789" for c in p) for p in parts):
        return None
    numbers = tuple(int(p) for p in parts)
    return numbers if all(1 <= n <= most for n, most in zip(numbers, garbage.LARGEST, strict=True)) else None


@given(st.one_of(st.text(alphabet="0123456789,- x_+\t\n１٣", max_size=16),
                 st.tuples(*(st.integers(0, 2**40) for _ in range(3))).map(lambda t: ",".join(map(str, t)))))
def test_thresholds_are_three_positive_whole_numbers_or_refused(given_text: str) -> None:
    before = os.environ.get(garbage.ENV)
    os.environ[garbage.ENV] = given_text
    try:
        try:
            chosen: tuple[int, ...] | None = garbage.thresholds()
        except ValueError as err:
            assert garbage.ENV in str(err)
            chosen = None
        assert chosen == _expected(given_text)
    finally:
        if before is None:
            del os.environ[garbage.ENV]
        else:
            os.environ[garbage.ENV] = before
