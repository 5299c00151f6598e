"""`/s/{secret}`: the page a person opens from a one-time link or a printed QR code, and
answers on. No account and no cookie: the link's secret is the only key, and it is looked up
by its hash (the service never keeps it). The answers go to the evaluation intake as an
`AnswerSurvey` from the link's issuer, the same pipeline as any command: a double click, a
second phone or a second tab records once (one idempotency key per link, and the link
aggregate takes one answer).

What it must be, for the people it is for: easy-read words, large type, a picture beside the
words of every answer, native form controls so screen readers and keyboards work as they do
everywhere, nothing loaded from anywhere else and no script (checked with axe-core in
Chromium: tests/test_survey_page.py). It says nothing about who the link is for."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Depends, Request, Response
from fastapi.templating import Jinja2Templates
from pathways.core import surveys
from pathways.core.intake import CommandIntake
from pathways.policy.http import command_intake, db_session
from sqlmodel import Session

from pathways_evaluation import survey_record
from pathways_evaluation.domain.survey_rules import USED, secret_digest
from pathways_evaluation.survey_record import SurveyLinkRecord

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
ACTOR = "answer page"  # who sent it, as the audit trail shows: the page, for the person

SAID = {
    "done": ("Thank you", 200, "Thank you. Your answers are saved. You can close this page now."),
    "used": ("Already answered", 200, "Thank you. This link has been used already, so your answers are saved. "
             "You do not need to do anything more."),
    "expired": ("This link has ended", 410, "Sorry, this link has ended. Ask the person who gave it to you for a "
                "new one."),
    "unknown": ("Link not found", 404, "Sorry, we cannot find this survey. Check that all of the link was "
                "copied. If you were given it just now, wait a minute and try again."),
    "closed": ("This link cannot be used", 410, "Sorry, this link cannot be used any more. Ask the person who gave "
               "it to you about it."),
    "unavailable": ("Please try again", 503, "Sorry, we could not save your answers just now. Nothing was lost "
                    "on your side: please press the button again in a minute."),
}


def _said(request: Request, state: str) -> Response:
    title, status, message = SAID[state]
    return templates.TemplateResponse(request, "survey.html", {"state": state, "title": title, "message": message},
                                      status_code=status)


def _closed(link: SurveyLinkRecord | None) -> str | None:
    """Why the page shows no form for this link (None: it can be answered)."""
    if link is None:
        return "unknown"
    if link.answered_at is not None:
        return "used"
    expires = link.expires_at if link.expires_at.tzinfo else link.expires_at.replace(tzinfo=UTC)  # SQLite drops it
    return "expired" if datetime.now(UTC) >= expires else None


def _key(link: SurveyLinkRecord) -> str:
    """One idempotency key per link, whatever the device: with the programme in it, since an
    issuer may reuse a link id in another programme and an event's id follows from its key."""
    key = f"answer:{link.programme_id}:{link.link_id}"
    return key if len(key) <= 128 else f"answer:{hashlib.sha256(key.encode()).hexdigest()}"


def _printable(text: str) -> str:
    """What was typed, without the control characters a paste from a word processor brings
    (a vertical tab, a bell): the command refuses them, and the person could not see why."""
    return "".join(ch for ch in text if ch in "\n\r\t" or unicodedata.category(ch) != "Cc").strip()


def _invites_comment(survey: surveys.Survey, link: SurveyLinkRecord) -> bool:
    """A comment box only on an anonymous link (survey_rules.answer_survey says why)."""
    return survey.comment is not None and link.participant_id is None and link.co_producer_id is None


def _form(request: Request, survey: surveys.Survey, link: SurveyLinkRecord, chosen: dict[str, int], comment: str,
          problem: str | None = None) -> Response:
    return templates.TemplateResponse(request, "survey.html", {
        "state": "form", "title": survey.easy_read_title, "survey": survey, "chosen": chosen, "comment": comment,
        "comment_box": survey.comment if _invites_comment(survey, link) else None, "problem": problem},
        status_code=200 if problem is None else 422)


@router.get("/s/{secret}")
def survey_page(secret: str, request: Request, session: Session = Depends(db_session)) -> Response:
    link = survey_record.link_for(session, secret_digest(secret))
    closed = _closed(link)
    survey = surveys.given(link.survey_id, link.survey_version) if link else None
    if link is None or closed or survey is None:
        return _said(request, closed or "unknown")
    return _form(request, survey, link, {}, "")


@router.post("/s/{secret}")
async def answer(secret: str, request: Request, session: Session = Depends(db_session),
                 intake: CommandIntake = Depends(command_intake)) -> Response:
    link = survey_record.link_for(session, secret_digest(secret))
    survey = surveys.given(link.survey_id, link.survey_version) if link else None
    closed = _closed(link)
    if link is None or survey is None or closed:  # nothing to send: say so, and record no refusal
        return _said(request, closed or "unknown")
    form = await request.form()
    chosen: dict[str, int] = {}
    for question in survey.questions:
        offered = {str(o.value): o.value for o in survey.scales[question.scale].options}
        value = form.get(f"q-{question.id}")
        if isinstance(value, str) and value in offered:
            chosen[question.id] = offered[value]
    comment = form.get("comment")
    said = _printable(comment)[:1000] if isinstance(comment, str) and _invites_comment(survey, link) else ""
    body = {"idempotency_key": _key(link), "organisation": link.issued_by, "actor": ACTOR,
            "data": {"programme_id": link.programme_id, "link_id": link.link_id, "secret": secret,
                     "participant_id": link.participant_id, "answers": chosen, "comment": said}}
    reply = await intake.handle(link.issued_by, "AnswerSurvey", json.dumps(body).encode())
    if reply.status == "accepted":
        return _said(request, "done")
    if reply.code == "unavailable":
        return _said(request, "unavailable")
    if reply.code == "invalid":  # nothing chosen, say, or a character a comment cannot hold: the form again
        return _form(request, survey, link, chosen, said, "Please choose at least one answer, or write "
                     "something in words and numbers.")
    if reply.message == USED or reply.code == "conflict":  # answered meanwhile, by another way in
        return _said(request, "used")
    return _said(request, "expired" if _closed(link) == "expired" else "closed")
