"""`pathways survey list|links`: the surveys on offer, and one-time links to one of them issued
as your organisation (with its token in $PATHWAYS_TOKEN), printed as a sheet of QR codes to
cut up and hand out, or listed to send."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

survey_cli = typer.Typer(help="Surveys: one-time links, and QR sheets, that people answer in easy read.",
                         no_args_is_help=True)
console = Console()
# pathways.core.surveys.GROUPS, named here so `--help` imports no pydantic (a test keeps them one)
GROUPS = ("participant", "co_producer", "partner", "commissioner")


@survey_cli.command("list")
def list_surveys() -> None:
    """The surveys on offer: their ids, versions, who answers them and their questions."""
    from pathways.core import surveys  # here: `--help` stays fast

    for survey in surveys.surveys().values():
        table = Table("Question", "Easy read", "Answers", title=f"{survey.id} (version {survey.version}): "
                      f"{survey.title}, for {', '.join(survey.answered_by)}", title_justify="left")
        for q in survey.questions:
            table.add_row(q.id, q.easy_read, " / ".join(o.words for o in survey.scales[q.scale].options))
        console.print(table)


@survey_cli.command("links")
def links(
    programme_id: str = typer.Argument(..., help="The programme id, e.g. pathways-2025"),
    organisation: str = typer.Option(..., "--as", help="Your organisation: the token's own"),
    survey_id: str = typer.Option(..., "--survey", "-s", help="Which survey (pathways survey list)"),
    group: str = typer.Option(..., "--group", "-g", help=f"Who answers: {', '.join(GROUPS)}"),
    respondents: list[str] = typer.Option([], "--for", help="A participant's or co-producer's pseudonymous id: "
                                          "one link bound to each (repeat it); none: anonymous links"),
    count: int = typer.Option(1, "--count", "-n", min=1, max=200, help="How many anonymous links"),
    partner_id: str | None = typer.Option(None, "--partner", help="Whose work it asks about (a partner: its own)"),
    session_id: str | None = typer.Option(None, "--session", help="The session a session's survey asks about"),
    days: int = typer.Option(14, "--days", min=1, max=92, help="Days until the links expire"),
    sheet: Path | None = typer.Option(None, "--sheet", help="Write a printable HTML sheet of QR codes here"),
) -> None:
    """Issue one-time links as your organisation: their addresses are shown once, so print the sheet or send them now."""
    import httpx
    from pathways.runtime.connection import resolve_connection

    token = os.environ.get("PATHWAYS_TOKEN")
    if not token:
        console.print(f"[red]This needs your organisation's token[/red]: set PATHWAYS_TOKEN to one issued with "
                      f"`pathways tokens issue {organisation} --role partner` (or your own role).")
        raise typer.Exit(2)
    if group not in GROUPS:
        console.print(f"[red]--group is one of {', '.join(GROUPS)}[/red], not '{group}'.")
        raise typer.Exit(2)
    wanted = {"survey_id": survey_id, "group": group, "respondent_ids": respondents, "count": count,
              "partner_id": partner_id, "session_id": session_id, "days_open": days}
    try:
        base = resolve_connection().services["evaluation"]
        with console.status(f"Issuing {len(respondents) or count} links…"):
            answer = httpx.post(f"{base}/programmes/{programme_id}/survey-links", params={"organisation": organisation},
                                json=wanted, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    except (FileNotFoundError, KeyError, httpx.HTTPError) as err:
        console.print(f"[red]Cannot reach the evaluation service:[/red] {err}")
        raise typer.Exit(2) from None
    if answer.status_code != 200:
        console.print(f"[red]No links issued[/red] ({answer.status_code}): {_detail(answer)}")
        raise typer.Exit(1)
    issued: dict[str, Any] = answer.json()
    table = Table("Link", "For", "Address", title=f"One-time links to {survey_id}, until {issued['expires_at'][:10]}")
    for link in issued["links"]:
        table.add_row(link["link_id"], link["respondent_id"] or f"anyone ({group})",
                      link["url"] or f"[red]not issued: {link['message']}[/red]")
    console.print(table)
    if sheet is not None:
        sheet.write_text(render_sheet(issued))
        console.print(f"Printable sheet of QR codes: [bold]{sheet}[/bold]")
    if any(link["status"] != "accepted" for link in issued["links"]):
        raise typer.Exit(1)


def render_sheet(issued: dict[str, Any]) -> str:
    """The issued links as a printable page of cards, each with its QR code (SVG, drawn here)."""
    import segno
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from pathways.core import surveys

    survey = surveys.latest(issued["survey_id"])
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape())
    cards = [{"url": link["url"], "qr": segno.make(link["url"], error="m").svg_inline(scale=4, omitsize=True)}
             for link in issued["links"] if link["url"]]
    return env.get_template("survey_sheet.html").render(
        survey=survey, links=cards, group=issued["group"].replace("_", " ") + "s", expires_on=issued["expires_at"][:10])


def _detail(answer: Any) -> str:
    try:
        return str(answer.json().get("detail"))
    except json.JSONDecodeError:
        return str(answer.text[:200])
