"""`pathways tokens`: issue, list and revoke the HTTP bearer tokens organisations use for
the dashboards and read APIs."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from pathways.policy.roles import ROLES
from pathways.runtime.connection import resolve_connection

if TYPE_CHECKING:  # the token store imports nats-py and starlette: only a command that uses it loads them
    from pathways.policy.access import TokenStore

tokens_cli = typer.Typer(help="HTTP bearer tokens for organisations (dashboards and read APIs).", no_args_is_help=True)
console = Console()
T = TypeVar("T")


def _with_store(work: Callable[[TokenStore], Awaitable[T]]) -> T:
    try:
        connection = resolve_connection()
    except FileNotFoundError as err:
        console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None

    from pathways.policy.access import TokenStore

    async def main() -> T:
        nc = await connection.connect("pathways-tokens", allow_reconnect=False, connect_timeout=5)
        try:
            return await work(TokenStore(nc))
        finally:
            await nc.close()

    return asyncio.run(main())


@tokens_cli.command("issue")
def issue(
    organisation_id: str = typer.Argument(..., help="The organisation the token acts for"),
    role: str = typer.Option(..., help=f"One of: {', '.join(ROLES)}"),
    out: Path = typer.Option(None, "--out", "-o", help="Write the token to this file (owner-only) instead of printing it"),
) -> None:
    """Issue a token. It is shown once: only its hash is kept."""
    if role not in ROLES:
        console.print(f"[red]Unknown role '{role}'.[/red] Use one of: {', '.join(ROLES)}")
        raise typer.Exit(2)
    token = _with_store(lambda store: store.issue(organisation_id, role))
    if out is None:
        console.print(token, markup=False, highlight=False)
        return
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    console.print(f"Token for {organisation_id} ({role}) written to {out}.")


@tokens_cli.command("revoke")
def revoke(organisation_id: str = typer.Argument(..., help="Every token of this organisation stops working at once")) -> None:
    """Revoke all of an organisation's tokens, on every service, without a restart."""
    count = _with_store(lambda store: store.revoke(organisation_id))
    console.print(f"Revoked {count} token(s) of {organisation_id}.")


@tokens_cli.command("list")
def listing() -> None:
    """Which organisations hold tokens, with which role (never the tokens themselves)."""
    records = _with_store(lambda store: store.listing())
    table = Table("Organisation", "Role", "Issued")
    for r in sorted(records, key=lambda r: (r["organisation_id"], r["issued_at"])):
        table.add_row(r["organisation_id"], r["role"], r["issued_at"])
    console.print(table)
