"""The web dashboard the reporting service serves: sign in with an organisation's token,
pick a programme, read its figures, charts and tables narrowed by date range, partner and
activity, export any table, print the programme report.

Pages are rendered on the server (Jinja2 templates, pygal SVG charts) so nothing is loaded
from elsewhere at run time. They use the same scope rules and figure functions as the
JSON API, so a partner's page can show no more than a partner's API call.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pathways.core.bounds import Day
from pathways.policy.access import COOKIE, Caller, caller, check_token
from pathways.policy.http import db_session, unprocessable
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlmodel import Session

from pathways_reporting import charts, figures, journey_figures, story, targets
from pathways_reporting.api import Scoped, open_scope
from pathways_reporting.readmodel import DIRECTORY, PROGRAMMES
from pathways_reporting.scope import visible_programmes
from pathways_reporting.tables import TABLES, organisation_names, with_names

ROW_LIMIT = 200  # rows shown per table on a page; the exports hold them all
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["money"] = lambda pence: f"£{pence / 100:,.2f}"
templates.env.globals["pounds"] = lambda pence: f"£{pence / 100:,.0f}"  # headline cards: whole pounds
templates.env.globals["percent"] = lambda share: "–" if share is None else f"{share:.0%}"
# A p-value as a reader takes it: "p < 0.001" where rounding would print "p = 0.0".
templates.env.globals["group_names"] = charts.GROUP_NAMES
templates.env.globals["p_value"] = lambda p: "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


async def page_caller(request: Request) -> Caller | None:
    """The signed-in caller, or None: pages send a stranger to the sign-in form."""
    try:
        return await caller(request)
    except HTTPException as err:
        if err.status_code == 401:
            return None
        raise


def _sign_in() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


router = APIRouter(include_in_schema=False)
@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=303)

@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {"caller": None, "error": None})

@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, token: str = Form(...)) -> Response:
    found = await check_token(request, token.strip())
    if found is None:
        return templates.TemplateResponse(request, "login.html", {"caller": None, "error": "That token is not valid."},
                                          status_code=401)
    response = RedirectResponse("/dashboard", status_code=303)
    # HttpOnly: page scripts never see the token; Strict: other sites cannot make the browser use it.
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response

@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response

@router.get("/dashboard", response_class=HTMLResponse)
def programmes(request: Request, who: Caller | None = Depends(page_caller), session: Session = Depends(db_session)) -> Response:
    if who is None:
        return _sign_in()
    conn = session.connection()
    found = sorted(visible_programmes(conn, who), key=lambda p: (p["starts_on"], p["programme_id"]))
    if len(found) == 1:
        return RedirectResponse(f"/dashboard/programmes/{found[0]['programme_id']}", status_code=303)
    # Side by side (year one beside year two): each programme's headline figures as this caller sees them.
    own = who.organisation_id if who.role == "partner" else None
    side = [(p, figures.programme_summary(conn, p["programme_id"], figures.Filters(partner_id=own)),
             targets.progress(conn, p["programme_id"], own)) for p in found]
    return templates.TemplateResponse(request, "programmes.html", {"caller": who, "programmes": found, "side": side,
                                                                  "names": organisation_names(conn)})

@router.get("/dashboard/programmes/{programme_id}", response_class=HTMLResponse)
def programme(request: Request, programme_id: str, who: Caller | None = Depends(page_caller),
              session: Session = Depends(db_session)) -> Response:
    if who is None:
        return _sign_in()
    scoped = _scoped(request, session, who)
    page = _page(request, scoped)
    scoped.given(request, *(data for _, data in page["tables"]))
    return templates.TemplateResponse(request, "programme.html", page)

@router.get("/dashboard/programmes/{programme_id}/report", response_class=HTMLResponse)
def report(request: Request, programme_id: str, who: Caller | None = Depends(page_caller),
           session: Session = Depends(db_session)) -> Response:
    if who is None:
        return _sign_in()
    scoped = _scoped(request, session, who)
    page = _page(request, scoped, with_tables=False)  # the report prints figures and charts
    s = page["s"]
    aims = session.connection().execute(select(PROGRAMMES.c.aims).where(PROGRAMMES.c.programme_id == programme_id)).scalar()
    page |= {
        "aims": json.loads(aims) if aims else [],
        "period": _period(page["filters"], s),
        "scope_note": f"figures for {who.organisation_id} only" if page["partner_view"] else "",
        "today": date.today().isoformat(),
        "settings": ", ".join(f"{n} {k}" for k, n in s["participants"]["by_setting"].items()),
        "activities": list(s["sessions"]["by_activity"]),
        "mature": sum(1 for a in s["co_production"].values() if a["level"] == 3),
    }
    return templates.TemplateResponse(request, "report.html", page)



def _scoped(request: Request, session: Session, who: Caller) -> Scoped:
    """The API's scope rules, applied to a page's query string (empty form fields mean "any")."""
    q = request.query_params
    try:
        day_from = _day(q.get("from"))
        day_to = _day(q.get("to"))
    except (ValueError, ValidationError):
        raise unprocessable("Dates are written YYYY-MM-DD.", "query") from None
    asked = figures.Filters(day_from, day_to, q.get("partner") or None, q.get("activity") or None)
    return open_scope(session.connection(), who, request.path_params["programme_id"], asked)


def _day(value: str | None) -> date | None:
    """A form's day, YYYY-MM-DD only (fromisoformat also takes 20260331 and week dates)."""
    return TypeAdapter(Day).validate_python(value) if value else None


