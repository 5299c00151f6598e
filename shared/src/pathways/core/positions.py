"""Where each projection stands: its position (the stream sequence up to which it has
applied everything it reads) and its anchor (the last event it applied, by sequence and
id), both written in the same transaction as its rows.

A runner keeps several projections and writes a small batch many times a second, so the
bookkeeping is read and written for all of them at once, by statements built once: py-spy
of a service that only keeps its directory (50 clients enrolling) gave 37 % of its CPU to
building and running a SELECT and two upserts per projection per batch (10 to 15 statements,
each built anew), against the rows themselves."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from pathways.core.readmodels import ProjectionAnchor, ProjectionPosition

POSITIONS = ProjectionPosition.__table__  # type: ignore[attr-defined]
ANCHORS = ProjectionAnchor.__table__  # type: ignore[attr-defined]


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """Each statement once per dialect: a statement object used again skips building the
    expression and its cache key, and SQLAlchemy's compiled cache answers the rest."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    read = select(POSITIONS.c.name, POSITIONS.c.position).where(POSITIONS.c.name.in_(bindparam("names", expanding=True)))
    # FOR UPDATE on PostgreSQL: two runners of one projection (two replicas), or a runner and
    # a rebuild's swap, take turns on its row, so neither applies a batch on a position the
    # other moves. The rows are locked in name order, whoever locks them, so two that lock
    # several never wait on each other crosswise (a deadlock PostgreSQL would break by
    # failing one). SQLite takes its one write lock first instead (`_write_lock_first`).
    read_locked = read.order_by(POSITIONS.c.name).with_for_update() if dialect == "postgresql" else read
    position = insert(POSITIONS).values(name=bindparam("name"), position=bindparam("position"))
    anchor = insert(ANCHORS).values(name=bindparam("name"), sequence=bindparam("sequence"), event_id=bindparam("event_id"))
    return {
        "read": read, "read_locked": read_locked,
        "position": position.on_conflict_do_update(index_elements=["name"], set_={"position": position.excluded.position}),
        "anchor": anchor.on_conflict_do_update(index_elements=["name"], set_={
            "sequence": anchor.excluded.sequence, "event_id": anchor.excluded.event_id}),
        "seed": insert(POSITIONS).values(name=bindparam("name"), position=0).on_conflict_do_nothing(index_elements=["name"]),
        "read_anchor": select(ANCHORS.c.sequence, ANCHORS.c.event_id).where(ANCHORS.c.name == bindparam("name")),
        "forget_anchor": ANCHORS.delete().where(ANCHORS.c.name == bindparam("name")),
    }


def read_positions(conn: Connection, names: Iterable[str], *, for_update: bool = False) -> dict[str, int]:
    """Each named projection's position, in one statement (0 for one that has applied nothing)."""
    wanted = list(names)
    found = dict.fromkeys(wanted, 0)
    if for_update and conn.dialect.name == "sqlite":
        _write_lock_first(conn)
    statement = _statements(conn.dialect.name)["read_locked" if for_update else "read"]
    for name, position in conn.execute(statement, {"names": wanted}):
        found[name] = int(position)
    return found


def _write_lock_first(conn: Connection) -> None:
    """SQLite's write lock, before the positions are read. The driver begins a transaction
    only at its first write, so the read ran outside it: another writer (a rebuild's swap, a
    second runner on the same file) could commit between the read and the write, and its
    position be written over, or events applied twice, without a Gap (found by an attack on
    this module with two runners and a swap). BEGIN IMMEDIATE waits for the lock instead
    (busy_timeout), and what is read then holds until the commit. Inside a transaction that
    has written already, the lock is held."""
    driver = conn.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def read_position(conn: Connection, name: str, *, for_update: bool = False) -> int:
    return read_positions(conn, [name], for_update=for_update)[name]


def write_positions(conn: Connection, positions: Mapping[str, int]) -> None:
    """Every given position in one statement. A position of 0 means starting again from the
    first event: the last event applied is then no one's, and the anchor goes too."""
    if not positions:
        return
    statements = _statements(conn.dialect.name)
    conn.execute(statements["position"], [{"name": n, "position": p} for n, p in positions.items()])
    again = [{"name": n} for n, p in positions.items() if p == 0]
    if again:
        conn.execute(statements["forget_anchor"], again)


def seed_positions(conn: Connection, names: Iterable[str]) -> None:
    """A position row for each projection that has none, at 0: FOR UPDATE locks rows, so
    without one two replicas starting together would both apply the first batch."""
    conn.execute(_statements(conn.dialect.name)["seed"], [{"name": n} for n in names])


def write_position(conn: Connection, name: str, position: int) -> None:
    write_positions(conn, {name: position})


def write_anchors(conn: Connection, anchors: Mapping[str, tuple[int, str]]) -> None:
    """Every given anchor, (sequence, event id), in one statement."""
    if anchors:
        conn.execute(_statements(conn.dialect.name)["anchor"],
                     [{"name": n, "sequence": s, "event_id": e} for n, (s, e) in anchors.items()])


def write_anchor(conn: Connection, name: str, sequence: int, event_id: str) -> None:
    write_anchors(conn, {name: (sequence, event_id)})


def read_anchor(conn: Connection, name: str) -> tuple[int, str] | None:
    """The last event `name` applied, (sequence, id), if it has applied one."""
    row = conn.execute(_statements(conn.dialect.name)["read_anchor"], {"name": name}).first()
    return (int(row[0]), str(row[1])) if row is not None and row[0] else None
