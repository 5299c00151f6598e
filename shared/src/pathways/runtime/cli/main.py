"""`pathways`: run the platform (up, serve), look at it (status), and work with it
(schemas export, rebuild). Services add their own commands (e.g. `programme`).

Every command is a process of its own, so this module imports little at the top: the
services (and FastAPI, SQLAlchemy and the rest behind them) only when a command needs them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.panel import Panel

from pathways.runtime.cli.lazy import KERNEL_LAZY, LazyGroup, service_commands
from pathways.runtime.connection import ConnectionInfo, connection_file, pathways_home, resolve_connection

if TYPE_CHECKING:  # imported when a command needs it: `pathways status` loads no service
    from pathways.runtime.service import ServiceDefinition

app = typer.Typer(
    cls=LazyGroup,  # `tokens`, `org` and the services' commands are imported only when named
    help="Pathways: one trustworthy record for a multi-organisation health and social care programme.",
    no_args_is_help=True,
    add_completion=False,
)
schemas_cli = typer.Typer(help="Event and command schemas for partner systems.", no_args_is_help=True)
app.add_typer(schemas_cli, name="schemas")
console = Console()
err_console = Console(stderr=True)


@app.command()
def up(
    home: Path = typer.Option(None, help="Where data lives (default $PATHWAYS_HOME or ./.pathways)"),
    nats_port: int = typer.Option(None, envvar="NATS_PORT", help="NATS port (default: the one this home used last, else "
                                  "4222; a free one is used if it is busy)"),
    replicas: int = typer.Option(None, envvar="PATHWAYS_REPLICAS", help="Copies of the history and buckets the servers keep "
                                 "(default: the cluster's size, at most 3)"),
    demo: bool = typer.Option(False, "--demo/--no-demo", help="Load the made-up demo programme (`pathways demo`) once ready"),
    nodes: int = typer.Option(1, envvar="PATHWAYS_NODES", help="nats-servers to run here as one cluster (3: every stream "
                              "and bucket kept three times, R3); node 1 listens on the NATS port"),
) -> None:
    """Start the embedded NATS server (or a cluster of them) and every service; Ctrl-C stops everything cleanly."""
    import asyncio  # here, not at the top: `--help` and other commands need not load it

    from pathways.runtime.cli.nodes import make_servers, remember_ports, remembered_ports, start_servers, url_of, wait_formed
    from pathways.runtime.cli.supervise import Child, Supervisor
    from pathways.runtime.home import keep_private
    from pathways.runtime.natsserver import Credentials, free_port
    from pathways.runtime.service import discover

    _gc_setting_or_exit()  # every service would stop at start over it, each saying so only in its log
    home = (home or pathways_home()).resolve()
    os.environ["PATHWAYS_HOME"] = str(home)
    keep_private(home)  # 0700, and every file made in it 0600 (logs, databases, the store)
    _stop_on_signals()
    services = discover()
    credentials = Credentials.load_or_create(home / "credentials.json")
    # Organisations added with `pathways org add` connect as themselves, with permissions.
    # The ports are kept in the home and taken again next time: credentials files written by
    # `pathways org add` name them, and partner systems keep working across restarts.
    try:
        servers = make_servers(home, nodes, nats_port, credentials, list(services))
    except ValueError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    remembered = remembered_ports(home)
    asked = [nats_port or (remembered[0] if remembered else 4222), *remembered[1:nodes]]
    for server, wanted in zip(servers, asked, strict=False):
        if server.port != wanted:
            err_console.print(f"[yellow]Port {wanted} is taken: NATS listens on {server.port} instead. Credentials files "
                              f"written for port {wanted} need the new address.[/yellow]")
    ports = ", ".join(str(s.port) for s in servers)
    console.print(f"Starting {'nats-server' if nodes == 1 else f'a cluster of {nodes} nats-servers'} "
                  f"(JetStream, sync_interval: always) on port{'s' if nodes > 1 else ''} {ports} …")
    start_servers(servers)
    remember_ports(home, servers)
    supervisor = Supervisor(home, servers)
    server_url = url_of(servers)
    connection = ConnectionInfo(server_url, credentials.user, credentials.password, home=str(home))
    if nodes > 1:
        asyncio.run(wait_formed(connection, nodes))
    # The platform makes the stream and the buckets: services, connected as themselves, may not.
    asyncio.run(_prepare_storage(connection, replicas, home))
    try:
        env = os.environ | {
            "PATHWAYS_NATS_URL": server_url,
            "PATHWAYS_NATS_USER": credentials.user,
            "PATHWAYS_NATS_PASSWORD": credentials.password,
        }
        for name, service in services.items():
            port = free_port(service.http_port)
            # Each service connects as itself, with only what a service may do.
            account = servers[0].service_accounts[name]
            own = env | {"PATHWAYS_NATS_USER": f"svc-{name}", "PATHWAYS_NATS_PASSWORD": account["password"]}
            serve = [sys.executable, "-m", "pathways.runtime.cli.main", "serve", name, "--http-port", str(port)]
            supervisor.start(name, Child(serve, own, home / f"{name}.log"))
            connection.services[name] = f"http://127.0.0.1:{port}"
        _wait_healthy(connection, {name: child.process for name, child in supervisor.children.items() if child.process})
        connection.write(connection_file(home))
        if demo:
            _load_demo(env)
        _print_ready(connection, home, services)
        supervisor.watch()
    finally:
        # A second Ctrl-C or SIGTERM (timeout(1) and process managers send one to the whole
        # group) must not cut the shutdown short and orphan nats-server.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        console.print("Stopping services …")
        supervisor.stop()
        for server in servers:
            server.stop()
        with contextlib.suppress(FileNotFoundError):
            connection_file(home).unlink()
        console.print("Stopped. Data is kept in " + str(home))


async def _prepare_storage(connection: ConnectionInfo, replicas: int | None, home: Path) -> None:
    import asyncio

    from nats.js.errors import APIError

    from pathways.runtime.accounts import OrganisationRegister
    from pathways.runtime.follow import ensure_following
    from pathways.runtime.storage import prepare_storage

    nc = await connection.connect("pathways-up", allow_reconnect=False, connect_timeout=10)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                await prepare_storage(nc, replicas)
                # Each registered organisation's own consumer of its facts (an auditor reads by Direct Get).
                await ensure_following(nc, [a.organisation_id for a in OrganisationRegister(home).load().values()
                                            if a.role != "auditor"])
                return
            except ValueError as err:  # more replicas than servers, say
                err_console.print(f"[red]{err}[/red]")
                raise typer.Exit(2) from None
            except APIError as err:
                # A cluster just formed: its meta leader may not count every peer yet ("no
                # suitable peers for placement", 10005) or be elected (503). It will, shortly.
                if (err.err_code != 10005 and err.code != 503) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await nc.close()


def _wait_healthy(connection: ConnectionInfo, children: dict[str, subprocess.Popen[bytes]], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    pending = dict(connection.services)
    while pending and time.monotonic() < deadline:
        for name, base in list(pending.items()):
            if children[name].poll() is not None:
                raise typer.Exit(_child_failed(name))
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    del pending[name]
        time.sleep(0.2)
    if pending:
        err_console.print(f"[red]Services did not start in time:[/red] {', '.join(pending)}")
        raise typer.Exit(1)


def _stop_on_signals() -> None:
    """SIGTERM (a service manager, `kill`) stops everything as Ctrl-C does, and Ctrl-C
    works even when a shell started us in the background with SIGINT ignored: either way
    the services are stopped before NATS, never left orphaned."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _load_demo(env: dict[str, str]) -> None:
    """Run `pathways demo` against the platform just started. It sends real commands, so a
    second start adds nothing (each has a fixed idempotency key)."""
    console.print("Loading the demo programme (pathways demo) …")
    done = subprocess.run([sys.executable, "-m", "pathways.runtime.cli.main", "demo"], env=env)
    if done.returncode != 0:
        err_console.print("[yellow]The demo did not load completely; the platform runs on without it.[/yellow]")


