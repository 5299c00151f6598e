"""`pathways programme …` (the roster) and `pathways participant export` (subject access), from the
running registry's API."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from pathways.runtime.cli.signin import operator_get
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
    roster = operator_get("registry", f"/programmes/{programme_id}", not_found=f"There is no programme '{programme_id}'.")
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


participant_cli = typer.Typer(help="Participants: what the platform holds on one person (subject access).",
                              no_args_is_help=True)


@participant_cli.command("export")
def export(
    participant_id: str = typer.Argument(..., help="The person's pseudonymous id, e.g. pt-0042"),
    programme_id: str = typer.Option(..., "--programme", "-p", help="The programme they were enrolled in"),
    out: Path = typer.Option(Path("subject-access.json"), "--out", "-o", help="Where to write the JSON export"),
    html: Path | None = typer.Option(None, "--html", help="Also write the readable page here"),
) -> None:
    """Everything held on one person in a programme, for a subject access request: every
    event naming them in every service, and who read their records. Run by the platform's
    operator, it holds no personal details (those open only for the partner that recorded
    them and the commissioner, through the registry's /export route). Recorded as an access."""
    found = operator_get("registry", f"/programmes/{programme_id}/participants/{participant_id}/export", timeout=600,
                         not_found=f"There is no '{participant_id}' in '{programme_id}'.",
                         status="Reading the whole history of the programme…")
    _write_private(out, json.dumps(found, indent=2, ensure_ascii=False))
    if html is not None:  # drawn from the same answer: one read of the history, one access recorded
        from pathways_registry.subject_access import page

        _write_private(html, page(found))
    console.print(f"{len(found['events'])} events and {len(found['reads'])} reads of their records → {out}"
                  f"{f' and {html}' if html is not None else ''}. The export is recorded as an access.")


def _write_private(path: Path, text: str) -> None:
    """Owner-only from the first byte, even over a file that was readable by others, and never
    through a link: it is a person's health and social care record."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
