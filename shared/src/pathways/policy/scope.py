"""Who may read what over HTTP: one rule for every service's read API, dashboard and
export (DESIGN §4 G5), applied before anything is read.

- A commissioner sees its own programmes, whole.
- A delivery partner sees the programmes it holds a contract in, and only its own rows:
  the partner filter is forced to itself, and asking for another partner is refused (403).
- Evaluators, auditors and the operator see every programme's rows (pseudonymous ids).
- People's own records (outcomes, attendance, who they are) are read by another organisation
  only where the person consents to its purpose and, once the programme has data-sharing
  agreements, one of the partner's with it covers them (`Scope.reader`).
- A service may refuse a role outright (payments are not an evaluator's business).

A programme the caller may not see answers exactly as one that does not exist (404), so
ids cannot be probed. Each service judges from its own copy of the programme directory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Query
from sqlalchemy import Connection
from sqlmodel import Session

from pathways.policy.access import Caller, caller
from pathways.policy.agreements import today as agreements_today
from pathways.policy.consent import PURPOSE_OF_READER
from pathways.policy.directory import Directory, Reader
from pathways.policy.facts import ProgrammeFacts
from pathways.policy.http import db_session

WHOLE_PROGRAMME_ROLES = ("evaluator", "auditor", "operator")


@dataclass(frozen=True)
class Scope:
    programme: ProgrammeFacts
    caller: Caller
    partner_id: str | None  # the only partner whose rows may be shown; None: every partner

    @property
    def programme_id(self) -> str:
        return self.programme.programme_id

    @property
    def partner_view(self) -> bool:
        return self.caller.role == "partner"

    @property
    def purpose(self) -> str | None:
        """The consent purpose this caller reads people's own records under (None: a
        partner reading its own participants', or an auditor under the law)."""
        return PURPOSE_OF_READER.get(self.caller.role)

    def reader(self, data: str) -> Reader | None:
        """Who reads people's records of kind `data` (pathways.policy.agreements), for which
        purpose, today; None where neither consent nor agreements narrow the read."""
        purpose = self.purpose
        return None if purpose is None else Reader(self.caller.organisation_id, purpose, data, agreements_today())


def may_see(conn: Connection, directory: Directory, caller: Caller, programme: ProgrammeFacts) -> bool:
    if caller.role == "commissioner":
        return programme.commissioner_id == caller.organisation_id
    if caller.role == "partner":
        return bool(directory.contracts(conn, programme.programme_id, caller.organisation_id))
    return caller.role in WHOLE_PROGRAMME_ROLES


def programme_scope(
    conn: Connection, directory: Directory, caller: Caller, programme_id: str, partner_id: str | None = None,
    *, refused_roles: Sequence[str] = (),
) -> Scope:
    """The scope of one request, or an HTTP error: 403 for a refused role or a partner
    asking for another partner's rows, 404 for a programme the caller cannot see."""
    if caller.role in refused_roles:
        raise HTTPException(403, f"An organisation with the {caller.role} role has no access to this.")
    programme = directory.programme(conn, programme_id)
    if programme is None or not may_see(conn, directory, caller, programme):
        raise HTTPException(404, f"There is no programme '{programme_id}' that you can see.")
    if caller.role == "partner":
        if partner_id not in (None, caller.organisation_id):
            raise HTTPException(403, "A delivery partner sees only its own rows.")
        partner_id = caller.organisation_id
    return Scope(programme, caller, partner_id)


def scoped(directory: Directory, *, refused_roles: Sequence[str] = ()) -> Callable[..., Scope]:
    """A FastAPI dependency for routes under /programmes/{programme_id}: the caller signed
    in, the programme checked and the `partner_id` filter narrowed to what they may see."""

    def dependency(
        programme_id: str,
        partner_id: str | None = Query(None, description="Only this partner's rows (a partner: only its own)"),
        who: Caller = Depends(caller),
        session: Session = Depends(db_session),
    ) -> Scope:
        return programme_scope(session.connection(), directory, who, programme_id, partner_id, refused_roles=refused_roles)

    return dependency
