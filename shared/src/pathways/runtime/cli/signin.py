"""How the operator's CLI calls a service's signed-in read API: with $PATHWAYS_TOKEN when
set, otherwise with an operator token issued for this one call over the platform's NATS
connection (which only the operator holds) and revoked as soon as the call is done."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pathways.runtime.connection import ConnectionInfo

if TYPE_CHECKING:
    from rich.console import Console


@contextmanager
def operator_headers(connection: ConnectionInfo) -> Iterator[dict[str, str]]:
    given = os.environ.get("PATHWAYS_TOKEN")
    if given:
        yield {"Authorization": f"Bearer {given}"}
        return

    # Imported here: the service CLIs that use this must start fast for `--help`.
    from pathways.core.ids import OPERATOR_ORGANISATION
    from pathways.policy.access import TokenStore

    async def with_store(work: str, token: str = "") -> str:
        nc = await connection.connect("pathways-cli-signin", allow_reconnect=False, connect_timeout=5)
        try:
            store = TokenStore(nc)
            if work == "issue":
                return await store.issue(OPERATOR_ORGANISATION, "operator")
            await store.forget(token)
            return ""
        finally:
            await nc.close()

    token = asyncio.run(with_store("issue"))
    try:
        yield {"Authorization": f"Bearer {token}"}
    finally:
        asyncio.run(with_store("forget", token))


def operator_get(service: str, path: str, *, not_found: str | None = None, timeout: float = 30,
                 status: str | None = None, text: bool = False, console: Console | None = None) -> Any:
    """GET `path` from the running `service` as the operator, and say it for a person: the
    JSON answer (the body's text with `text`); or exit 2 when the platform or the service
    cannot be reached, 1 on a 404, printing `not_found` (by default the service's own words).
    `status`: a spinner's words while a long read runs. `console`: where those words go (the
    command's own: a command that prints its answer to standard output says them on stderr)."""
    import httpx
    import typer
    from rich.console import Console

    from pathways.runtime.connection import resolve_connection

    console = console or Console()
    try:
        connection = resolve_connection()
        base = connection.services[service]
        with operator_headers(connection) as headers, console.status(status or "Asking…"):
            answer = httpx.get(f"{base}{path}", timeout=timeout, headers=headers)
    except (FileNotFoundError, KeyError, httpx.HTTPError) as err:
        console.print(f"[red]Cannot reach the {service} service:[/red] {err}")
        raise typer.Exit(2) from None
    if answer.status_code == 404:
        console.print(f"[yellow]{not_found or answer.json().get('detail')}[/yellow]")
        raise typer.Exit(1)
    answer.raise_for_status()
    return answer.text if text else answer.json()
