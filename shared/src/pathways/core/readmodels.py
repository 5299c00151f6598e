"""Read-model databases: SQLite by default, PostgreSQL when a URL is given; the same
sqlmodel/SQLAlchemy code for both."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Field, SQLModel, create_engine


class ProjectionPosition(SQLModel, table=True):
    """The last stream sequence a projection applied, written in the same transaction as
    its rows: the tracking record that makes at-least-once delivery exactly-once."""

    __tablename__ = "projection_position"

    name: str = Field(primary_key=True, max_length=120)
    position: int = 0


class ProjectionAnchor(SQLModel, table=True):
    """The last event a projection applied, by its sequence and its id, written with its
    rows: what tells a read model that the stream it reads is not the one it was built
    from (restored from a backup, or made again), whose sequences now hold other events
    (pathways.jetstream.stream_check)."""

    __tablename__ = "projection_anchor"

    name: str = Field(primary_key=True, max_length=120)
    sequence: int = 0
    event_id: str = Field(default="", max_length=64)


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        # The same trade as SQLite's synchronous=NORMAL: a commit is acknowledged before it
        # is flushed, so a server crash may lose the last transactions, never consistency.
        # Only projections write here, each with its position in the same transaction, so
        # what is lost is replayed. (synchronous_commit=off cannot corrupt the database.)
        engine = create_engine(url, pool_pre_ping=True, connect_args={"options": "-c synchronous_commit=off"})
    ProjectionPosition.metadata.create_all(engine, tables=[ProjectionPosition.__table__,  # type: ignore[attr-defined]
                                                           ProjectionAnchor.__table__])  # type: ignore[attr-defined]
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # WAL lets the API read while a projection writes. synchronous=NORMAL may lose the
    # last transactions on power loss, never consistency: the position is in the same
    # transaction, so the projection simply replays them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
