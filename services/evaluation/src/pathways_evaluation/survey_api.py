"""The signed-in survey routes: the survey definitions, issuing one-time links (the secrets
made here, sent once in the commands, returned once in the answer, never kept), the links
an organisation issued and how far they were answered, and a survey's results by group."""

from __future__ import annotations

import os
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from pathways.core import surveys
from pathways.core.batch_wire import batch_body, replies_of
from pathways.core.ids import Id
from pathways.core.intake import CommandIntake
from pathways.jetstream.batch import handle_batch
from pathways.policy.access import Caller, sender
from pathways.policy.http import command_intake, db_session
from pathways.policy.roles import refusals_for
from pathways.policy.scope import Scope, scoped
from pydantic import BaseModel, Field
from sqlmodel import Session

from pathways_evaluation import survey_record
from pathways_evaluation.domain.surveys import MAX_DAYS_OPEN
from pathways_evaluation.readmodel import DIRECTORY

router = APIRouter(tags=["surveys"])
scope = scoped(DIRECTORY)
MAX_LINKS = 200  # per request: a sheet of QR codes for a big group, one batch
# Where people open links: the address they can reach (a proxy's), not the one this
# process listens on. Unset: the address the request came to.
PUBLIC_URL = "PATHWAYS_SURVEY_URL"


@router.get("/surveys", response_model=list[surveys.Survey])
def survey_definitions() -> list[surveys.Survey]:
    """Every survey on offer, every version: questions, scales, easy-read words, pictures."""
    return list(surveys.surveys().values())


class LinksWanted(BaseModel):
    survey_id: Id
    group: surveys.Group
    respondent_ids: list[Id] = Field(default_factory=list, max_length=MAX_LINKS,
                                     description="One link each, bound to them; empty: `count` anonymous links")
    count: int = Field(1, ge=1, le=MAX_LINKS, description="How many anonymous links (without respondent_ids)")
    partner_id: Id | None = Field(None, description="Whose work it asks about (a partner: its own)")
    session_id: Id | None = Field(None, description="The session a session's survey asks about")
    days_open: int = Field(14, ge=1, le=MAX_DAYS_OPEN, description="Days until the links expire")


@router.post("/programmes/{programme_id}/survey-links")
async def issue_links(
    programme_id: str,
    request: Request,
    wanted: LinksWanted = Body(...),
    actor: str = Query("survey-links", description="Who is issuing them, for the audit trail"),
    intake: CommandIntake = Depends(command_intake),
    who: Caller = Depends(sender),
) -> dict[str, Any]:
    """Issue one-time links (`organisation` names the token's own): each link's address is
    in this answer and nowhere else, so print or send them now. Each answer says whether its
    link was issued, and if not, why."""
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=wanted.days_open)
    bound: list[str | None] = list(wanted.respondent_ids) or [None] * wanted.count
    made = [(f"link-{uuid.uuid4().hex[:16]}", secrets.token_urlsafe(32), r) for r in bound]
    commands = [("IssueSurveyLink", {
        "programme_id": programme_id, "link_id": link_id, "survey_id": wanted.survey_id, "group": wanted.group,
        "respondent_id": respondent, "partner_id": wanted.partner_id, "session_id": wanted.session_id,
        "expires_at": expires.isoformat(), "secret": secret}, link_id) for link_id, secret, respondent in made]
    answer = await handle_batch(intake, who.organisation_id, batch_body(who.organisation_id, actor, commands),
                                refusal=refusals_for(who.role))
    replies = replies_of(answer.model_dump(mode="json"), len(commands))
    base = os.environ.get(PUBLIC_URL) or str(request.base_url).rstrip("/")
    links = []
    for (link_id, secret, respondent), reply in zip(made, replies, strict=True):
        issued = reply.get("status") == "accepted"
        links.append({"link_id": link_id, "respondent_id": respondent, "status": reply.get("status"),
                      "url": f"{base}/s/{secret}" if issued else None, "message": reply.get("message")})
    if not any(link["status"] == "accepted" for link in links):
        raise HTTPException(422, links[0]["message"] or "No link was issued.")
    return {"programme_id": programme_id, "survey_id": wanted.survey_id, "group": wanted.group,
            "expires_at": expires.isoformat(), "links": links}


@router.get("/programmes/{programme_id}/survey-links")
def links_issued(s: Scope = Depends(scope), session: Session = Depends(db_session)) -> list[dict[str, Any]]:
    """The links the caller's organisation issued: for whom, until when, and whether answered."""
    return [link.model_dump(exclude={"secret_sha256"})
            for link in survey_record.links_issued(session, s.programme_id, s.caller.organisation_id)]


@router.get("/programmes/{programme_id}/surveys/{survey_id}/results")
def survey_results(survey_id: str, s: Scope = Depends(scope), session: Session = Depends(db_session)) -> dict[str, Any]:
    """How many answered in each group, and each question's mean or share who said yes, side
    by side (a partner: about its own work)."""
    if surveys.latest(survey_id) is None:
        raise HTTPException(404, f"There is no survey '{survey_id}'.")
    return survey_record.results(session, s.programme_id, survey_id, s.partner_id)
