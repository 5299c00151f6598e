"""`pathways status`: the stream (size, replicas, leader, lagging and offline peers), each
service's health (projection positions, restarts, read models quarantining events or
stopped on a stream that is not theirs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from pathways.runtime.connection import resolve_connection


def show_status(console: Console, err_console: Console) -> None:
    import asyncio  # here, not at the top: `--help` and other commands need not load it
    import json
    import urllib.request  # the standard library's client: the HTTP library would cost this command 0.15 s

    try:
        connection = resolve_connection()
    except FileNotFoundError as err:
        err_console.print(f"[yellow]{err}[/yellow]")
        raise typer.Exit(1) from None

    async def stream_state() -> tuple[int, int, int, list[Any]]:
        from pathways.runtime.replicas import cluster_size, placement
        from pathways.runtime.storage import STREAMS

        nc = await connection.connect("pathways-status", allow_reconnect=False, connect_timeout=3)
        try:
            info = await nc.jetstream().stream_info("PATHWAYS_EVENTS")
            where = [await placement(nc, stream) for stream in STREAMS]
            return int(info.state.messages), int(info.state.last_seq), cluster_size(nc), where
        finally:
            await nc.close()

    table = Table("Component", "Where", "State")
    try:
        messages, last, servers, placements = asyncio.run(stream_state())
        table.add_row("NATS / PATHWAYS_EVENTS", connection.nats_url, f"[green]up[/green] — {messages} events, last "
                      f"sequence {last}; {servers} server{'s' if servers > 1 else ''}")
        for p in placements:
            state = f"R{p.replicas}" + (f", leader {p.leader}" if p.leader else "")
            state += "".join(f", {name} {lag} behind" for name, lag in p.lagging.items())
            state += "".join(f", [red]{name} offline[/red]" for name in p.offline)
            if servers > 1 and p.replicas == 1:
                state += " [red]— one copy on a cluster: losing its server loses it (pathways up --replicas 3)[/red]"
            table.add_row(f"  {p.stream}", "", state)
    except Exception as err:  # any failure to reach it is the answer
        table.add_row("NATS / PATHWAYS_EVENTS", connection.nats_url, f"[red]unreachable[/red] ({err.__class__.__name__})")
    restarts_file = Path(connection.home or ".") / "restarts.json"
    restarts: dict[str, int] = json.loads(restarts_file.read_text()) if restarts_file.exists() else {}
    for name, times in restarts.items():
        if name.startswith("nats-server"):
            table.add_row("  restarts", "", f"[yellow]{name} started again {times} time(s)[/yellow]")
    for name, base in connection.services.items():
        again = f" [yellow](restarted {restarts[name]}×)[/yellow]" if restarts.get(name) else ""
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                health = json.load(response)
            positions = ", ".join(f"{k} at {v}" for k, v in health["projections"].items()) or "no projections"
            refused = "".join(f" [red]— {q['events']} event(s) not from their owner quarantined by {runner} (latest at "
                              f"sequence {q['latest_sequences'][-1]})[/red]"
                              for runner, q in (health.get("quarantined") or {}).items())
            stalled = "".join(f" [red]— {runner} STOPPED: {why}; run `pathways rebuild {name}`[/red]"
                              for runner, why in (health.get("stalled") or {}).items())
            table.add_row(name, base, f"[green]up[/green] — {positions}{again}{refused}{stalled}")
        except (OSError, ValueError) as err:  # refused, timed out, an error status or not JSON
            table.add_row(name, base, f"[red]down[/red] ({err.__class__.__name__}){again}")
    console.print(table)
