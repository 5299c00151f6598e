"""`pathways demo`: load the made-up programme into the running platform."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import nats.errors
import typer
from nats.aio.client import Client
from pathways.core.ids import is_valid_id
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.access import TokenStore
from pathways.runtime.connection import ConnectionInfo, connection_file, pathways_home, resolve_connection
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pathways_demo.load import CONCURRENCY, LoadReport, Outcome, load, nats_send
from pathways_demo.plan import build_plan
from pathways_demo.recorded import already_loaded, read_kept, roles, tokens_for, write_tokens
from pathways_demo.steps import DemoPlan, Step
from pathways_demo.surveys import try_it_link

demo_cli = typer.Typer(add_completion=False,
                       subcommand_metavar="")
console = Console()


@demo_cli.callback(invoke_without_command=True)
def demo(
    seed: int = typer.Option(2025, help="Seed of the made-up programme: the same seed gives the same people, sessions, "
                             "ids and idempotency keys"),
    programme_id: str = typer.Option(None, "--programme-id", help="Load it under this programme id (default "
                                     "demo-bridges-<seed>); the made-up organisations are shared by every demo programme"),
    concurrency: int = typer.Option(CONCURRENCY, min=1, max=512, help="How many commands to have in flight at once"),
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
    try:
        run = asyncio.run(_load(plan, concurrency))
    except (FileNotFoundError, OSError, TimeoutError, nats.errors.Error) as err:
        console.print(f"[red]Cannot reach the platform:[/red] {err}")
        raise typer.Exit(2) from None
    report = run.report
    if report is None:
        console.print(f"[bold]{plan.programme_id}[/bold] is already loaded ({len(plan):,} commands on record): "
                      "nothing was sent.")
    else:
        _summarise(plan, report)
    if run.tokens:
        _hand_out(plan, run.tokens, run.issued)
    if report is None:
        raise typer.Exit(0)
    if report.failures and all(f.reply.get("code") == "unavailable" for f in report.failures) and not report.accepted:
        console.print("[red]The services did not answer.[/red] Is `pathways up` running?")
        raise typer.Exit(2)
    raise typer.Exit(1 if report.failures else 0)


@dataclass
class DemoRun:
    report: LoadReport | None  # None: the plan was already on record and nothing was sent
    tokens: dict[str, str]  # empty when the load failed
    issued: list[str]  # organisations given a new token by this run


async def _load(plan: DemoPlan, concurrency: int) -> DemoRun:
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
        store = JetStreamEventStore(nc)
        report = None
        # `make run` runs the demo at every start: when the plan is on record, send nothing.
        if not await already_loaded(store, plan):
            report = await _send_plan(plan, nc, concurrency, recorded_up_to=await store.last_sequence())
            if report.failures:
                return DemoRun(report, {}, [])
        # Dashboard sign-in for the made-up organisations, so a newcomer can look at once; the
        # tokens of an earlier run are kept while they still sign in.
        tokens, issued = await tokens_for(TokenStore(nc), roles(plan), read_kept(tokens_file()))
        return DemoRun(report, tokens, issued)
    finally:
        await nc.close()


async def _send_plan(plan: DemoPlan, nc: Client, concurrency: int, recorded_up_to: int) -> LoadReport:
    console.print(f"Loading [bold]{plan.programme_id}[/bold]: {len(plan):,} commands in {len(plan.stages)} stages, "
                  f"{len(plan.participants)} participants.")
    stage_of = {id(step): stage.name for stage in plan.stages for step in stage.steps}
    columns = (TextColumn("{task.description:<72}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(plan.stages[0].name, total=len(plan))

        def advance(step: Step, _: Outcome) -> None:
            bar.update(task, advance=1, description=stage_of[id(step)])

        return await load(plan, nats_send(nc, correlation_id=f"demo-{plan.programme_id}"), concurrency=concurrency,
                          progress=advance, recorded_up_to=recorded_up_to)


def tokens_file() -> Path:
    return pathways_home() / "demo-tokens.json"


def _hand_out(plan: DemoPlan, tokens: dict[str, str], issued: list[str]) -> None:
    """Write the demo organisations' tokens to an owner-only file and show the
    commissioner's. The file is rewritten only when a token in it is new."""
    path = tokens_file()
    if issued:
        write_tokens(path, tokens)
    # connection.json, not the environment: only `pathways up` knows the services' addresses.
    where = connection_file()
    services = ConnectionInfo.read(where).services if where.exists() else {}
    dashboard = services.get("reporting", "the reporting service") + "/"
    kept = f"{len(tokens) - len(issued)} kept from the last run, {len(issued)} new" if len(issued) < len(tokens) else "new"
    console.print(f"Dashboard: [bold]{dashboard}[/bold] — sign in as the commissioner with the token below "
                  f"(partners' tokens are in {path}; {kept}):")
    console.print(tokens[plan.commissioner], markup=False, highlight=False)
    survey = services.get("evaluation", "the evaluation service") + try_it_link(plan.seed, plan.programme_id)
    console.print(f"A survey to answer as a person taking part would, on a phone or here (once): [bold]{survey}[/bold]")


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
