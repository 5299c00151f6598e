"""Who may see what: every reporting request is narrowed to the caller's organisation and
role before any figure is computed, so one rule covers the API, the dashboard pages and
every export.

- A commissioner sees its own programmes, whole.
- A delivery partner sees the programmes it holds a contract in, and only its own rows:
  the partner filter is forced to itself, and asking for another partner is refused.
- Evaluators, auditors and the operator see every programme's figures. Reporting holds no
  identities (participants are pseudonymous ids), so this reveals no one.

A programme the caller may not see answers exactly as one that does not exist, so ids
cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException
from pathways.access import Caller
from pathways.directory import ProgrammeFacts
from sqlalchemy import Connection, select

from pathways_reporting.readmodel import DIRECTORY, PROGRAMMES

WHOLE_PROGRAMME_ROLES = ("evaluator", "auditor", "operator")


@dataclass(frozen=True)
class Scope:
    programme: ProgrammeFacts
    caller: Caller
    partner_id: str | None  # the only partner whose rows may be shown; None: every partner

    @property
    def partner_view(self) -> bool:
        return self.caller.role == "partner"


def may_see(conn: Connection, caller: Caller, programme: ProgrammeFacts) -> bool:
    if caller.role == "commissioner":
        return programme.commissioner_id == caller.organisation_id
    if caller.role == "partner":
        return bool(DIRECTORY.contracts(conn, programme.programme_id, caller.organisation_id))
    return caller.role in WHOLE_PROGRAMME_ROLES


def programme_scope(conn: Connection, caller: Caller, programme_id: str, partner_id: str | None = None) -> Scope:
    """The scope of one request, or an HTTP error: 404 for a programme the caller cannot
    see, 403 for a partner asking for another partner's rows."""
    programme = DIRECTORY.programme(conn, programme_id)
    if programme is None or not may_see(conn, caller, programme):
        raise HTTPException(404, f"There is no programme '{programme_id}' that you can see.")
    if caller.role == "partner":
        if partner_id not in (None, caller.organisation_id):
            raise HTTPException(403, "A delivery partner sees only its own figures.")
        partner_id = caller.organisation_id
    return Scope(programme, caller, partner_id)


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
