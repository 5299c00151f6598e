"""`pathways programme …`: the roster from the running registry's API."""

from __future__ import annotations

import json

import httpx
import typer
from pathways.runtime.cli.signin import operator_headers
from pathways.runtime.connection import resolve_connection
from rich.console import Console
from rich.table import Table

programme_cli = typer.Typer(help="Programmes: the roster of partners and participants.", no_args_is_help=True)
console = Console()


def _money(pence: int) -> str:
    return f"£{pence / 100:,.2f}"


@programme_cli.command("show")
def show(
    programme_id: str = typer.Argument(..., help="The programme id, e.g. pathways-2025"),
    as_json: bool = typer.Option(False, "--json", help="Print the raw JSON"),
) -> None:
    """Show a programme: its partners, their budgets, enrolments, and unique participants."""
    try:
        connection = resolve_connection()
        base = connection.services["registry"]
        with operator_headers(connection) as headers:
            response = httpx.get(f"{base}/programmes/{programme_id}", timeout=10, headers=headers)
    except (FileNotFoundError, KeyError, httpx.HTTPError) as err:
        console.print(f"[red]Cannot reach the registry:[/red] {err}")
        raise typer.Exit(2) from None
    if response.status_code == 404:
        console.print(f"[yellow]There is no programme '{programme_id}'.[/yellow]")
        raise typer.Exit(1)
    response.raise_for_status()
    roster = response.json()
    if as_json:
        console.print_json(json.dumps(roster))
        return
    console.print(
        f"[bold]{roster['name']}[/bold] ({roster['programme_id']}), commissioned by "
        f"{roster['commissioner_id']}, {roster['starts_on']} to {roster['ends_on']}"
    )
    console.print(
        f"Budget {_money(roster['budget_pence'])}, committed to partners "
        f"{_money(roster['committed_pence'])}. Unique participants programme-wide: "
        f"[bold]{roster['unique_participants']}[/bold] ({roster['active_participants']} active); "
        f"co-producers: {roster['co_producers']}"
    )
    table = Table("Partner", "Contracts", "Budget", "Activities", "Active", "Enrolments")
    for p in roster["partners"]:
        table.add_row(
            p["name"] or p["partner_id"], ", ".join(p["contracts"]), _money(p["budget_pence"]),
            ", ".join(p["activities"]), str(p["active_enrolments"]), str(p["total_enrolments"]),
        )
    console.print(table)
