"""One-time survey links and the answers people give through them.

A partner, an evaluator or the commissioner issues a link (`IssueSurveyLink`) for one
survey, bound to one respondent: a participant or co-producer by pseudonymous id, or
anonymous within a group (participants, co-producers, a partner's staff, the
commissioner's). The link's secret is made by whoever issues it (`pathways survey links`
does: 32 random bytes) and is sent once, in the command; the event keeps only its SHA-256,
so no one who reads the stream can answer in someone's name.

The person opens the link, reads the survey in easy-read words and answers
(`AnswerSurvey`, sent for them by the answer page: survey_page.py). The link is the
aggregate: issued, then answered at most once. A second answer, a double click, a second
device or a race between two, records nothing more (the append's expected sequence lets
one win), and an expired link records nothing."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar

from pathways.core.commands import AggregateType
from pathways.core.ids import Id
from pathways.core.schemas import CommandData, EventData
from pathways.core.surveys import Group
from pydantic import AfterValidator, AwareDatetime, Field, StrictInt, StringConstraints

from pathways_evaluation.domain.commands import command
from pathways_evaluation.domain.events import event

# URL-safe base64 of at least 16 random bytes: a link's secret, as the issuer made it.
LinkSecret = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{22,128}$")]
def _printable(text: str) -> str:
    # A control character (NUL above all, which PostgreSQL will not store) has no place in
    # what a person writes; line breaks and tabs do.
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in text):
        raise ValueError("a comment holds no control characters")
    return text


Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000), AfterValidator(_printable)]
QuestionId = Annotated[str, StringConstraints(max_length=64)]
MAX_DAYS_OPEN = 92  # a link left open longer is a standing invitation, not a one-time one


@command
class IssueSurveyLink(CommandData):
    """Issue a one-time link to a survey (printed as a QR code, or sent), bound to one
    participant or co-producer by pseudonymous id, or anonymous within a group. It expires
    at `expires_at`, at most 92 days on. `secret`: the link's own random part, made by you
    (at least 16 random bytes, URL-safe base64); only its hash is recorded."""

    withheld_from_records: ClassVar[tuple[str, ...]] = ("secret",)

    programme_id: Id
    link_id: Id
    survey_id: Id
    group: Group
    respondent_id: Id | None = None  # the participant's or co-producer's id; None: anonymous
    partner_id: Id | None = None  # whose work it asks about (a partner issuing: its own)
    session_id: Id | None = None  # the session a session's survey asks about
    expires_at: AwareDatetime
    secret: LinkSecret


@command
class AnswerSurvey(CommandData):
    """The answers given through a link, sent for the person by the answer page: question
    id to the value of the option chosen, any question skipped, and what they said in
    their own words if the survey asks (on an anonymous link only). A link bound to a
    participant names them, and counts only while their consent does."""

    withheld_from_records: ClassVar[tuple[str, ...]] = ("secret", "comment")

    programme_id: Id
    link_id: Id
    secret: LinkSecret
    participant_id: Id | None = None  # the participant a bound link is for (the page sends it)
    answers: dict[QuestionId, StrictInt] = Field(default_factory=dict, max_length=40)
    comment: Comment = ""


class AboutTheLink(EventData):
    """What both of a link's events say of it: which survey, for whom, about whose work."""

    programme_id: Id
    link_id: Id
    issued_by: Id
    survey_id: Id
    survey_version: int
    group: Group
    participant_id: Id | None  # whom it is bound to (a participant or a co-producer), if anyone
    co_producer_id: Id | None
    partner_id: Id | None
    session_id: Id | None


@event
class SurveyLinkIssued(AboutTheLink):
    """A one-time link to a survey: for whom, about what, until when. The secret is not
    here, only its SHA-256."""

    expires_at: datetime  # UTC
    secret_sha256: str
    consent_purpose: str | None = None  # what a bound participant's consent must cover when they answer


@event
class SurveyAnswered(AboutTheLink):
    """What someone answered through a one-time link (pseudonymous: a participant's or
    co-producer's id, or none), with the link's survey, group and partner. The person is named
    by the fields every service names them by, so their subject access export finds it."""

    answers: dict[str, int]
    comment: str


@dataclass(frozen=True)
class SurveyLink:
    issued: SurveyLinkIssued | None = None
    answered: bool = False


def _evolve(state: SurveyLink, e: EventData) -> SurveyLink:
    if isinstance(e, SurveyLinkIssued):
        return SurveyLink(issued=e)
    if isinstance(e, SurveyAnswered):
        return SurveyLink(issued=state.issued, answered=True)
    return state


SURVEY_LINK = AggregateType("survey link", SurveyLink(), _evolve, (SurveyLinkIssued, SurveyAnswered))
