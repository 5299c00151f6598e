"""What the audit events say, kept for questions: the checkpoints signed over the ledger
(only those that verify with this ledger's key, published where the signer publishes),
who was given which participants' records, and which commands were refused.

Anyone who can publish on the stream could publish something shaped like an audit event,
so each is read as untrusted data: one that does not validate is skipped and logged, and
never stops the projection (the tree itself is another projection, which reads nothing)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pathways.core.commands import OPERATOR_ORGANISATION
from pathways.core.envelope import CloudEvent
from pathways.core.logging import get_logger
from pathways.core.projection import Projection, Rows, Tables, insert_if_absent, upsert
from pathways.policy.accountability import (
    CHECKPOINTS_AGGREGATE,
    READS_AGGREGATE,
    REJECTIONS_AGGREGATE,
    CheckpointSigned,
    CommandRejected,
    ParticipantRecordsRead,
    written_by,
)
from pathways.policy.ledger.verifier import CheckpointError, open_checkpoint
from pydantic import BaseModel, ValidationError
from sqlalchemy import BigInteger, Connection, DateTime, Index, Table, Text, select
from sqlmodel import Field, SQLModel

from pathways_audit.keys import ledger_signer

log = get_logger("pathways.audit.records")
KEY = {"autoincrement": False}  # stream positions, never the database's numbers


class Checkpoint(SQLModel, table=True):
    __tablename__ = "audit_checkpoint"
    tree_size: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs=KEY)
    root_hash: str = Field(sa_type=Text)
    signed_at: str | None = Field(default=None, sa_type=Text)
    note: str = Field(sa_type=Text)
    sequence: int = Field(index=True, sa_type=BigInteger)  # where it was published on the stream


class ParticipantRead(SQLModel, table=True):
    __tablename__ = "audit_participant_read"
    participant_id: str = Field(primary_key=True, sa_type=Text)
    sequence: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs=KEY)
    programme_id: str = Field(sa_type=Text)
    organisation_id: str = Field(sa_type=Text)
    role: str = Field(sa_type=Text)
    service: str = Field(sa_type=Text)
    resource: str = Field(sa_type=Text)
    query: str = Field(sa_type=Text)
    read_at: datetime = Field(sa_type=DateTime(timezone=True))


class Rejection(SQLModel, table=True):
    __tablename__ = "audit_rejection"
    __table_args__ = (Index("audit_rejection_by_organisation", "organisation_id", "sequence"),)
    sequence: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs=KEY)
    organisation_id: str = Field(sa_type=Text)
    actor: str = Field(sa_type=Text)
    programme_id: str = Field(sa_type=Text)
    context: str = Field(sa_type=Text)
    command: str = Field(sa_type=Text)
    code: str = Field(sa_type=Text)
    message: str = Field(sa_type=Text)
    idempotency_key: str | None = Field(default=None, sa_type=Text)
    body_sha256: str = Field(sa_type=Text)
    rejected_at: datetime = Field(sa_type=DateTime(timezone=True))


def _t(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


CHECKPOINTS, READS, REJECTIONS = _t(Checkpoint), _t(ParticipantRead), _t(Rejection)


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
