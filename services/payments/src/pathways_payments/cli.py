"""`pathways payments …`: payment runs from the running payments service."""

from __future__ import annotations

from pathlib import Path

import httpx
import typer
from pathways.runtime.cli.signin import operator_headers
from pathways.runtime.connection import resolve_connection
from rich.console import Console

payments_cli = typer.Typer(help="Payments: co-producer payment runs for the finance team.", no_args_is_help=True)
console = Console(stderr=True)


@payments_cli.command("run-csv")
def run_csv(
    programme_id: str = typer.Argument(..., help="The programme id"),
    run_id: str = typer.Argument(..., help="The payment run id"),
    out: Path = typer.Option(None, "--out", "-o", help="Write to this file instead of standard output"),
) -> None:
    """Export a payment run as CSV (one row per payee) for a finance system to import."""
    try:
        connection = resolve_connection()
        base = connection.services["payments"]
        with operator_headers(connection) as headers:
            response = httpx.get(f"{base}/programmes/{programme_id}/payment-runs/{run_id}.csv", timeout=10, headers=headers)
    except (FileNotFoundError, KeyError, httpx.HTTPError) as err:
        console.print(f"[red]Cannot reach the payments service:[/red] {err}")
        raise typer.Exit(2) from None
    if response.status_code == 404:
        console.print(f"[yellow]{response.json()['detail']}[/yellow]")
        raise typer.Exit(1)
    response.raise_for_status()
    if out is None:
        typer.echo(response.text, nl=False)
    else:
        out.write_text(response.text)
        console.print(f"Wrote {out} ({response.text.count(chr(10)) - 1} payees).")
