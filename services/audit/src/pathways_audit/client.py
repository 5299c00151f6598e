"""What the `pathways audit` commands need to reach: the trusted verifier key, the audit
service's HTTP API (with an auditor's token) and the event stream (NATS)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer
from pathways.policy.ledger.verifier import CheckpointError, VerifierKey
from pathways.runtime.connection import ConnectionInfo, connection_file, pathways_home, resolve_connection
from rich.console import Console

if TYPE_CHECKING:  # httpx and the event store are imported by the commands that use them, so `--help` is quick
    import httpx
    from pathways.jetstream.store import JetStreamEventStore

err_console = Console(stderr=True)
T = TypeVar("T")

KEY_HELP = ("The ledger's verifier key (a vkey, or a file holding one) that you were given out of band. "
            "Default: $PATHWAYS_LEDGER_VKEY, else $PATHWAYS_HOME/audit/ledger.vkey")
URL_HELP = "The audit service's address (default: $PATHWAYS_AUDIT_URL, else the running platform's)"
TOKEN_HELP = "An auditor's token (default: $PATHWAYS_TOKEN)"


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[red]{message}[/red]")
    return typer.Exit(code)


def trusted_key(key: str | None) -> VerifierKey:
    text = key or os.environ.get("PATHWAYS_LEDGER_VKEY")
    if text is None:
        default = pathways_home() / "audit" / "ledger.vkey"
        if not default.exists():
            raise fail(f"No verifier key: pass --key (a vkey or its file); {default} does not exist.")
        text = str(default)
    if Path(text).is_file():
        text = Path(text).read_text()
    try:
        return VerifierKey.parse(text)
    except CheckpointError as err:
        raise fail(f"--key: {err}") from None


def audit_url(url: str | None) -> str:
    found = url or os.environ.get("PATHWAYS_AUDIT_URL")
    if found:
        return found.rstrip("/")
    path = connection_file()
    if path.exists():
        services = ConnectionInfo.read(path).services
        if "audit" in services:
            return services["audit"]
    raise fail("Where is the audit service? Pass --url or set PATHWAYS_AUDIT_URL (or start the platform: pathways up).")


def auditor_token(token: str | None, *, required: bool = True) -> str | None:
    found = token or os.environ.get("PATHWAYS_TOKEN")
    if not found and required:
        raise fail("This needs an auditor's token: pass --token or set PATHWAYS_TOKEN "
                   "(pathways tokens issue ORG --role auditor).")
    return found


def http(url: str | None, token: str | None) -> httpx.AsyncClient:
    import httpx

    bearer = auditor_token(token)
    return httpx.AsyncClient(base_url=audit_url(url), headers={"Authorization": f"Bearer {bearer}"}, timeout=120)


def answer(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if isinstance(detail, list):  # a 422's list of problems: say what each is
            detail = "; ".join(str(p.get("msg", p)) if isinstance(p, dict) else str(p) for p in detail)
        raise fail(f"The audit service answered {response.status_code}: {detail}", 1)
    return response


VIA_HELP = ("Where to read the stream from: 'service' (the audit service, with an auditor's token; "
            "auditors ask NATS nothing) or 'stream' (JetStream itself, with the platform's own credentials). "
            "Default: the service when a token is given, else the stream")


def reads_via_service(via: str | None, token: str | None) -> bool:
    """Whether the stream is read through the audit service (an auditor) or from JetStream (the operator)."""
    if via not in (None, "service", "stream"):
        raise fail("--via takes service or stream")
    if via is None:
        return auditor_token(token, required=False) is not None
    return via == "service"


def with_stream(work: Callable[[JetStreamEventStore], Awaitable[T]]) -> T:
    try:
        connection = resolve_connection()
    except FileNotFoundError as err:
        raise fail(str(err)) from None

    from pathways.jetstream.store import JetStreamEventStore

    async def main() -> T:
        nc = await connection.connect("pathways-audit-cli", allow_reconnect=False, connect_timeout=5)
        try:
            # By Direct Get: nothing is created on the server to read it.
            return await work(JetStreamEventStore(nc, timeout=30, by_direct_get=True))
        finally:
            await nc.close()

    return asyncio.run(main())
