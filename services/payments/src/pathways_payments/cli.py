"""`pathways payments …`: payment runs from the running payments service."""

from __future__ import annotations

from pathlib import Path

import typer
from pathways.runtime.cli.signin import operator_get
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
    csv = operator_get("payments", f"/programmes/{programme_id}/payment-runs/{run_id}.csv", text=True, console=console)
    if out is None:
        typer.echo(csv, nl=False)
    else:
        out.write_text(csv)
        console.print(f"Wrote {out} ({csv.count(chr(10)) - 1} payees).")
