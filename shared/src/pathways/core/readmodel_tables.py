"""A read model's tables: made when missing, rebuilt when a new version of the service
changed their columns, and never torn down under another version that is still writing
them.

During a rolling upgrade two versions of a service may point at one read-model database
(each instance should have its own: deploy/README). Without a guard the new version drops
the old one's tables to rebuild them, the old one fails on the new columns and drops them
back, and so on for as long as both run. So each runner records, per projection, the shape
of the tables it writes and a heartbeat (`projection_writer`); a version that finds other
columns leaves them alone while another shape's writer has beaten within WRITER_TIMEOUT,
and takes them over (rebuilding from the stream) once it has gone quiet."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex
from sqlmodel import Field, SQLModel

from pathways.core.logging import get_logger
from pathways.core.projection import Projection, write_position

log = get_logger("pathways.readmodel_tables")

WRITER_TIMEOUT = 60.0  # seconds without a heartbeat after which a writer is taken to be gone
PREPARING_LOCK = 0x70617468  # PostgreSQL advisory lock held while a runner prepares its tables ("path")
WRITER_HEARTBEAT = 10.0  # how often a running writer says it still writes (at most once per batch)


class ProjectionWriter(SQLModel, table=True):
    """Who last wrote a projection's tables: the shape of its tables, and when it last said so."""

    __tablename__ = "projection_writer"

    name: str = Field(primary_key=True, max_length=120)
    shape: str = Field(max_length=64)
    heartbeat: float = 0.0


class AnotherVersionWrites(Exception):
    """The tables have other columns and their writer is alive: this version must wait."""


def shape(projection: Projection) -> str:
    """The columns its tables have, as one short digest."""
    described = sorted(f"{t.name}:{','.join(sorted(f'{c.name} {c.type}' for c in t.columns))}" for t in projection.tables)
    return hashlib.sha256("\n".join(described).encode()).hexdigest()[:16]


def prepare_tables(conn: Connection, projections: Sequence[Projection], now: float | None = None) -> None:
    """Create what is missing; rebuild what an earlier version made with other columns
    (the projection starts again from the first event), unless that version still writes.
    Every projection is checked before any table is dropped: SQLite commits DDL as it goes,
    so a refusal after the first drop would leave that one torn down regardless."""
    now = time.time() if now is None else now
    if conn.dialect.name == "postgresql":
        # One instance at a time, until its transaction ends: two replicas of a new version
        # starting together would otherwise both make the same table or index, and the second
        # fail when the first commits (IF NOT EXISTS does not see an uncommitted one). SQLite
        # serialises writers already.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PREPARING_LOCK})
    table = ProjectionWriter.__table__  # type: ignore[attr-defined]
    table.create(conn, checkfirst=True)
    writers = {row.name: row for row in conn.execute(select(table)).all()}
    existing = inspect(conn)
    rebuild: list[Projection] = []
    for projection in projections:
        present = [t for t in projection.tables if existing.has_table(t.name)]
        stale = [t for t in present if {c["name"] for c in existing.get_columns(t.name)} != {c.name for c in t.columns}]
        if present and len(present) < len(projection.tables):  # a table added since (a summary): fill it too
            stale += [t for t in projection.tables if t not in present]
        if not stale:
            continue
        writer = writers.get(projection.name)
        if writer is not None and writer.shape != shape(projection) and now - writer.heartbeat < WRITER_TIMEOUT:
            raise AnotherVersionWrites(
                f"{projection.name}: another version of this service is writing these tables right now (other "
                f"columns, last seen {now - writer.heartbeat:.0f} s ago). They are left alone; give each "
                "version its own read-model database (PATHWAYS_DATABASE_URL). This one takes them over once "
                f"that one has been quiet for {WRITER_TIMEOUT:.0f} s.")
        if not projection.rebuildable:
            raise RuntimeError(f"{projection.name}: tables {[t.name for t in stale]} were made by another "
                               "version and are a record of their own; migrate them, they are not rebuilt")
        log.warning("read model made by an earlier version; rebuilding it from the stream",
                    projection=projection.name, tables=[t.name for t in stale])
        rebuild.append(projection)
    for projection in rebuild:
        for t in projection.tables:
            t.drop(conn, checkfirst=True)
        write_position(conn, projection.name, 0)
    for projection in projections:
        for t in projection.tables:
            t.create(conn, checkfirst=True)
            # An index added since (a query made cheaper) is built on the rows there are: the
            # columns are the same, so nothing is rebuilt from the stream for it. IF NOT EXISTS:
            # one statement, and no window between asking and making as a separate check has.
            for index in t.indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))
    beat(conn, projections, now, claim=True)


def beat(conn: Connection, projections: Sequence[Projection], now: float | None = None, *, claim: bool = False) -> None:
    """These projections' tables are still written, with these shapes. Only a claim (the
    tables were just made or checked to have this version's columns) changes the shape on
    record: an older version still running after a newer one took its tables over must not
    claim them back by beating, or the newer one, restarted, would wait on a writer whose
    every write now fails."""
    now = time.time() if now is None else now
    table = ProjectionWriter.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for projection in projections:
        stmt = insert(table).values(name=projection.name, shape=shape(projection), heartbeat=now)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["name"], set_={"shape": stmt.excluded.shape, "heartbeat": now},
            where=None if claim else table.c.shape == stmt.excluded.shape))
