"""Signing checkpoints: every few seconds, if the ledger has grown by anything other
than checkpoints, sign (origin, tree size, root, time) with the operator's Ed25519 key and
publish it on the stream, where the audit records keep it once it verifies.

A checkpoint's event id is derived from (origin, size), so a retried publish, or a second
signer signing the same size, is stored once. The size last signed is read from the
checkpoints that verify with this key, so nothing another client publishes can hold the
signer back."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime

from pathways.core.commands import OPERATOR_ORGANISATION
from pathways.core.eventstore.base import AppendRequest, EventStore
from pathways.core.logging import get_logger
from pathways.core.subjects import NO_PROGRAMME
from pathways.jetstream.durable import BackgroundContext
from pathways.policy.accountability import CHECKPOINTS_AGGREGATE, CheckpointSigned, audit_event
from pathways.policy.ledger.merkle import root_at
from pathways.policy.ledger.signing import CheckpointSigner
from pathways.policy.ledger.verifier import Checkpoint
from sqlalchemy import Engine, inspect

from pathways_audit import ledger, records
from pathways_audit.keys import KeyProblem, LedgerSettings, ledger_signer

log = get_logger("pathways.audit.signer")


def _state(engine: Engine) -> tuple[int, int, bool]:
    """(tree size, size last signed, anything new since?)"""
    with engine.connect() as conn:
        if not inspect(conn).has_table(records.CHECKPOINTS.name):
            return 0, 0, False  # the ledger's projection has not created its tables yet: nothing to sign
        size = ledger.tree_size(conn)
        latest = records.latest_checkpoint(conn)
        signed = int(latest.tree_size) if latest is not None else 0
        return size, signed, ledger.uncheckpointed(conn, signed)


def _root(engine: Engine, size: int) -> bytes:
    with engine.connect() as conn:
        return root_at(size, ledger.node_reader(conn))


async def sign_once(engine: Engine, store: EventStore, signer: CheckpointSigner, *, now: datetime | None = None) -> int | None:
    """Sign and publish a checkpoint of the ledger as it stands, if it has grown. Returns
    the size signed, or None when there was nothing new (or another signer got there)."""
    size, signed, new = await asyncio.to_thread(_state, engine)
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
    await store.append(AppendRequest([event]))
    log.info("checkpoint signed", tree_size=size)
    return size


async def sign_checkpoints(ctx: BackgroundContext) -> None:
    """The background task: runs until the service stops. A key that cannot be used is
    logged as an error every time round, never silently given up on."""
    settings = LedgerSettings.from_env()
    signer: CheckpointSigner | None = None
    while not ctx.stop.is_set():
        try:
            if signer is None:
                signer = ledger_signer(create=True)
                log.info("ledger signer ready", origin=signer.name, vkey=str(signer.vkey), every_seconds=settings.interval)
            await sign_once(ctx.engine, ctx.store, signer)
        except KeyProblem as err:
            log.error("no checkpoints can be signed", reason=str(err))
        except Exception:
            log.exception("could not sign a checkpoint; trying again")
        try:
            await asyncio.wait_for(ctx.stop.wait(), settings.interval)
            return
        except TimeoutError:
            pass
