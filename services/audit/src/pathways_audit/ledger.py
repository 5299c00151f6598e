"""The ledger the audit service keeps: an RFC 6962 Merkle tree over every message of
PATHWAYS_EVENTS in stream order (leaf i is stream sequence i + 1), stored as the hashes
of its complete subtrees. (What the audit events say is kept apart, in records.py.)

It is built by a kernel projection, so a batch of leaves and the stream position commit
in one transaction: a crash replays the batch and the tree comes out the same."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pathways.core.bounds import MAX_SEQUENCE
from pathways.core.eventstore.base import StoredEvent
from pathways.core.projection import Projection, Rows, Tables, read_position
from pathways.policy.accountability import CheckpointSigned
from pathways.policy.ledger.merkle import Frontier, NodeReader, perfect_subtrees
from pathways.policy.ledger.verifier import leaf_hash
from sqlalchemy import BigInteger, Connection, DateTime, LargeBinary, String, Table, Text, and_, insert, select, tuple_
from sqlmodel import Field, SQLModel

KEY = {"autoincrement": False}  # keys the ledger gives, never the database


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "audit_ledger_entry"
    sequence: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs=KEY)
    event_id: str | None = Field(default=None, index=True, sa_type=String(64))  # none for a message that is not a Pathways event
    type: str | None = Field(default=None, sa_type=String(120))
    subject: str = Field(sa_type=Text)
    stored_at: datetime = Field(sa_type=DateTime(timezone=True))


# Complete subtrees only: (level, index) covers leaves [index·2^level, (index+1)·2^level).
# Level 0 holds the leaf hashes. Any root, proof or subtree of any size is O(log n) reads.
class LedgerNode(SQLModel, table=True):
    __tablename__ = "audit_ledger_node"
    level: int = Field(primary_key=True, sa_column_kwargs=KEY)
    idx: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs=KEY)
    hash: bytes = Field(sa_type=LargeBinary(32))


def _t(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


ENTRIES, NODES = _t(LedgerEntry), _t(LedgerNode)
CHECKPOINT_TYPE = CheckpointSigned.event_type


def node_reader(conn: Connection, nodes: Table = NODES) -> NodeReader:
    def read(level: int, index: int) -> bytes:
        value = conn.execute(select(nodes.c.hash).where(nodes.c.level == level, nodes.c.idx == index)).scalar()
        if value is None:
            raise LookupError(f"the ledger has no node at level {level}, index {index}")
        return bytes(value)

    return read


def frontier_at(conn: Connection, size: int, nodes: Table = NODES) -> Frontier:
    """The tree's right edge at `size` leaves, from its complete subtrees (one query)."""
    if size == 0:
        return Frontier()
    wanted = perfect_subtrees(size)
    rows = conn.execute(
        select(nodes.c.level, nodes.c.idx, nodes.c.hash).where(tuple_(nodes.c.level, nodes.c.idx).in_(wanted))
    ).all()
    found = {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}
    return Frontier.from_nodes(size, lambda level, index: found[(level, index)])


def keep_leaves(rows: Rows, t: Tables, events: Sequence[StoredEvent]) -> None:
    """Hash each stored message exactly as stored and extend the tree."""
    rows.flush()
    conn = rows.connection
    frontier = frontier_at(conn, events[0].sequence - 1, t[NODES.name])
    nodes: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for stored in events:
        for level, index, digest in frontier.append(leaf_hash(stored.payload)):
            nodes.append({"level": level, "idx": index, "hash": digest})
        event_id, event_type = _identify(stored.payload)
        entries.append({"sequence": stored.sequence, "event_id": event_id, "type": event_type,
                        "subject": stored.subject, "stored_at": stored.stored_at})
    conn.execute(insert(t[NODES.name]), nodes)
    conn.execute(insert(t[ENTRIES.name]), entries)


def _identify(payload: bytes) -> tuple[str | None, str | None]:
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(body, dict):
        return None, None
    event_id, event_type = body.get("id"), body.get("type")
    return (event_id[:64] if isinstance(event_id, str) else None, event_type[:120] if isinstance(event_type, str) else None)


# The tree alone, apart from everything that reads what the events say: no event can stop
# it. It is the service's own record of what was stored, so `pathways rebuild` leaves it be
# (rebuilding it from the stream would copy any tampering into it).
LEDGER = Projection(name="audit_ledger", tables=[ENTRIES, NODES], handlers={}, stored=keep_leaves, rebuildable=False)


def tree_size(conn: Connection) -> int:
    """Leaves in the tree: every message up to the ledger's stream position."""
    return read_position(conn, LEDGER.name)


def uncheckpointed(conn: Connection, signed_size: int) -> bool:
    """Are there leaves after `signed_size` other than checkpoints themselves? (A
    checkpoint is a leaf too; signing one just to cover the last would never end.)"""
    return conn.execute(
        select(ENTRIES.c.sequence).where(
            and_(ENTRIES.c.sequence > signed_size, (ENTRIES.c.type != CHECKPOINT_TYPE) | ENTRIES.c.type.is_(None))
        ).limit(1)
    ).first() is not None


def entry_for(conn: Connection, event: str) -> Any:
    """The ledger entry of an event id, or of a stream sequence given as digits."""
    if event.isascii() and event.isdigit():  # "²" is a digit to Python, and 20 nines pass SQLite's integers
        if int(event) > MAX_SEQUENCE:
            return None
        return conn.execute(select(ENTRIES).where(ENTRIES.c.sequence == int(event))).first()
    return conn.execute(select(ENTRIES).where(ENTRIES.c.event_id == event).order_by(ENTRIES.c.sequence).limit(1)).first()


def leaf_hashes(conn: Connection, start: int, count: int) -> list[bytes]:
    """Leaf hashes from leaf index `start` (sequence start + 1), in order."""
    rows = conn.execute(
        select(NODES.c.hash).where(NODES.c.level == 0, NODES.c.idx >= start, NODES.c.idx < start + count).order_by(NODES.c.idx)
    ).scalars()
    return [bytes(h) for h in rows]


