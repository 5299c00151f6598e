"""The auditors' HTTP API: the ledger's state and checkpoints, proofs, a full verification,
replay as of a date, and the accountability records. Auditors only: every route needs an
auditor's token (403 for any other role, 401 without one)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from pathways.core.asof import parse_as_of
from pathways.core.bounds import MAX_ROWS, MAX_SEQUENCE
from pathways.jetstream.store import JetStreamEventStore
from pathways.policy.access import Caller, caller
from pathways.policy.http import db_session, unprocessable
from pathways.policy.ledger.signing import CheckpointSigner
from sqlalchemy import Engine, select
from sqlmodel import Session

from pathways_audit import ledger, proofs, records
from pathways_audit.keys import KeyProblem, ledger_signer
from pathways_audit.replay import history_as_of
from pathways_audit.sources import DatabaseLedger
from pathways_audit.verify import verify_history

MAX_LEAVES = 65536
MAX_STORED = 4096  # events per page of /audit/stream: about 4 MB of JSON at the largest events


async def auditor(who: Caller = Depends(caller)) -> Caller:
    if who.role != "auditor":
        raise HTTPException(403, "Only an auditor may read the audit ledger.")
    return who


def ledger_key() -> CheckpointSigner:
    """This ledger's key as loaded by the service (never created here): 503 without it."""
    try:
        return ledger_signer()
    except KeyProblem as err:
        raise HTTPException(503, f"The ledger's key is not available on this instance: {err}") from None


def _store(request: Request) -> JetStreamEventStore:
    store: JetStreamEventStore | None = getattr(request.app.state, "store", None)
    if store is None:
        raise HTTPException(503, "The event stream is not reachable from this instance.")
    return store


class NdjsonResponse(StreamingResponse):
    """One JSON object per line, documented as such (not as application/json)."""

    media_type = "application/x-ndjson"


NO_CHECKPOINT: dict[int | str, dict[str, Any]] = {409: {"description": "No checkpoint has been signed yet"}}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "The ledger's key or the event stream is not reachable from this instance"}}
PROOF_REFUSALS: dict[int | str, dict[str, Any]] = UNAVAILABLE | {
    404: {"description": "No such event, or no signed checkpoint of that size"},
    409: {"description": "No checkpoint covers it yet, or the checkpoint given is newer than the one asked for"},
    410: {"description": "The event is no longer in the stream: run a verification"},
}


def _proof_refused(err: proofs.ProofUnavailable) -> HTTPException:
    # A 422 in the shape every 422 is documented in (a list of problems), not a string.
    return unprocessable(err.message, "body") if err.status == 422 else HTTPException(err.status, err.message)


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in result]


router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[Depends(auditor)], responses=UNAVAILABLE)

@router.get("/ledger")
def state(session: Session = Depends(db_session)) -> dict[str, Any]:
    """How far the ledger has got, and the key its checkpoints are signed with."""
    conn = session.connection()
    latest = records.latest_checkpoint(conn)
    return {
        "tree_size": ledger.tree_size(conn),
        "origin": ledger_key().name,
        "vkey": str(ledger_key().vkey),
        "latest_checkpoint": dict(latest._mapping) if latest is not None else None,
    }

@router.get("/public-key", response_class=PlainTextResponse)
def public_key() -> str:
    """The verifier key (C2SP vkey). Prefer the copy the operator gave you out of band."""
    return str(ledger_key().vkey) + "\n"

@router.get("/checkpoints")
def checkpoints(limit: int = Query(20, ge=0, le=MAX_ROWS, description="How many, newest first; 0 for all"),
                session: Session = Depends(db_session)) -> list[dict[str, Any]]:
    query = select(records.CHECKPOINTS).order_by(records.CHECKPOINTS.c.tree_size.desc())
    return _rows(session.connection().execute(query.limit(limit) if limit else query))

@router.get("/checkpoints/latest", response_class=PlainTextResponse, responses=NO_CHECKPOINT)
def latest_checkpoint(session: Session = Depends(db_session)) -> str:
    """The latest signed checkpoint as a note: the thing to keep."""
    row = records.latest_checkpoint(session.connection())
    if row is None:
        raise HTTPException(409, "No checkpoint has been signed yet.")
    return str(row.note)

@router.get("/ledger/leaves", response_class=Response)
def leaves(start: int = Query(0, ge=0, le=MAX_SEQUENCE), count: int = Query(4096, ge=1, le=MAX_LEAVES),
           session: Session = Depends(db_session)) -> Response:
    """Leaf hashes from leaf `start` (stream sequence start + 1), 32 bytes each."""
    body = b"".join(ledger.leaf_hashes(session.connection(), start, count))
    return Response(body, media_type="application/octet-stream")

