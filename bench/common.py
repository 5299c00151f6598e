"""What every benchmark module shares: the scale, the result record, the console, the
embedded server they all run against, and the table and JSON file a run ends with."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pathways.runtime.connection import ConnectionInfo
from pathways.runtime.natsserver import Credentials, EmbeddedNatsServer, nats_server_binary
from rich.console import Console
from rich.table import Table

SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
# CI runs every part at a tiny scale (seconds), only to prove that each row is still produced.
TINY = SCALE < 0.01
console = Console()


def n(count: int) -> int:
    return max(20 if TINY else 50, int(count * SCALE))


@dataclass
class Result:
    name: str
    events: int
    seconds: float
    extra: dict[str, Any]
    kind: str = ""  # what the row measures, whatever its size: what CI checks is there

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@contextmanager
def embedded_nats(home: Path) -> Iterator[tuple[ConnectionInfo, str]]:
    """A fresh nats-server (JetStream, file storage, sync_interval: always) under `home`."""
    server = EmbeddedNatsServer(home / "nats", port=None, credentials=Credentials("bench", uuid.uuid4().hex))
    server.start()
    try:
        conn = ConnectionInfo(server.url, "bench", server.credentials.password if server.credentials else None)
        version = subprocess.run([str(nats_server_binary()), "--version"], capture_output=True, text=True).stdout.strip()
        console.print(f"nats-server {version}, sync_interval: always; scale {SCALE}")
        yield conn, version
    finally:
        server.stop()


def print_results(results: list[Result]) -> None:
    table = Table("path", "events", "rate (events/s)", "notes")
    for r in results:
        notes = ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.extra.items())
        table.add_row(r.name, str(r.events), f"{r.rate:,.0f}", notes)
    console.print(table)


def print_ratios(ratios: dict[str, float]) -> None:
    for k, v in ratios.items():
        console.print(f"{k}: [bold]{v:.2f}[/bold]")


def write_record(results: list[Result], ratios: dict[str, float], version: str, suffix: str = "",
                 extra: dict[str, Any] | None = None, out: Path | None = None) -> Path:
    record = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "nats_server": version, "sync_interval": "always", "scale": SCALE,
        "results": [{"name": r.name, "kind": r.kind, "events": r.events, "seconds": r.seconds, "rate": r.rate, **r.extra}
                    for r in results],
        "ratios": ratios,
    } | (extra or {})
    out = out or Path(__file__).parent / "results" / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    console.print(f"Wrote {out}")
    return out
