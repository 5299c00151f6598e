"""The whole platform as `pathways up` runs it, for the benchmarks: nats-server, every
service in its own process with its projections live, under a home of the bench's own.

`running_platform()` starts it and always stops it (the process group is killed if it does
not stop by itself), so no run leaves a process behind. `CpuMeter` reads each process's CPU
time from /proc before and after a phase, so a figure can say where the time went."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.natsserver import free_port

START_TIMEOUT = 180.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Platform:
    home: Path
    connection: ConnectionInfo
    process: subprocess.Popen[bytes]
    log: Path

    def pids(self) -> dict[str, int]:
        """nats-server and each service, by name, from the process tree under `pathways up`."""
        found: dict[str, int] = {}
        for pid in _children(self.process.pid):
            cmdline = _cmdline(pid)
            if "nats-server" in cmdline[0]:
                found["nats-server"] = pid
            elif "serve" in cmdline:
                found[cmdline[cmdline.index("serve") + 1]] = pid
        return found

    def env(self) -> dict[str, str]:
        """What a `pathways` command needs to reach this platform."""
        return os.environ | {"PATHWAYS_HOME": str(self.home), "PATHWAYS_LOG_LEVEL": "WARNING"}


@contextlib.contextmanager
def running_platform(home: Path, *, extra_env: dict[str, str] | None = None) -> Iterator[Platform]:
    home.mkdir(parents=True, exist_ok=True)
    log = home / "pathways-up.log"
    env = os.environ | {"PATHWAYS_HOME": str(home), "PATHWAYS_LOG_LEVEL": "WARNING"} | (extra_env or {})
    env.pop("PATHWAYS_NATS_URL", None)  # the platform's own server, not one from the environment
    with open(log, "ab") as out:
        # Its own session: stopping it stops the services and nats-server it started.
        process = subprocess.Popen(
            [sys.executable, "-m", "pathways.runtime.cli.main", "up", "--no-demo", "--home", str(home),
             "--nats-port", str(free_port())],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        connection = _wait_ready(home, process, log)
        yield Platform(home, connection, process, log)
    finally:
        stop(process)


def _wait_ready(home: Path, process: subprocess.Popen[bytes], log: Path) -> ConnectionInfo:
    where = home / "connection.json"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pathways up stopped at start (exit {process.returncode}); see {log}:\n"
                               + log.read_text(errors="replace")[-2000:])
        if where.exists():
            with contextlib.suppress(ValueError):
                return ConnectionInfo.read(where)
        time.sleep(0.2)
    raise TimeoutError(f"pathways up was not ready within {START_TIMEOUT:.0f} s; see {log}")


def stop(process: subprocess.Popen[bytes], timeout: float = 40.0) -> None:
    """Ctrl-C, as a person would; then the whole process group if anything is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for token in child.read_text().split():
            out.append(int(token))
            out += _children(int(token))
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return [""]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class CpuMeter:
    """CPU seconds each process spent between `start()` and `stop()`."""

    pids: dict[str, int]
    before: dict[str, float] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)

    def start(self) -> CpuMeter:
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return self

    def stop(self) -> dict[str, float]:
        self.spent = {name: cpu_seconds(pid) - self.before[name] for name, pid in self.pids.items()}
        return self.spent

    def per_item_ms(self, items: int) -> dict[str, float]:
        return {f"cpu_ms_per_command_{name}": 1000 * s / max(items, 1) for name, s in sorted(self.spent.items())}


def write_json(path: Path, body: object) -> None:
    path.write_text(json.dumps(body, indent=2))


async def wait_quiet(pids: dict[str, int], *, idle_share: float = 0.08, window: float = 0.5,
                     give_up_after: float = 120.0) -> float:
    """Wait until the platform has caught up with what was just sent: every process under
    `idle_share` of a core for one window (projections done, checkpoints signed). Returns
    the seconds waited; gives up quietly after `give_up_after` seconds."""
    import asyncio

    started = time.monotonic()
    while time.monotonic() - started < give_up_after:
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        await asyncio.sleep(window)
        busiest = max((cpu_seconds(pid) - before[name]) / window for name, pid in pids.items()) if pids else 0.0
        if busiest < idle_share:
            break
    return time.monotonic() - started
