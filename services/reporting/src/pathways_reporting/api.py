"""The reporting HTTP API, published with OpenAPI: a programme's headline figures, its
tables as JSON, CSV or XLSX, and its contracts as 360Giving JSON. Every request is signed
in (bearer token) and narrowed to what the caller's organisation and role may see
(`scope.py`) before anything is read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pathways.core.bounds import MAX_ROWS, Day
from pathways.policy.access import Caller, caller
from pathways.policy.accountability import record_reads_in_worker
from pathways.policy.http import db_session, unprocessable
from sqlalchemy import Connection
from sqlmodel import Session

from pathways_reporting import exports, figures, giving360, story, targets
from pathways_reporting.scope import Scope, programme_scope, visible_programmes
from pathways_reporting.tables import TABLES, TableData, with_names

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILTER_PARAMS = ("from", "to", "partner", "activity", "limit")  # what a read of records is recorded with


@dataclass(frozen=True)
class Scoped:
    """One request's database connection, who may see what, and the filters to apply."""

    conn: Connection
    scope: Scope
    filters: figures.Filters

    @property
    def programme_id(self) -> str:
        return self.scope.programme.programme_id

    def table(self, name: str, limit: int | None = None) -> TableData:
        if name not in TABLES:
            raise HTTPException(404, f"There is no table '{name}'. Tables: {', '.join(TABLES)}.")
        return with_names(self.conn, TABLES[name](self.conn, self.programme_id, self.filters, limit=limit))

    def given(self, request: Request, *tables: TableData) -> None:
        """Before tables leave the service: record which participants' records they hold,
        and for whom (no record, no answer)."""
        record_reads_in_worker(request, self.scope.caller, self.programme_id, participants_in(*tables), FILTER_PARAMS)


def participants_in(*tables: TableData) -> set[str]:
    found: set[str] = set()
    for data in tables:
        if "participant_id" in data.columns:
            column = data.columns.index("participant_id")
            found.update(str(row[column]) for row in data.rows)
    return found


def scoped(
    programme_id: str,
    date_from: Day | None = Query(None, alias="from", description="First day to count (inclusive)"),
    date_to: Day | None = Query(None, alias="to", description="Last day to count (inclusive)"),
    partner_id: str | None = Query(None, alias="partner", description="Only this delivery partner"),
    activity: str | None = Query(None, description="Only sessions of this activity"),
    who: Caller = Depends(caller),
    session: Session = Depends(db_session),
) -> Scoped:
    """A dependency that signs the caller in, checks what they may see, and reads the filters."""
    return open_scope(session.connection(), who, programme_id, figures.Filters(date_from, date_to, partner_id, activity))


def open_scope(conn: Connection, who: Caller, programme_id: str, asked: figures.Filters) -> Scoped:
    """Check what the caller may see of the programme and narrow the filters they asked for."""
    if asked.date_from and asked.date_to and asked.date_from > asked.date_to:
        raise unprocessable("'from' must not be after 'to'.", "query", "from")
    scope = programme_scope(conn, who, programme_id, asked.partner_id or None)
    return Scoped(conn, scope, figures.Filters(asked.date_from, asked.date_to, scope.partner_id, asked.activity or None,
                                               scope.reader))


router = APIRouter(tags=["reporting"])

@router.get("/programmes")
def programmes(who: Caller = Depends(caller), session: Session = Depends(db_session)) -> list[dict[str, str]]:
    """The programmes the caller may see."""
    return visible_programmes(session.connection(), who)

@router.get("/programmes/{programme_id}/summary")
def summary(request: Scoped = Depends(scoped)) -> dict[str, Any]:
    """Participants, sessions, spend, outcome change, co-production and the tracker."""
    found = figures.programme_summary(request.conn, request.programme_id, request.filters)
    assert found is not None  # the scope found the programme
    return found

@router.get("/programmes/{programme_id}/tables")
def tables(request: Scoped = Depends(scoped)) -> dict[str, str]:
    """The tables of a programme, by name, with their titles."""
    return {name: request.table(name, limit=1).title for name in TABLES}

@router.get("/programmes/{programme_id}/exports/{table}.{fmt}", response_class=Response,
         responses={200: {"content": {"text/csv": {}, XLSX: {}}}})
def export(http: Request, table: str, fmt: Literal["csv", "xlsx"], request: Scoped = Depends(scoped)) -> Response:
    """One table as CSV or XLSX, with the same filters and scope as on screen."""
    data = request.table(table)
    request.given(http, data)
    filename = f"{request.programme_id}-{table}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "csv":
        return Response(exports.to_csv(data), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(exports.to_xlsx(data), media_type=XLSX, headers=headers)

@router.get("/programmes/{programme_id}/tables/{table}")
def table(http: Request, table: str, request: Scoped = Depends(scoped),
          limit: int | None = Query(None, ge=1, le=MAX_ROWS,
                                    description="Only the first rows; `total` still counts them all"),
          ) -> dict[str, Any]:
    """One table as JSON: its title, column names, rows and how many rows there are."""
    data = request.table(table, limit)
    request.given(http, data)
    return {"title": data.title, "columns": data.columns, "rows": data.rows, "total": data.total}

@router.get("/programmes/{programme_id}/targets")
def target_progress(request: Scoped = Depends(scoped)) -> list[dict[str, Any]]:
    """Each target of the programme (a partner: its own and the programme's): the figure
    so far and its status, by the rule in `pathways_reporting.targets`."""
    return targets.progress(request.conn, request.programme_id, request.scope.partner_id)

@router.get("/programmes/{programme_id}/story")
def programme_story(request: Scoped = Depends(scoped)) -> dict[str, Any]:
    """Showcases, what people taking part said, and the evaluator's published reports, in the period."""
    return story.story(request.conn, request.programme_id, request.filters, request.scope.caller.role)

@router.get("/programmes/{programme_id}/360giving.json")
def three_sixty_giving(request: Scoped = Depends(scoped)) -> dict[str, Any]:
    """The programme's commissioned contracts as a 360Giving data package, checked
    against the 360Giving schema before it is sent."""
    package = giving360.package(request.conn, request.programme_id, request.scope.partner_id)
    assert package is not None  # the scope found the programme
    if not package["grants"]:  # 360Giving has no form for "nothing awarded yet"
        raise HTTPException(404, "No contracts have been commissioned in this programme yet.")
    problems = giving360.validate(package)
    if problems:  # never publish a file that funders' tools would refuse
        raise HTTPException(500, "The 360Giving export does not validate: " + "; ".join(problems[:5]))
    return package

