"""`pathways retention show|run PROGRAMME`: the programme's retention rule applied by the
platform's operator. `show` (and `run --dry-run`) lists whose personal details the rule
would erase and changes nothing; `run` sends one ApplyRetention per enrolment, a few at a
time so the registry batches them, and says what each answer was."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import typer
from pathways.core.ids import OPERATOR_ORGANISATION
from pathways.core.subjects import command_subject
from pathways.runtime.cli.signin import operator_get
from pathways.runtime.connection import ConnectionInfo, resolve_connection
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

retention_cli = typer.Typer(help="Retention: erase personal details once the programme's rule says so.",
                            no_args_is_help=True)
console = Console()
IN_FLIGHT = 16


def _due(programme_id: str) -> dict[str, Any]:
    due: dict[str, Any] = operator_get("registry", f"/programmes/{programme_id}/retention",
                                       not_found=f"There is no programme '{programme_id}'.")
    return due


def _say(due: dict[str, Any]) -> None:
    if due["years_after_end"] is None:
        console.print(f"[yellow]'{due['programme_id']}' has no retention rule[/yellow]: its commissioner sets one "
                      "with SetRetentionRule.")
        return
    when = "now" if due["due"] else f"from {due['erases_from']}"
    console.print(f"'{due['programme_id']}' ended {due['ends_on']}; personal details are kept "
                  f"{due['years_after_end']} years after that, so the rule erases them {when}.")
    table = Table("Partner", "Participant (pseudonymous id)", title=f"Whose details it erases ({len(due['to_erase'])})")
    for row in due["to_erase"]:
        table.add_row(row["partner_id"], row["participant_id"])
    console.print(table)
    if due.get("not_shown"):
        console.print(f"…and {due['not_shown']} more not shown to you by id.")


@retention_cli.command("show")
def show(programme_id: str = typer.Argument(..., help="The programme id, e.g. pathways-2025")) -> None:
    """The dry run: the rule, the day it erases from, and whose details it would erase. Changes nothing."""
    _say(_due(programme_id))


@retention_cli.command("run")
def run(
    programme_id: str = typer.Argument(..., help="The programme id, e.g. pathways-2025"),
    dry_run: bool = typer.Option(False, "--dry-run", help="List whose details it would erase, and erase nothing"),
) -> None:
    """Erase the personal details the rule says are due, one enrolment at a time; the
    pseudonymous history stays and the audit ledger still verifies."""
    due = _due(programme_id)
    _say(due)
    if dry_run or due["years_after_end"] is None:
        return
    if not due["due"]:
        console.print("Nothing erased: the rule's day has not come.")
        raise typer.Exit(1)
    answers = asyncio.run(_apply(resolve_connection(), programme_id, due["to_erase"]))
    erased = [a for a in answers if a["status"] == "accepted"]
    for refused in (a for a in answers if a["status"] != "accepted"):
        console.print(f"[red]{refused['participant_id']}[/red] ({refused['partner_id']}): {refused.get('message')}")
    console.print(f"Erased the personal details of {len(erased)} of {len(answers)} enrolments.")
    if len(erased) != len(answers):
        raise typer.Exit(1)


async def _apply(connection: ConnectionInfo, programme_id: str, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    nc = await connection.connect("pathways-retention")
    gate = asyncio.Semaphore(IN_FLIGHT)
    subject = command_subject(OPERATOR_ORGANISATION, "registry", "ApplyRetention")
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Erasing", total=len(rows))

            async def one(row: dict[str, str]) -> dict[str, Any]:
                data = {"programme_id": programme_id, **row}
                ids = f"{programme_id}/{row['partner_id']}/{row['participant_id']}"  # up to 194 characters: hashed to fit
                body = {"idempotency_key": f"retention-{hashlib.sha256(ids.encode()).hexdigest()[:40]}",
                        "organisation": OPERATOR_ORGANISATION, "actor": "pathways retention run", "data": data}
                async with gate:
                    reply = json.loads((await nc.request(subject, json.dumps(body).encode(), timeout=30)).data)
                progress.advance(task)
                return {**row, **reply}

            return await asyncio.gather(*(one(row) for row in rows))
    finally:
        await nc.close()