def _child_failed(name: str) -> int:
    err_console.print(f"[red]The {name} service stopped at start.[/red] See its log in $PATHWAYS_HOME/{name}.log")
    return 1


def _print_ready(connection: ConnectionInfo, home: Path, services: Mapping[str, ServiceDefinition]) -> None:
    lines = [
        f"NATS            {connection.nats_url}  (user '{connection.user}', password in {home / 'connection.json'})",
        f"Data            {home}  (JetStream store, read-model databases, logs)",
    ]
    for name, base in connection.services.items():
        lines.append(f"{name:<15} {base}   API docs: {base}/docs")
    for name, base in connection.services.items():  # what each service asks to be told (ServiceDefinition.ready)
        service = services.get(name)
        if service is not None and service.ready is not None:
            lines.extend(service.ready(base, home))
    lines.append("")
    lines.append("Try: pathways status · pathways programme show <id> · pathways schemas export ./schemas")
    console.print(Panel("\n".join(lines), title="Pathways is running — Ctrl-C to stop", expand=False))


def _gc_setting_or_exit() -> None:
    from pathways.runtime import garbage

    try:
        garbage.thresholds()
    except ValueError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None


@app.command()
def serve(
    name: str = typer.Argument(..., help="The service to run, e.g. registry"),
    http_port: int = typer.Option(None, help="Port of the service's HTTP API (default: its own)"),
    http_host: str = typer.Option("127.0.0.1", help="Address the HTTP API listens on"),
    database_url: str = typer.Option(None, help="Read-model database (default: SQLite under $PATHWAYS_HOME)"),
    only: str = typer.Option("all", help="all, intake (commands and HTTP) or projections"),
) -> None:
    """Run one service in this process (what `up` and docker-compose start)."""
    import asyncio  # here, not at the top: `--help` and other commands need not load it

    if only not in ("all", "intake", "projections"):
        err_console.print("[red]--only takes all, intake or projections[/red]")
        raise typer.Exit(2)
    from pathways.runtime import garbage
    from pathways.runtime.home import database_url as default_db
    from pathways.runtime.host import ServiceHost

    _gc_setting_or_exit()  # a mistyped setting said now, not once the service has started
    from pathways.runtime.service import discover, find_service

    service = find_service(name)  # imports this service only
    if service is None:
        err_console.print(f"[red]No service '{name}'.[/red] Known: {', '.join(discover())}")
        raise typer.Exit(2)
    host = ServiceHost(
        service,
        resolve_connection(),
        database_url=database_url or default_db(service=name),
        http_port=None if only == "projections" else (http_port or service.http_port),
        http_host=http_host,
        run_projections=only in ("all", "projections"),
        run_intake=only in ("all", "intake"),
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await host.run_until_stopped(stop)

    # What the service imported and built (its modules, schemas, handlers: about 140,000
    # objects) frozen before anything runs, so no work in flight is frozen with it.
    garbage.settle()
    try:
        asyncio.run(main())
    finally:
        from pathways.runtime import telemetry

        telemetry.shutdown()  # the last spans and metrics out to the collector


@app.command()
def status() -> None:
    """Is Pathways running? The stream, and each service's health and projection positions."""
    from pathways.runtime.cli.status import show_status

    show_status(console, err_console)


@schemas_cli.command("export")
def schemas_export(directory: Path = typer.Argument(..., help="Where to write the JSON Schema files")) -> None:
    """Write every command and event schema as JSON Schema (for partners in any language)."""
    from pathways.jetstream.contract import export_schemas
    from pathways.runtime.service import all_schemas, discover

    written = export_schemas(all_schemas(discover()), directory)
    console.print(f"Wrote {len(written)} schema files to {directory}")


@app.command()
def rebuild(
    service_name: str = typer.Argument(None, help="Only this service's read models"),
    database_url: str = typer.Option(None, help="Read-model database (default: the service's own)"),
    as_of: str = typer.Option(
        None, "--as-of", help="Only the history stored up to this date (end of day, UTC) or date and time: "
        "the read models as they stood then. Use a fresh --database-url."
    ),
) -> None:
    """Rebuild read models from the whole stream into fresh tables, then swap them in."""
    import asyncio  # here, not at the top: `--help` and other commands need not load it

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    from pathways.core.asof import parse_as_of
    from pathways.core.readmodels import make_engine
    from pathways.core.rebuild import rebuild as rebuild_projection
    from pathways.jetstream.store import JetStreamEventStore
    from pathways.runtime.home import database_url as default_db
    from pathways.runtime.service import discover
    from pathways.runtime.stream_reader import read_in_child

    services = {k: v for k, v in discover().items() if service_name in (None, k)}
    if not services:
        err_console.print(f"[red]No service '{service_name}'.[/red]")
        raise typer.Exit(2)
    try:
        moment = parse_as_of(as_of) if as_of else None
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--as-of") from None
    if moment is not None and not database_url:
        raise typer.BadParameter("a read model as of a date goes into a database of its own", param_hint="--database-url")
    connection = resolve_connection()

    async def main() -> None:
        nc = await connection.connect("pathways-rebuild")
        store = JetStreamEventStore(nc)
        until = await store.sequence_at(moment) if moment is not None else None
        if until is not None:
            console.print(f"History as of {moment:%Y-%m-%d %H:%M:%S} UTC: events 1 to {until}.")
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as progress:
            for name, service in services.items():
                engine = make_engine(database_url or default_db(service=name))
                for projection in service.all_projections:
                    if not projection.rebuildable:
                        console.print(f"{name}/{projection.name} is a record of its own, not a view of the stream: "
                                      "it is not rebuilt.")
                        continue
                    task = progress.add_task(f"{name}/{projection.name}", total=None)

                    def report(done: int, total: int, task: TaskID = task) -> None:
                        progress.update(task, completed=done, total=total)

                    position = await rebuild_projection(projection, engine, store, progress=report, until=until,
                                                        read=read_in_child(connection))
                    progress.update(task, description=f"{name}/{projection.name} ✓ at {position}")
                engine.dispose()
        await nc.close()

    asyncio.run(main())


def main() -> None:
    # Services add their own commands (entry points in `pathways.commands`). They are only
    # named here: a command's module is imported when that command runs or a help text
    # lists it, so `pathways status` imports no service and `pathways audit` only audit's CLI.
    kernel = {c.name or typer.main.get_command_name(c.callback.__name__) for c in app.registered_commands if c.callback}
    kernel |= {group.name for group in app.registered_groups if group.name} | set(KERNEL_LAZY)
    services = service_commands()
    clash = sorted(kernel & set(services))
    if clash:
        raise SystemExit(f"A service's command has the name of a kernel command: {', '.join(clash)}")
    LazyGroup.lazy = KERNEL_LAZY | services
    app()


if __name__ == "__main__":
    main()
