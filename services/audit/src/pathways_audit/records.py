"""What the audit events say, kept for questions: the checkpoints signed over the ledger
(only those that verify with this ledger's key, published where the signer publishes),
who was given which participants' records, and which commands were refused.

Anyone who can publish on the stream could publish something shaped like an audit event,
so each is read as untrusted data: one that does not validate is skipped and logged, and
never stops the projection (the tree itself is another projection, which reads nothing)."""

from __future__ import annotations

import json
from typing import Any

from pathways.accountability import (
    CHECKPOINTS_AGGREGATE,
    READS_AGGREGATE,
    REJECTIONS_AGGREGATE,
    CheckpointSigned,
    CommandRejected,
    ParticipantRecordsRead,
    written_by,
)
from pathways.commands import OPERATOR_ORGANISATION
from pathways.envelope import CloudEvent
from pathways.ledger.verifier import CheckpointError, open_checkpoint
from pathways.logging import get_logger
from pathways.projection import Projection, Rows, Tables, insert_if_absent, upsert
from pydantic import BaseModel, ValidationError
from sqlalchemy import BigInteger, Column, Connection, DateTime, Index, MetaData, Table, Text, select

from pathways_audit.keys import ledger_signer

log = get_logger("pathways.audit.records")
meta = MetaData()

CHECKPOINTS = Table(
    "audit_checkpoint", meta,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", Text, nullable=False),
    Column("signed_at", Text),
    Column("note", Text, nullable=False),
    Column("sequence", BigInteger, nullable=False, index=True),  # where it was published on the stream
)
READS = Table(
    "audit_participant_read", meta,
    Column("participant_id", Text, primary_key=True),
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("programme_id", Text, nullable=False),
    Column("organisation_id", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("resource", Text, nullable=False),
    Column("query", Text, nullable=False),
    Column("read_at", DateTime(timezone=True), nullable=False),
)
REJECTIONS = Table(
    "audit_rejection", meta,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("organisation_id", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("programme_id", Text, nullable=False),
    Column("context", Text, nullable=False),
    Column("command", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("idempotency_key", Text),
    Column("body_sha256", Text, nullable=False),
    Column("rejected_at", DateTime(timezone=True), nullable=False),
    Index("audit_rejection_by_organisation", "organisation_id", "sequence"),
)


def _valid(model: type[BaseModel], e: CloudEvent, data: Any, seq: int) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        log.warning("skipped an audit event that does not validate", type=e.type, sequence=seq, errors=err.error_count())
        return None


def _checkpoint(conn: Rows, t: Tables, e: CloudEvent, data: Any, seq: int) -> None:
    d = _valid(CheckpointSigned, e, data, seq)
    if d is None:
        return
    try:
        checkpoint = open_checkpoint(d.note, ledger_signer().vkey)
    except CheckpointError as err:
        log.warning("skipped a checkpoint this ledger's key did not sign", sequence=seq, reason=str(err))
        return
    if (checkpoint.size != d.tree_size or checkpoint.size >= seq or e.organisation != OPERATOR_ORGANISATION
            or e.subject != CHECKPOINTS_AGGREGATE):
        log.warning("skipped a checkpoint out of place", sequence=seq, tree_size=checkpoint.size)
        return
    # The first checkpoint of a size is kept; a later one that disagrees is for verify to judge.
    insert_if_absent(conn, t[CHECKPOINTS.name], {
        "tree_size": checkpoint.size, "root_hash": d.root_hash, "signed_at": checkpoint.time, "note": d.note, "sequence": seq,
    })


def _from_its_writer(e: CloudEvent, kind: str, writer: str, seq: int) -> bool:
    """A record on the aggregate of the service it names (or on the one shared aggregate of
    records written before each service had its own)."""
    if e.subject in (written_by(kind, writer), kind):
        return True
    log.warning("skipped an audit record written on another service's aggregate", sequence=seq, aggregate=e.subject,
                names=writer)
    return False


def _read(conn: Rows, t: Tables, e: CloudEvent, data: Any, seq: int) -> None:
    d = _valid(ParticipantRecordsRead, e, data, seq)
    if d is None or not _from_its_writer(e, READS_AGGREGATE, d.service, seq):
        return
    for pid in sorted(set(d.participant_ids)):
        insert_if_absent(conn, t[READS.name], {
            "participant_id": pid, "sequence": seq, "programme_id": e.programme, "organisation_id": e.organisation,
            "role": d.role, "service": d.service, "resource": d.resource, "query": json.dumps(d.query, sort_keys=True),
            "read_at": e.time,
        })


def _rejected(conn: Rows, t: Tables, e: CloudEvent, data: Any, seq: int) -> None:
    d = _valid(CommandRejected, e, data, seq)
    if d is None or not _from_its_writer(e, REJECTIONS_AGGREGATE, d.context, seq):
        return
    upsert(conn, t[REJECTIONS.name], {
        "sequence": seq, "organisation_id": e.organisation, "actor": e.actor, "programme_id": e.programme,
        "context": d.context, "command": d.command, "code": d.code, "message": d.message,
        "idempotency_key": d.idempotency_key, "body_sha256": d.body_sha256, "rejected_at": e.time,
    }, ["sequence"])


RECORDS = Projection(
    name="audit_records",
    tables=[CHECKPOINTS, READS, REJECTIONS],
    handlers={
        CheckpointSigned: _checkpoint,
        ParticipantRecordsRead: _read,
        CommandRejected: _rejected,
    },
)


def latest_checkpoint(conn: Connection) -> Any:
    return conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.tree_size.desc()).limit(1)).first()


def checkpoint_notes(conn: Connection) -> list[tuple[int, str]]:
    """(published at sequence, note) of every checkpoint kept, oldest first."""
    rows = conn.execute(select(CHECKPOINTS.c.sequence, CHECKPOINTS.c.note).order_by(CHECKPOINTS.c.tree_size)).all()
    return [(int(r.sequence), str(r.note)) for r in rows]
