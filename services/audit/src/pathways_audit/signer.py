"""Signing checkpoints: every few seconds, if the ledger has grown by anything other
than checkpoints, sign (origin, tree size, root, time) with the operator's Ed25519 key and
publish it on the stream, where the ledger picks it up and keeps it.

Each checkpoint is appended with the expected last sequence of the checkpoints subject,
so two signers cannot interleave two histories of checkpoints; its event id is derived
from (origin, size), so a retried publish is stored once."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pathways.accountability import CHECKPOINTS_AGGREGATE, CheckpointSigned, audit_event
from pathways.commands import OPERATOR_ORGANISATION
from pathways.eventstore.base import AppendRequest, ConcurrencyConflict, EventStore
from pathways.ledger.merkle import root_at
from pathways.ledger.signing import CheckpointSigner, load_or_create_key
from pathways.ledger.verifier import Checkpoint
from pathways.logging import get_logger
from pathways.runtime.connection import pathways_home
from pathways.service import BackgroundContext
from pathways.subjects import NO_PROGRAMME
from sqlalchemy import Engine

from pathways_audit import ledger

log = get_logger("pathways.audit.signer")
DEFAULT_ORIGIN = "pathways/ledger"


@dataclass(frozen=True)
class LedgerSettings:
    key_path: Path
    origin: str
    interval: float  # seconds between looks at the ledger

    @classmethod
    def from_env(cls) -> LedgerSettings:
        key = os.environ.get("PATHWAYS_LEDGER_KEY")
        return cls(
            key_path=Path(key) if key else pathways_home() / "audit" / "ledger.key",
            origin=os.environ.get("PATHWAYS_LEDGER_ORIGIN", DEFAULT_ORIGIN),
            interval=float(os.environ.get("PATHWAYS_LEDGER_CHECKPOINT_SECONDS", "5")),
        )

    @property
    def vkey_path(self) -> Path:
        return self.key_path.with_suffix(".vkey")

    def signer(self) -> CheckpointSigner:
        signer = CheckpointSigner(load_or_create_key(self.key_path), self.origin)
        # The public half beside the key, for the operator to hand to auditors.
        try:
            if not self.vkey_path.exists() or self.vkey_path.read_text().strip() != str(signer.vkey):
                self.vkey_path.write_text(str(signer.vkey) + "\n")
        except OSError:  # a read-only secret mount: the key is served over HTTP anyway
            pass
        return signer


def _state(engine: Engine) -> tuple[int, int, int, bool]:
    """(tree size, size last signed, sequence of the last checkpoint, anything new?)"""
    with engine.connect() as conn:
        size = ledger.tree_size(conn)
        latest = ledger.latest_checkpoint(conn)
        signed = int(latest.tree_size) if latest is not None else 0
        return size, signed, ledger.last_checkpoint_sequence(conn), ledger.uncheckpointed(conn, signed)


def _root(engine: Engine, size: int) -> bytes:
    with engine.connect() as conn:
        return root_at(size, ledger.node_reader(conn))


async def sign_once(engine: Engine, store: EventStore, signer: CheckpointSigner, *, now: datetime | None = None) -> int | None:
    """Sign and publish a checkpoint of the ledger as it stands, if it has grown. Returns
    the size signed, or None when there was nothing new (or another signer got there)."""
    size, signed, last_sequence, new = await asyncio.to_thread(_state, engine)
    if size == 0 or size <= signed or not new:
        return None
    root = await asyncio.to_thread(_root, engine, size)
    moment = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    note = signer.sign(Checkpoint(signer.name, size, root, (f"time {moment}",)))
    event = audit_event(
        CheckpointSigned(origin=signer.name, tree_size=size, root_hash=base64.b64encode(root).decode(), note=note),
        aggregate=CHECKPOINTS_AGGREGATE,
        programme=NO_PROGRAMME,
        organisation=OPERATOR_ORGANISATION,
        actor="ledger-signer",
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"pathways-ledger/{signer.name}/{size}")),
    )
    try:
        await store.append(AppendRequest([event], {event.subject: last_sequence}))
    except ConcurrencyConflict:
        log.info("a checkpoint was published meanwhile; signing again once the ledger has it", size=size)
        return None
    log.info("checkpoint signed", tree_size=size)
    return size


async def sign_checkpoints(ctx: BackgroundContext) -> None:
    """The background task: runs until the service stops."""
    settings = LedgerSettings.from_env()
    signer = settings.signer()
    log.info("ledger signer ready", origin=signer.name, vkey=str(signer.vkey), every_seconds=settings.interval)
    while not ctx.stop.is_set():
        try:
            await asyncio.wait_for(ctx.stop.wait(), settings.interval)
            return
        except TimeoutError:
            pass
        try:
            await sign_once(ctx.engine, ctx.store, signer)
        except Exception:
            log.exception("could not sign a checkpoint; trying again")
