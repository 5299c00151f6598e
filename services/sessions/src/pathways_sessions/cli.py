"""`pathways import attendance FILE.csv`: a partner's register into the platform."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import nats.errors
import typer
from nats.aio.client import Client
from pathways.core.batch_wire import BATCH, batch_body, replies_of
from pathways.core.subjects import command_subject
from pathways.runtime.connection import resolve_connection
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pathways_sessions.register_import import (
    Command,
    PlannedSession,
    RegisterFormatError,
    RowResult,
    SendBatch,
    import_register,
    read_register,
    report_csv,
)

import_cli = typer.Typer(help="Import records from partners' spreadsheets.", no_args_is_help=True)
console = Console()


@import_cli.command("attendance")
def attendance(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="The register, as CSV"),
    programme_id: str = typer.Option(..., "--programme", "-p", help="The programme the sessions belong to"),
    organisation: str = typer.Option(..., "--as", help="Your organisation id (the delivery partner)"),
    actor: str = typer.Option("register-import", help="Who is importing, for the audit trail"),
    report: Path = typer.Option(None, "--report", "-r", help="Write the per-row verdicts to this CSV file"),
) -> None:
    """Turn a register (columns: session_id, date, start_time, activity, site,
    duration_minutes, capacity, participant_id; one row per person at a session) into
    ScheduleSession and RecordSessionDelivered commands. Every row gets a verdict.
    Importing the same file again adds nothing. Exit status: 0 all rows recorded, 1 some
    rows rejected (see the report), 2 the file or the platform could not be read."""
    try:
        sessions, refused = read_register(file.read_text(encoding="utf-8-sig"))
    except (RegisterFormatError, UnicodeDecodeError) as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    try:
        rows = asyncio.run(_send_all(programme_id, organisation, actor, sessions)) + refused
    except (FileNotFoundError, OSError, nats.errors.Error) as err:
        console.print(f"[red]Cannot reach the platform:[/red] {err}")
        raise typer.Exit(2) from None
    rejected = [r for r in rows if r.status != "accepted"]
    console.print(f"[bold]{len(rows) - len(rejected)}[/bold] rows recorded, [bold]{len(rejected)}[/bold] rejected, "
                  f"across {len(sessions)} sessions.")
    if rejected:
        table = Table("Line", "Session", "Participant", "Why it was rejected")
        for r in sorted(rejected, key=lambda r: r.line)[:50]:
            table.add_row(str(r.line), r.session_id, r.participant_id, r.message)
        console.print(table)
    if report is not None:
        report.write_text(report_csv(rows))
        console.print(f"Per-row report written to {report}.")
    raise typer.Exit(1 if rejected else 0)


async def _send_all(programme_id: str, organisation: str, actor: str, sessions: list[PlannedSession]) -> list[RowResult]:
    nc = await resolve_connection().connect("register-import")
    try:
        rows = sum(len(s.rows) for s in sessions)
        columns = (TextColumn("Importing sessions"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[rows]:,} of " + f"{rows:,} rows"))
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("import", total=len(sessions), rows=0)
            sent = 0

            def advance(session: PlannedSession) -> None:  # sessions finish in any order
                nonlocal sent
                sent += len(session.rows)
                bar.update(task, advance=1, rows=sent)

            await import_register(programme_id, sessions, nats_sender(nc, organisation, actor), progress=advance)
    finally:
        await nc.close()
    return [row for s in sessions for row in s.rows]


def nats_sender(nc: Client, organisation: str, actor: str, *, timeout: float = 60.0) -> SendBatch:
    """The commands as the partner's own system may send them: one NATS request of a
    command batch on pathways.cmd.<organisation>.sessions.batch (see pathways.jetstream.batch). One
    correlation id for the whole import, so its events can be found together."""
    correlation = f"register-import-{uuid.uuid4().hex[:12]}"

    async def send(commands: list[Command]) -> list[dict[str, Any]]:
        body = batch_body(organisation, actor, commands, correlation)
        msg = await nc.request(command_subject(organisation, "sessions", BATCH), body, timeout=timeout)
        return replies_of(json.loads(msg.data), len(commands))

    return send
