"""What keeps `pathways up` serving when one of its processes dies: a crashed service is
started again after a backoff (0.5 s, doubling to 30 s; back to 0.5 s once it has stayed up
a minute), a crashed nats-server too (same port, same store: JetStream recovers what was
acknowledged), each restart logged and counted in $PATHWAYS_HOME/restarts.json, which
`pathways status` shows. The other services keep serving throughout."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from pathways.runtime.natsserver import EmbeddedNatsServer

FIRST_DELAY, MAX_DELAY, STEADY = 0.5, 30.0, 60.0
console = Console(stderr=True)


@dataclass
class Child:
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay: float = FIRST_DELAY
    due: float | None = None  # when it is to be started again, once it has died

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.started = time.monotonic()


@dataclass
class Supervisor:
    home: Path
    servers: list[EmbeddedNatsServer]
    children: dict[str, Child] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)

    @property
    def restarts_file(self) -> Path:
        return self.home / "restarts.json"

    def start(self, name: str, child: Child) -> None:
        self.children[name] = child
        child.start()

    def check(self) -> None:
        """One look at every process: start again what has died and is due."""
        now = time.monotonic()
        for server in self.servers:
            if server.process is not None and server.process.poll() is not None:
                console.print(f"[red]nats-server {server.name} exited ({server.process.returncode}); starting it again.[/red]")
                server.start()
                self._count("nats-server" if len(self.servers) == 1 else f"nats-server {server.name}")
        for name, child in self.children.items():
            process = child.process
            if process is None or process.poll() is None:
                if process is not None and now - child.started > STEADY:
                    child.delay = FIRST_DELAY  # it has settled: the next crash is retried quickly again
                continue
            if child.due is None:
                child.due = now + child.delay
                console.print(f"[red]The {name} service exited ({process.returncode}); starting it again in "
                              f"{child.delay:.1f} s.[/red]")
            elif now >= child.due:
                child.start()
                child.due, child.delay = None, min(MAX_DELAY, child.delay * 2)
                self._count(name)

    def _count(self, name: str) -> None:
        self.restarts[name] = self.restarts.get(name, 0) + 1
        self.restarts_file.write_text(json.dumps(self.restarts))

    def watch(self, interval: float = 0.5) -> None:
        """Until Ctrl-C or SIGTERM (both raise KeyboardInterrupt here)."""
        self.restarts_file.unlink(missing_ok=True)
        try:
            while True:
                self.check()
                time.sleep(interval)
        except KeyboardInterrupt:
            return

    def stop(self) -> None:
        import signal

        running = [c.process for c in self.children.values() if c.process is not None and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
