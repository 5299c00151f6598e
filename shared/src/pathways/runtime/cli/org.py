"""`pathways org`: bring an organisation onto the platform and hand its system what it
needs: NATS credentials whose server-side permissions let it act only as itself, and an
HTTP token with its role. Changes reach the running server without a restart.

The register of organisations and the token store are imported by the commands that use
them: every `pathways` command imports this module, and they take a while to import."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from pathways.core.ids import OPERATOR_ORGANISATION, is_valid_id
from pathways.core.subjects import COMMANDS_ROOT, command_subject
from pathways.runtime.connection import ConnectionInfo, connection_file, pathways_home, resolve_connection

if TYPE_CHECKING:
    from nats.aio.client import Client

org_cli = typer.Typer(help="Organisations: register them, issue, rotate and revoke their credentials.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)
ORG_ROLES = ("commissioner", "partner", "evaluator", "auditor", "safeguarding_lead")
# A safeguarding lead added as an organisation of its own is the host NHS trust (a commissioner
# that leads safeguarding itself takes a second token: `pathways tokens issue ORG --role safeguarding_lead`).
KIND_OF_ROLE = {"commissioner": "commissioner", "partner": "delivery_partner", "evaluator": "evaluator", "auditor": "auditor",
                "safeguarding_lead": "nhs_trust"}


def _connection() -> ConnectionInfo:
    try:
        return resolve_connection()
    except FileNotFoundError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None


async def _connect(connection: ConnectionInfo) -> Client:
    """A connection made right after a reload may meet the server mid-reload, when it
    refuses every user for an instant: try again briefly before giving up."""
    import nats.errors

    for attempt in range(25):
        try:
            return await connection.connect("pathways-org", allow_reconnect=False, connect_timeout=5)
        except nats.errors.Error as err:
            if "authorization" not in str(err).lower() or attempt == 24:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


def _handled_by(command: str) -> str:
    """The service that takes `command`: the kernel names none, it asks each installed one."""
    from pathways.runtime.service import each_service

    for service in each_service():
        if command in service.handlers:
            return service.name
    raise typer.BadParameter(f"No installed service takes {command}.")


async def _register(connection: ConnectionInfo, organisation_id: str, name: str, role: str) -> None:
    """RegisterOrganisation, sent by the operator; already registered is fine."""
    subject = command_subject(OPERATOR_ORGANISATION, _handled_by("RegisterOrganisation"), "RegisterOrganisation")
    nc = await _connect(connection)
    try:
        data = {"organisation_id": organisation_id, "name": name, "kind": KIND_OF_ROLE[role]}
        body = {"idempotency_key": f"org-add-{organisation_id}", "organisation": OPERATOR_ORGANISATION,
                "actor": "pathways org add", "data": data}
        reply = json.loads((await nc.request(subject, json.dumps(body).encode(), timeout=30)).data)
    finally:
        await nc.close()
    if reply["status"] != "accepted" and "already registered" not in reply.get("message", ""):
        err_console.print(f"[red]The registry refused the organisation:[/red] {reply.get('message')}")
        raise typer.Exit(1)


async def _token(connection: ConnectionInfo, organisation_id: str, role: str, *, replace: bool) -> str:
    from pathways.policy.access import TokenStore
    from pathways.runtime.follow import ensure_following

    nc = await _connect(connection)
    try:
        if role != "auditor":  # the consumer of its own facts it may pull from (pathways.runtime.follow)
            await ensure_following(nc, [organisation_id])
        store = TokenStore(nc)
        if replace:
            await store.revoke(organisation_id)
        return await store.issue(organisation_id, role)
    finally:
        await nc.close()


def _credentials(connection: ConnectionInfo, organisation_id: str, role: str, password: str, token: str) -> dict[str, Any]:
    from pathways.runtime.accounts import inbox_prefix, nats_user
    from pathways.runtime.follow import delivered_to, follow_consumer, followed_subject

    services = ConnectionInfo.read(connection_file()).services if connection_file().exists() else connection.services
    return {
        "organisation_id": organisation_id,
        "role": role,
        "nats": {"url": connection.nats_url, "user": nats_user(organisation_id), "password": password,
                 "inbox_prefix": inbox_prefix(organisation_id)},
        "commands": f"{COMMANDS_ROOT}.{organisation_id}.<service>.<CommandName>" if role != "auditor" else None,
        # Its own facts, pulled from the consumer the platform made for it (pathways.runtime.follow).
        "follow": {"subscribe": delivered_to(organisation_id), "consumer": follow_consumer(organisation_id),
                   "events_on": followed_subject(organisation_id)} if role != "auditor" else None,
        "http": {"token": token, "services": services},
    }


def _write(path: Path, body: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
    with os.fdopen(fd, "w") as handle:
        json.dump(body, handle, indent=2)
        handle.write("\n")


def _issue(organisation_id: str, role: str, out: Path, *, replace: bool) -> None:
    from pathways.runtime.accounts import OrganisationRegister
    from pathways.runtime.natsserver import reload_running_server

    connection = _connection()
    try:
        password = OrganisationRegister(pathways_home()).issue(organisation_id, role)
    except ValueError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    reloaded = reload_running_server(pathways_home())
    token = asyncio.run(_token(connection, organisation_id, role, replace=replace))
    _write(out, _credentials(connection, organisation_id, role, password, token))
    where = ("the running NATS server has them now" if reloaded else
             "apply them with `nats-server --signal reload` (or they apply when the server starts)")
    earlier = " Earlier ones no longer work." if replace else ""
    console.print(f"Credentials for {organisation_id} ({role}) written to {out} (owner-only); {where}.{earlier}")


@org_cli.command("add")
def add(
    organisation_id: str = typer.Argument(..., help="Its id, e.g. partner-a ([A-Za-z0-9_-]+)"),
    role: str = typer.Option(..., help=f"One of: {', '.join(ORG_ROLES)}"),
    name: str = typer.Option(None, help="Its name as the registry shows it (default: the id)"),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write its credentials (owner-only JSON)"),
) -> None:
    """Register an organisation and issue its credentials: NATS (publish commands only as
    itself) and an HTTP token with its role."""
    if role not in ORG_ROLES:
        err_console.print(f"[red]Unknown role '{role}'.[/red] Use one of: {', '.join(ORG_ROLES)}")
        raise typer.Exit(2)
    if not is_valid_id(organisation_id):
        err_console.print(f"[red]'{organisation_id}' is not a valid organisation id[/red] (letters, digits, '-' and '_').")
        raise typer.Exit(2)
    asyncio.run(_register(_connection(), organisation_id, name or organisation_id, role))
    _issue(organisation_id, role, out, replace=False)


@org_cli.command("credentials")
def credentials(
    organisation_id: str = typer.Argument(..., help="An organisation added with `pathways org add`"),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write them (owner-only JSON)"),
) -> None:
    """New credentials for the organisation's system, written to a file. Its earlier NATS
    password and HTTP tokens stop working at once (only hashes are kept, so credentials
    are re-issued, never shown again)."""
    from pathways.runtime.accounts import OrganisationRegister

    known = OrganisationRegister(pathways_home()).load().get(organisation_id)
    if known is None:
        err_console.print(f"[red]No organisation '{organisation_id}'.[/red] Add it first: pathways org add")
        raise typer.Exit(2)
    _issue(organisation_id, known.role, out, replace=True)


@org_cli.command("revoke")
def revoke(organisation_id: str = typer.Argument(..., help="Its NATS access and HTTP tokens end at once")) -> None:
    """Cut an organisation off: the server closes its open connections, its tokens stop
    working on every service. Its history stays."""
    from pathways.policy.access import TokenStore
    from pathways.runtime.accounts import OrganisationRegister
    from pathways.runtime.natsserver import reload_running_server

    removed = OrganisationRegister(pathways_home()).revoke(organisation_id)
    reload_running_server(pathways_home())

    async def tokens() -> int:
        nc = await _connect(_connection())
        try:
            return await TokenStore(nc).revoke(organisation_id)
        finally:
            await nc.close()

    count = asyncio.run(tokens())
    console.print(f"{organisation_id}: NATS access {'revoked' if removed else 'was not granted'}; {count} HTTP token(s) revoked.")


@org_cli.command("services")
def services(
    env_file: Path = typer.Option(None, "--env-file", help="Also write the services' NATS passwords here (owner-only), "
                                  "for docker compose --env-file"),
) -> None:
    """Give every service its own NATS user (svc-<name>), for a deployment: the server's
    authorization file is rewritten (`pathways up` does this by itself)."""
    from pathways.runtime.accounts import ServiceAccounts
    from pathways.runtime.natsserver import reload_running_server
    from pathways.runtime.service import discover

    accounts = ServiceAccounts(pathways_home()).ensure(list(discover()))
    reloaded = reload_running_server(pathways_home())

    async def storage() -> None:  # the stream and buckets the services may not create themselves
        from pathways.runtime.storage import prepare_storage

        nc = await _connect(_connection())
        try:
            await prepare_storage(nc)
        finally:
            await nc.close()

    asyncio.run(storage())
    if env_file is not None:
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise
        with os.fdopen(fd, "w") as handle:
            for name, account in sorted(accounts.items()):
                handle.write(f"PATHWAYS_NATS_PASSWORD_{name.upper()}={account['password']}\n")
    console.print(f"{len(accounts)} service users ({', '.join(f'svc-{n}' for n in sorted(accounts))}); "
                  + ("the running NATS server has them now." if reloaded else "apply with `nats-server --signal reload`.")
                  + (f" Passwords written to {env_file}." if env_file else ""))


@org_cli.command("list")
def listing() -> None:
    """Organisations with NATS access, their roles and when their credentials were issued."""
    from pathways.runtime.accounts import OrganisationRegister, nats_user

    table = Table("Organisation", "Role", "NATS user", "Issued")
    for org in OrganisationRegister(pathways_home()).load().values():
        table.add_row(org.organisation_id, org.role, nats_user(org.organisation_id), org.issued_at)
    console.print(table)
