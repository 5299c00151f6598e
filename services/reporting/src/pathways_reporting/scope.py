"""Who may see what in reporting: the kernel's rule (pathways.policy.scope), so one rule covers
the API, the dashboard pages and every export, and the programme picker's list."""

from __future__ import annotations

from pathways.policy import scope
from pathways.policy.access import Caller
from pathways.policy.facts import ProgrammeFacts
from pathways.policy.scope import Scope
from sqlalchemy import Connection, select

from pathways_reporting.readmodel import DIRECTORY, PROGRAMMES

__all__ = ["Scope", "may_see", "programme_scope", "visible_programmes"]


def programme_scope(conn: Connection, caller: Caller, programme_id: str, partner_id: str | None = None) -> Scope:
    """The kernel's rule, judged from reporting's copy of the directory."""
    return scope.programme_scope(conn, DIRECTORY, caller, programme_id, partner_id)


def may_see(conn: Connection, caller: Caller, programme: ProgrammeFacts) -> bool:
    return scope.may_see(conn, DIRECTORY, caller, programme)


def visible_programmes(conn: Connection, caller: Caller) -> list[dict[str, str]]:
    """The programmes the caller may open, with their names, for the dashboard's picker."""
    names = {r.programme_id: r.name for r in conn.execute(select(PROGRAMMES.c.programme_id, PROGRAMMES.c.name))}
    out = []
    for row in conn.execute(select(DIRECTORY.programmes_table).order_by(DIRECTORY.programmes_table.c.programme_id)):
        programme = ProgrammeFacts(**row._mapping)
        if may_see(conn, caller, programme):
            out.append({"programme_id": programme.programme_id, "name": names.get(programme.programme_id, programme.programme_id),
                        "commissioner_id": programme.commissioner_id, "starts_on": programme.starts_on.isoformat(),
                        "ends_on": programme.ends_on.isoformat()})
    return out