@router.get("/stream/last")
async def stream_last(request: Request) -> dict[str, int]:
    """The stream's last sequence: where a verification from /audit/stream ends."""
    return {"last_sequence": await _store(request).last_sequence()}

@router.get("/stream", response_class=NdjsonResponse)
async def stream(request: Request, start: int = Query(1, ge=1, le=MAX_SEQUENCE),
                 count: int = Query(1024, ge=1, le=MAX_STORED)) -> NdjsonResponse:
    """The stream's messages exactly as stored, from sequence `start`, at most `count`,
    one JSON object per line (`payload_base64`: the bytes the ledger hashes). This is how
    an auditor reads the stream: auditors ask JetStream nothing themselves, because a
    JetStream request names the subject its answer is published on, and an answer
    published on a key-value subject is stored in that bucket (pathways.runtime.accounts)."""
    store = _store(request)
    until = min(start + count - 1, await store.last_sequence())

    async def lines() -> AsyncIterator[bytes]:
        async for stored in store.read_all(start, until):
            yield json.dumps({"sequence": stored.sequence, "subject": stored.subject,
                              "stored_at": stored.stored_at.isoformat(),
                              "payload_base64": base64.b64encode(stored.payload).decode()}).encode() + b"\n"

    return NdjsonResponse(lines())

@router.get("/proofs/inclusion/{event}", responses=PROOF_REFUSALS)
async def prove(request: Request, event: str, tree_size: int | None = Query(None, ge=1, le=MAX_SEQUENCE),
                session: Session = Depends(db_session)) -> dict[str, Any]:
    """That an event (by id, or by stream sequence) is in the signed log."""
    try:
        # The database work off the event loop: the service answers other requests meanwhile.
        entry, checkpoint, proof = await asyncio.to_thread(proofs.inclusion, session.connection(), event, tree_size)
    except proofs.ProofUnavailable as err:
        raise _proof_refused(err) from None
    stored = await _store(request).get(int(entry.sequence))
    if stored is None:
        raise HTTPException(410, f"Sequence {entry.sequence} is no longer in the stream: run a verification.")
    return proofs.inclusion_bundle(entry, checkpoint, proof, stored.payload)

@router.post("/proofs/consistency", responses=PROOF_REFUSALS)
def consistent(old_checkpoint: str = Body(..., media_type="text/plain", description="The signed checkpoint you kept"),
               tree_size: int | None = Query(None, ge=1, le=MAX_SEQUENCE),
               session: Session = Depends(db_session)) -> dict[str, Any]:
    """That the log your old checkpoint describes is a prefix of the log now."""
    try:
        return proofs.consistency(session.connection(), old_checkpoint, ledger_key().vkey, tree_size)
    except proofs.ProofUnavailable as err:
        raise _proof_refused(err) from None

@router.get("/verify")
async def verify(request: Request, session: Session = Depends(db_session)) -> dict[str, Any]:
    """Recompute the whole ledger from the stream and check every checkpoint."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    report = await verify_history(_store(request), ledger_key().vkey, ledger=DatabaseLedger(engine))
    return report.to_dict()

@router.get("/replay", response_class=NdjsonResponse)
async def replay(request: Request,
                 as_of: str = Query(..., description="2026-03-31 (end of that day, UTC) or a date and time"),
                 programme: str | None = None, organisation: str | None = None) -> NdjsonResponse:
    """The history as it stood then, one JSON event per line, then a last line
    {"end": true, "events": N}: an answer without it was cut short."""
    try:
        moment = parse_as_of(as_of)
    except ValueError as err:
        raise unprocessable(str(err), "query", "as_of") from None
    store = _store(request)

    async def lines() -> AsyncIterator[bytes]:
        count = 0
        async for record in history_as_of(store, moment, programme=programme, organisation=organisation):
            count += 1
            yield json.dumps(record, sort_keys=True).encode() + b"\n"
        yield json.dumps({"end": True, "events": count, "as_of": moment.isoformat()}).encode() + b"\n"

    return NdjsonResponse(lines())

@router.get("/participants/{participant_id}/reads")
def reads(participant_id: str, session: Session = Depends(db_session)) -> list[dict[str, Any]]:
    """Who was given this participant's records, through which API, when."""
    table = records.READS
    query = select(table).where(table.c.participant_id == participant_id).order_by(table.c.sequence)
    return _rows(session.connection().execute(query))

@router.get("/rejections")
def rejections(organisation: str | None = None, limit: int = Query(100, ge=1, le=10000),
               session: Session = Depends(db_session)) -> list[dict[str, Any]]:
    """Commands the platform refused: who sent what, and why it was refused."""
    query = select(records.REJECTIONS).order_by(records.REJECTIONS.c.sequence.desc()).limit(limit)
    if organisation:
        query = query.where(records.REJECTIONS.c.organisation_id == organisation)
    return _rows(session.connection().execute(query))

