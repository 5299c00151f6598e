"""`pathways demo`: load the made-up programme into the running platform."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter

import nats.errors
import typer
from pathways.access import TokenStore
from pathways.eventstore.jetstream import JetStreamEventStore
from pathways.ids import is_valid_id
from pathways.runtime.connection import ConnectionInfo, connection_file, pathways_home, resolve_connection
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pathways_reporting.demo.load import LoadReport, Outcome, load, nats_send
from pathways_reporting.demo.plan import DemoPlan, Step, build_plan

demo_cli = typer.Typer(add_completion=False,
                       subcommand_metavar="")
console = Console()


@demo_cli.callback(invoke_without_command=True)
def demo(
    seed: int = typer.Option(2025, help="Seed of the made-up programme: the same seed gives the same people, sessions, "
                             "ids and idempotency keys"),
    programme_id: str = typer.Option(None, "--programme-id", help="Load it under this programme id (default "
                                     "demo-bridges-<seed>); the made-up organisations are shared by every demo programme"),
    concurrency: int = typer.Option(32, min=1, max=512, help="How many commands to have in flight at once"),
    scale: float = typer.Option(1.0, min=0.05, max=1.0, help="Fraction of the participants and weeks to load, for a "
                                "smaller, quicker demo"),
) -> None:
    """Load a made-up demo programme into the running platform.

    Sends a year of a made-up programme through the services as real commands: one
    commissioner, six delivery partners, an evaluator, about 143 participants (pseudonymous
    ids only) on wards and in the community, weekly sessions, co-producer time and expenses,
    invoices and payment runs, SWEMWBS before and after, co-production assessments and a
    "you said, we did" tracker. Running it again adds nothing.
    Exit status: 0 all recorded, 1 some commands were rejected, 2 the platform could not be reached."""
    if programme_id is not None and not is_valid_id(programme_id):
        raise typer.BadParameter("use 1-64 letters, digits, '-' or '_'", param_hint="--programme-id")
    plan = build_plan(seed, programme_id=programme_id, scale=scale)
    console.print(f"Loading [bold]{plan.programme_id}[/bold]: {len(plan):,} commands in {len(plan.stages)} stages, "
                  f"{len(plan.participants)} participants.")
    try:
        report, tokens = asyncio.run(_load(plan, concurrency))
    except (FileNotFoundError, OSError, TimeoutError, nats.errors.Error) as err:
        console.print(f"[red]Cannot reach the platform:[/red] {err}")
        raise typer.Exit(2) from None
    _summarise(plan, report)
    if tokens:
        _hand_out(plan, tokens)
    if report.failures and all(f.reply.get("code") == "unavailable" for f in report.failures) and not report.accepted:
        console.print("[red]The services did not answer.[/red] Is `pathways up` running?")
        raise typer.Exit(2)
    raise typer.Exit(1 if report.failures else 0)


async def _load(plan: DemoPlan, concurrency: int) -> tuple[LoadReport, dict[str, str]]:
    connection = resolve_connection()
    errors: list[Exception] = []

    async def noted(err: Exception) -> None:  # instead of a traceback per reconnect attempt
        errors.append(err)

    try:
        nc = await asyncio.wait_for(connection.connect("pathways-demo", error_cb=noted, connect_timeout=3), 10)
    except TimeoutError:
        why = f" ({errors[-1]})" if errors else ""
        raise ConnectionError(f"no NATS server answered at {connection.nats_url} within 10 s{why}") from None
    try:
        recorded_up_to = await JetStreamEventStore(nc).last_sequence()
        stage_of = {id(step): stage.name for stage in plan.stages for step in stage.steps}
        columns = (TextColumn("{task.description:<72}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(plan.stages[0].name, total=len(plan))

            def advance(step: Step, _: Outcome) -> None:
                bar.update(task, advance=1, description=stage_of[id(step)])

            report = await load(plan, nats_send(nc, correlation_id=f"demo-{plan.programme_id}"), concurrency=concurrency,
                                progress=advance, recorded_up_to=recorded_up_to)
        if report.failures:
            return report, {}
        # Dashboard sign-in for the made-up organisations, so a newcomer can look at once.
        store = TokenStore(nc)
        tokens = {plan.commissioner: await store.issue(plan.commissioner, "commissioner"),
                  plan.evaluator: await store.issue(plan.evaluator, "evaluator")}
        for partner in plan.partners:
            tokens[partner] = await store.issue(partner, "partner")
        # And a made-up auditor, for `pathways audit …` (PATHWAYS_TOKEN).
        tokens["demo-auditor"] = await store.issue("demo-auditor", "auditor")
        return report, tokens
    finally:
        await nc.close()


def _hand_out(plan: DemoPlan, tokens: dict[str, str]) -> None:
    """Write the demo organisations' tokens to an owner-only file and show the
    commissioner's: made-up organisations, but tokens are secrets all the same."""
    path = pathways_home() / "demo-tokens.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(tokens, handle, indent=2)
    # connection.json, not the environment: only `pathways up` knows the services' addresses.
    where = connection_file()
    services = ConnectionInfo.read(where).services if where.exists() else {}
    dashboard = services.get("reporting", "the reporting service") + "/"
    console.print(f"Dashboard: [bold]{dashboard}[/bold] — sign in as the commissioner with the token below "
                  f"(partners' tokens are in {path}):")
    console.print(tokens[plan.commissioner], markup=False, highlight=False)


def _summarise(plan: DemoPlan, report: LoadReport) -> None:
    rate = report.total / report.seconds if report.seconds else 0.0
    console.print(f"[green]{report.accepted:,}[/green] recorded, [cyan]{report.already:,}[/cyan] already there, "
                  f"[{'red' if report.failures else 'green'}]{report.failed:,}[/] failed "
                  f"in {report.seconds:.1f} s ({rate:,.0f} commands/s).")
    if report.stopped_at:
        console.print(f"[yellow]Stopped after the stage '{report.stopped_at}'[/yellow]: {report.skipped:,} later commands "
                      "build on it and were not sent. Fix the cause and run the demo again; what was recorded stays.")
    if report.failures:
        codes = Counter(str(f.reply.get("code", f.reply.get("status"))) for f in report.failures)
        table = Table("Stage", "Command", "Sent as", "Code", "Message", title=f"Failures ({dict(codes)})")
        for f in report.failures[:20]:
            reply = f.reply
            table.add_row(f.stage, f.step.command, f.step.organisation, str(reply.get("code", "")), str(reply.get("message", "")))
        console.print(table)
        return
    console.print(f"See it with [bold]pathways programme show {plan.programme_id}[/bold] or on the dashboard.")
