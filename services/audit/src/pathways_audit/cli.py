"""`pathways audit`: verify the whole history, replay it as of a date, and get proofs and
checkpoints to keep. Every proof is checked with the trusted key before it is saved."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from pathways.core.asof import parse_as_of
from pathways.policy.ledger.signing import CheckpointSigner, generate_key
from pathways.policy.ledger.verifier import CheckpointError, ProofError, open_checkpoint, verify_bundle
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from pathways_audit.client import (
    KEY_HELP,
    TOKEN_HELP,
    URL_HELP,
    VIA_HELP,
    answer,
    err_console,
    fail,
    http,
    reads_via_service,
    trusted_key,
    with_stream,
)
from pathways_audit.keys import DEFAULT_ORIGIN

if TYPE_CHECKING:  # the commands import what they run, so `pathways audit --help` is quick
    from pathways.jetstream.store import JetStreamEventStore

    from pathways_audit.verify import VerifyReport

audit_cli = typer.Typer(help="The tamper-evident ledger: verify, replay as of a date, prove.", no_args_is_help=True)
console = Console()


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True)


@audit_cli.command()
def verify(
    key: str = typer.Option(None, help=KEY_HELP),
    checkpoint: list[Path] = typer.Option([], help="A checkpoint you kept (repeat for several)"),
    ledger: bool = typer.Option(True, "--ledger/--no-ledger", help="Also compare with the audit service's ledger, "
                                "which locates a difference exactly (needs --token)"),
    url: str = typer.Option(None, help=URL_HELP),
    token: str = typer.Option(None, help=TOKEN_HELP),
    via: str = typer.Option(None, help=VIA_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Recompute the ledger from every stored event, check every signed checkpoint, and
    name the first sequence where anything differs. Exit status 1 if anything does."""
    from pathways_audit.sources import HttpLedger, HttpStream
    from pathways_audit.verify import StreamReader, verify_history

    vkey = trusted_key(key)
    kept = []
    for path in checkpoint:
        kept.append((str(path), path.read_text()))

    async def run(store: StreamReader | None) -> VerifyReport:
        with _progress() as progress:
            task = progress.add_task("Recomputing the ledger", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            if not ledger and store is not None:
                return await verify_history(store, vkey, kept=kept, progress=report)
            async with http(url, token) as client:
                return await verify_history(store or HttpStream(client), vkey, ledger=HttpLedger(client) if ledger else None,
                                            kept=kept, progress=report)

    result = asyncio.run(run(None)) if reads_via_service(via, token) else with_stream(run)
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
    elif result.ok:
        console.print(f"[green]Verified[/green]: {result.events} events, {result.checkpoints} signed checkpoints"
                      + (", and the audit service's ledger" if result.ledger_compared else "") + f". Root {result.root}")
    else:
        table = Table("Sequence", "Problem", "What was found", title="The history does NOT verify")
        for p in result.problems:
            table.add_row(str(p.sequence) if p.sequence is not None else "—", p.kind, p.message)
        console.print(table)
        console.print(f"[red]First bad sequence: {result.first_bad_sequence}[/red]")
    if not result.ok:
        raise typer.Exit(1)


@audit_cli.command()
def replay(
    as_of: str = typer.Option(..., "--as-of", help="A date (its end, UTC) or a date and time"),
    programme: str = typer.Option(None, help="Only this programme's events"),
    organisation: str = typer.Option(None, help="Only events recorded by this organisation"),
    output_format: str = typer.Option("jsonl", "--format", help="jsonl (one event per line) or table"),
    output: Path = typer.Option(None, "-o", "--output", help="Write here instead of the terminal"),
    url: str = typer.Option(None, help=URL_HELP),
    token: str = typer.Option(None, help=TOKEN_HELP),
    via: str = typer.Option(None, help=VIA_HELP),
) -> None:
    """The history exactly as it stood at a moment, from the stream itself."""
    if output_format not in ("jsonl", "table"):
        raise fail("--format takes jsonl or table")
    try:
        moment = parse_as_of(as_of)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--as-of") from None

    async def write(records: AsyncIterator[dict[str, Any]], progress: Progress) -> int:
        out = output.open("w") if output else sys.stdout
        table = Table("Seq", "Stored at", "Type", "Programme", "Organisation", "Subject", "Actor")
        count = 0
        try:
            progress.add_task(f"History as of {moment:%Y-%m-%d %H:%M:%S} UTC", total=None)
            async for record in records:
                count += 1
                if output_format == "jsonl":
                    out.write(json.dumps(record, sort_keys=True) + "\n")
                else:
                    e = record.get("event") or {}
                    table.add_row(str(record["sequence"]), record["stored_at"][:19], str(e.get("type", "(not an event)")),
                                  str(e.get("programme", "")), str(e.get("organisation", "")), str(e.get("subject", "")),
                                  str(e.get("actor", "")))
            if output_format == "table":
                Console(file=out, width=200).print(table)
        finally:
            if output:
                out.close()
        return count

    async def from_stream(store: JetStreamEventStore) -> int:
        from pathways_audit.replay import history_as_of

        with _progress() as progress:
            return await write(history_as_of(store, moment, programme=programme, organisation=organisation), progress)

    async def from_service() -> int:
        params = {"as_of": moment.isoformat()} | {k: v for k, v in (("programme", programme),
                                                                      ("organisation", organisation)) if v}
        async with http(url, token) as client, client.stream("GET", "/audit/replay", params=params) as response:
            if response.status_code >= 400:
                await response.aread()
                answer(response)
            ended: list[bool] = []

            async def records() -> AsyncIterator[dict[str, Any]]:
                async for line in response.aiter_lines():
                    record = json.loads(line)
                    if record.get("end") is True:
                        ended.append(True)
                        return
                    yield record

            with _progress() as progress:
                count = await write(records(), progress)
            if not ended:
                raise fail("The audit service's answer was cut short: the history written is incomplete.", 1)
            return count

    count = asyncio.run(from_service()) if reads_via_service(via, token) else with_stream(from_stream)
    err_console.print(f"{count} events as of {moment.isoformat()}" + (f" written to {output}" if output else ""))


def _save_verified(bundle: dict[str, object], key: str | None, output: Path | None) -> None:
    vkey = trusted_key(key)
    try:
        what = verify_bundle(bundle, vkey)
    except (ProofError, CheckpointError) as err:
        raise fail(f"The proof the service gave does NOT verify with your key: {err}", 1) from None
    text = json.dumps(bundle, indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text)
        err_console.print(f"[green]Verified[/green]: {what}. Saved to {output}.")
    else:
        console.print_json(text)
        err_console.print(f"[green]Verified[/green]: {what}.")


@audit_cli.command()
def prove(
    event: str = typer.Argument(..., help="An event id (or a stream sequence)"),
    tree_size: int = typer.Option(None, help="Against the checkpoint of this size (default: the latest)"),
    output: Path = typer.Option(None, "-o", "--output", help="Save the proof here"),
    key: str = typer.Option(None, help=KEY_HELP), url: str = typer.Option(None, help=URL_HELP),
    token: str = typer.Option(None, help=TOKEN_HELP),
) -> None:
    """A proof that an event is in the signed log, to keep."""

    async def run() -> dict[str, object]:
        async with http(url, token) as client:
            params = {"tree_size": tree_size} if tree_size else {}
            return dict(answer(await client.get(f"/audit/proofs/inclusion/{event}", params=params)).json())

    _save_verified(asyncio.run(run()), key, output)


@audit_cli.command()
def consistency(
    old_checkpoint: Path = typer.Argument(..., help="A signed checkpoint you kept earlier"),
    tree_size: int = typer.Option(None, help="Against the checkpoint of this size (default: the latest)"),
    output: Path = typer.Option(None, "-o", "--output", help="Save the proof here"),
    key: str = typer.Option(None, help=KEY_HELP), url: str = typer.Option(None, help=URL_HELP),
    token: str = typer.Option(None, help=TOKEN_HELP),
) -> None:
    """A proof that the log your old checkpoint describes is a prefix of the log now."""

    kept = old_checkpoint.read_text()

    async def run() -> dict[str, object]:
        async with http(url, token) as client:
            params = {"tree_size": tree_size} if tree_size else {}
            response = await client.post("/audit/proofs/consistency", params=params, content=kept,
                                         headers={"content-type": "text/plain"})
            return dict(answer(response).json())

    _save_verified(asyncio.run(run()), key, output)


@audit_cli.command()
def checkpoint(
    output: Path = typer.Option(None, "-o", "--output", help="Save it here (keep it: it is your evidence)"),
    key: str = typer.Option(None, help=KEY_HELP), url: str = typer.Option(None, help=URL_HELP),
    token: str = typer.Option(None, help=TOKEN_HELP),
) -> None:
    """The latest signed checkpoint, checked with your key."""

    async def run() -> str:
        async with http(url, token) as client:
            return answer(await client.get("/audit/checkpoints/latest")).text

    note = asyncio.run(run())
    try:
        signed = open_checkpoint(note, trusted_key(key))
    except CheckpointError as err:
        raise fail(f"The checkpoint does NOT verify with your key: {err}", 1) from None
    if output:
        output.write_text(note)
    else:
        sys.stdout.write(note)
    err_console.print(f"[green]Verified[/green]: {signed.size} events, signed at {signed.time}.")


@audit_cli.command()
def check(
    files: list[Path] = typer.Argument(..., help="Proofs (.json) or checkpoints you kept"),
    key: str = typer.Option(None, help=KEY_HELP),
) -> None:
    """Check kept proofs and checkpoints offline, with nothing but the key."""
    vkey = trusted_key(key)
    failed = 0
    for path in files:
        text = path.read_text()
        try:
            what = verify_bundle(json.loads(text), vkey) if text.lstrip().startswith("{") else (
                f"checkpoint of {open_checkpoint(text, vkey).size} events")
            console.print(f"[green]OK[/green]   {path}: {what}")
        except (ProofError, CheckpointError, ValueError, KeyError) as err:
            failed += 1
            console.print(f"[red]FAIL[/red] {path}: {err}")
    if failed:
        raise typer.Exit(1)


@audit_cli.command()
def keygen(
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the private key (owner-only)"),
    origin: str = typer.Option(DEFAULT_ORIGIN, help="The ledger's name, e.g. pathways.example.org/ledger"),
) -> None:
    """Create the operator's checkpoint signing key, and its verifier key beside it."""
    try:
        key = generate_key(output)
    except FileExistsError:
        raise fail(f"{output} exists; a ledger's key is never replaced silently.") from None
    vkey = CheckpointSigner(key, origin).vkey
    output.with_suffix(".vkey").write_text(str(vkey) + "\n")
    console.print(f"Signing key: {output} (keep it secret)\nVerifier key for auditors: {output.with_suffix('.vkey')}\n{vkey}")


@audit_cli.command()
def reads(
    participant: str = typer.Argument(..., help="A participant's pseudonymous id"),
    url: str = typer.Option(None, help=URL_HELP), token: str = typer.Option(None, help=TOKEN_HELP),
) -> None:
    """Who looked at this person's records: which organisation, through what, when."""

    async def run() -> list[dict[str, str]]:
        async with http(url, token) as client:
            return list(answer(await client.get(f"/audit/participants/{participant}/reads")).json())

    rows = asyncio.run(run())
    table = Table("When", "Organisation", "Role", "Service", "What", title=f"Reads of {participant}'s records")
    for r in rows:
        table.add_row(str(r["read_at"])[:19], r["organisation_id"], r["role"], r["service"], r["resource"])
    console.print(table if rows else f"No recorded reads of {participant}'s records.")


@audit_cli.command()
def rejections(
    organisation: str = typer.Option(None, help="Only this sender's"),
    limit: int = typer.Option(50, help="How many, newest first"),
    url: str = typer.Option(None, help=URL_HELP), token: str = typer.Option(None, help=TOKEN_HELP),
) -> None:
    """Commands the platform refused: who sent what, and why."""

    async def run() -> list[dict[str, str]]:
        async with http(url, token) as client:
            params: dict[str, str | int] = {"limit": limit} | ({"organisation": organisation} if organisation else {})
            return list(answer(await client.get("/audit/rejections", params=params)).json())

    table = Table("When", "Organisation", "Actor", "Command", "Code", "Why")
    for r in asyncio.run(run()):
        table.add_row(str(r["rejected_at"])[:19], r["organisation_id"], r["actor"], f"{r['context']}.{r['command']}",
                      r["code"], r["message"])
    console.print(table)