def _page(request: Request, scoped: Scoped, *, with_tables: bool = True) -> dict[str, Any]:
    conn, f = scoped.conn, scoped.filters
    summary = figures.programme_summary(conn, scoped.programme_id, f)
    assert summary is not None
    names = organisation_names(conn)
    tables = [(key, with_names(conn, build(conn, scoped.programme_id, f, limit=ROW_LIMIT), names))
              for key, build in TABLES.items() if with_tables]
    contracts = DIRECTORY.contracts(conn, scoped.programme_id, scoped.scope.partner_id)
    name = conn.execute(select(PROGRAMMES.c.name).where(PROGRAMMES.c.programme_id == scoped.programme_id)).scalar()
    partner_view = scoped.scope.partner_view
    told = story.story(conn, scoped.programme_id, f, scoped.scope.caller.role)
    drawn = [
        ("The journey", charts.journey_funnel(summary)),
        ("Sessions per month", charts.sessions_by_month(summary, "activity" if partner_view else "partner", names)),
        ("Spend against budget", charts.spend_against_budget(summary, names)),
        ("Wellbeing change", charts.wellbeing_change(summary)),
        ("Co-production maturity", charts.co_production_maturity(summary, names)),
        ("Participants by setting", charts.participants_by_setting(summary)),
        ("The tokenism checklist, group by group", charts.tokenism_by_group(told["voices"])),
    ]
    return {
        "caller": scoped.scope.caller,
        "name": name or scoped.programme_id,
        "view_title": f"Partner view: {names.get(str(scoped.scope.partner_id), scoped.scope.partner_id)}" if partner_view
                      else "Commissioner view",
        "names": names,
        "partner_view": partner_view,
        "s": summary,
        "budget_pence": sum(c.budget_pence for c in contracts) if partner_view else scoped.scope.programme.budget_pence,
        "filters": {"from": f.date_from and f.date_from.isoformat(), "to": f.date_to and f.date_to.isoformat(),
                    "partner": None if partner_view else f.partner_id, "activity": f.activity},
        "partners": sorted({c.partner_id for c in contracts}),
        "activities": sorted({a for c in contracts for a in c.activities}),
        "query": request.url.query,
        "empty": not figures.has_records(conn, scoped.programme_id, scoped.scope.partner_id),  # at all, not in the period
        "charts": [(title, svg) for title, svg in drawn if svg],
        "definitions": figures.DEFINITIONS | journey_figures.DEFINITIONS | {"targets": targets.RULE},
        "targets": targets.progress(conn, scoped.programme_id, scoped.scope.partner_id),
        "story": told,
        "tables": tables,
    }


def _period(filters: dict[str, Any], summary: dict[str, Any]) -> str:
    return f"{filters['from'] or summary['starts_on']} to {filters['to'] or summary['ends_on']}"
