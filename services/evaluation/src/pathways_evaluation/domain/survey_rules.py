"""The rules of one-time survey links (domain/surveys.py): who may ask whom, and when an
answer counts.

- A commissioned partner asks its own people (participants enrolled with it who consent to
  taking part, its co-producers, its staff); the commissioner and an evaluator ask about the
  programme or one partner's work, by anonymous link, or bound to a participant whose consent
  covers their purpose (evaluation; sharing with the commissioner).
- The staff groups answer for their own organisation: only a partner asks its staff, only
  the commissioner its own.
- An answer counts once, before the link expires, with the link's own secret."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta

from pathways.core import surveys
from pathways.core.commands import CommandContext, Decision
from pathways.core.replies import RejectionCode, no_such_programme, reject
from pathways.policy.consent import PURPOSE_OF_READER, TAKING_PART
from pathways.policy.facts import (
    ContractFacts,
    CoProducerFacts,
    EnrolmentFacts,
    OrganisationFacts,
    ProgrammeFacts,
    ineligible,
)

from pathways_evaluation.domain import surveys as s


@dataclass(frozen=True, slots=True)
class AnswerFacts:
    """AnswerSurvey: the named participant's enrolments in the programme (none for an
    anonymous link), so a bound answer counts only while their consent does."""

    enrolments: Sequence[EnrolmentFacts]


# The words of two refusals: the answer page tells USED from the others (survey_page.py).
USED = "This link has been used already: its answers are recorded."
UNKNOWN = "This survey link is not known. Check that all of it was copied."


@dataclass(frozen=True, slots=True)
class LinkFacts:
    """IssueSurveyLink: the programme, the sender and its contracts, and, as the command
    names them, the partner's contracts, the participant's enrolment with that partner and
    the co-producer."""

    programme: ProgrammeFacts | None
    sender: OrganisationFacts | None
    contracts: Sequence[ContractFacts]
    partner_contracts: Sequence[ContractFacts]
    enrolments: Mapping[str, EnrolmentFacts]
    co_producers: Mapping[str, CoProducerFacts]


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issuer_role(organisation: str, facts: LinkFacts) -> str | None:
    """How the sender takes part in the programme: partner, commissioner, evaluator or not."""
    if facts.programme is None:
        return None
    if facts.contracts:
        return "partner"
    if facts.programme.commissioner_id == organisation:
        return "commissioner"
    if facts.sender is not None and facts.sender.kind == "evaluator":
        return "evaluator"
    return None


def purpose_of_issuer(role: str) -> str:
    """The consent a bound participant's link needs: as a read of their records by that role
    (pathways.policy.consent), and a partner's own people take part."""
    return PURPOSE_OF_READER.get(role, TAKING_PART)


def issue_survey_link(cmd: s.IssueSurveyLink, ctx: CommandContext, link: s.SurveyLink, facts: LinkFacts) -> Decision:
    role = issuer_role(ctx.organisation, facts)
    if role is None:
        return no_such_programme(cmd.programme_id)  # a stranger learns nothing of it
    survey = surveys.latest(cmd.survey_id)
    if survey is None:
        known = ", ".join(sorted({i for i, _ in surveys.surveys()}))
        return reject(RejectionCode.RULE_VIOLATION, f"There is no survey '{cmd.survey_id}'. The surveys are: {known}.",
                      field="survey_id")
    if cmd.group not in survey.answered_by:
        return reject(RejectionCode.RULE_VIOLATION, f"Survey '{survey.id}' is answered by "
                      f"{', '.join(g.replace('_', ' ') + 's' for g in survey.answered_by)}, not by "
                      f"{cmd.group.replace('_', ' ')}s.", field="group")
    if cmd.group in ("partner", "commissioner") and role != cmd.group:
        return reject(RejectionCode.FORBIDDEN, f"Only the {cmd.group} itself asks its own staff; "
                      f"'{ctx.organisation}' is the programme's {role}.", field="group")
    partner_id = cmd.partner_id
    if role == "partner":
        if partner_id not in (None, ctx.organisation):
            return reject(RejectionCode.FORBIDDEN, f"A partner asks about its own work: leave out partner_id, or "
                          f"give '{ctx.organisation}'.", field="partner_id")
        partner_id = ctx.organisation
    elif partner_id is not None and not facts.partner_contracts:
        return reject(RejectionCode.RULE_VIOLATION, f"Organisation '{partner_id}' holds no contract in programme "
                      f"'{cmd.programme_id}'.", field="partner_id")
    refused = _respondent_refused(cmd, ctx, role, partner_id, facts)
    if refused is not None:
        return refused
    if survey.about == "session" and cmd.session_id is None:
        return reject(RejectionCode.RULE_VIOLATION, f"Survey '{survey.id}' asks about a session: give its "
                      "session_id.", field="session_id")
    if cmd.expires_at <= ctx.now or cmd.expires_at > ctx.now + timedelta(days=s.MAX_DAYS_OPEN):
        return reject(RejectionCode.RULE_VIOLATION, f"A link expires after it is issued and within "
                      f"{s.MAX_DAYS_OPEN} days.", field="expires_at")
    if link.issued is not None:
        return reject(RejectionCode.RULE_VIOLATION, f"Survey link '{cmd.link_id}' is already issued. Give each "
                      "link its own id.", field="link_id")
    bound_participant = cmd.respondent_id if cmd.group == "participant" else None
    return [s.SurveyLinkIssued(
        programme_id=cmd.programme_id, link_id=cmd.link_id, issued_by=ctx.organisation, survey_id=survey.id,
        survey_version=survey.version, group=cmd.group, partner_id=partner_id,
        participant_id=bound_participant, co_producer_id=cmd.respondent_id if cmd.group == "co_producer" else None,
        session_id=cmd.session_id, expires_at=cmd.expires_at.astimezone(UTC), secret_sha256=secret_digest(cmd.secret),
        consent_purpose=purpose_of_issuer(role) if bound_participant else None,
    )]


def _respondent_refused(cmd: s.IssueSurveyLink, ctx: CommandContext, role: str, partner_id: str | None,
                        facts: LinkFacts) -> Decision | None:
    who = cmd.respondent_id
    if who is None:
        return None
    if cmd.group in ("partner", "commissioner"):
        return reject(RejectionCode.RULE_VIOLATION, "A link for staff is anonymous: leave out respondent_id.",
                      field="respondent_id")
    if cmd.group == "co_producer":
        co_producer = facts.co_producers.get(who)
        if co_producer is None or partner_id not in (None, co_producer.engaged_by):
            return reject(RejectionCode.RULE_VIOLATION, f"There is no co-producer '{who}' in programme "
                          f"'{cmd.programme_id}'" + (f" engaged by '{partner_id}'." if partner_id else "."),
                          field="respondent_id")
        return None
    if partner_id is None:
        return reject(RejectionCode.RULE_VIOLATION, "A link bound to a participant names the partner they are "
                      "enrolled with (partner_id).", field="partner_id")
    refused = ineligible([who], facts.enrolments, purpose_of_issuer(role))
    if refused:
        return reject(RejectionCode.RULE_VIOLATION, f"A link can only be bound to a participant enrolled with "
                      f"'{partner_id}' who consents; {refused.explain(partner_id)}.", field="respondent_id")
    return None


def answer_survey(cmd: s.AnswerSurvey, ctx: CommandContext, link: s.SurveyLink, facts: AnswerFacts) -> Decision:
    issued = link.issued
    # A wrong secret, or the wrong person, gets the words a missing link gets: a guess learns nothing.
    if (issued is None or not hmac.compare_digest(issued.secret_sha256, secret_digest(cmd.secret))
            or cmd.participant_id != issued.participant_id):
        return reject(RejectionCode.NOT_FOUND, UNKNOWN)
    if link.answered:
        return reject(RejectionCode.RULE_VIOLATION, USED)
    if ctx.now >= issued.expires_at:
        return reject(RejectionCode.RULE_VIOLATION, f"This link expired on {issued.expires_at:%d %B %Y}.")
    survey = surveys.given(issued.survey_id, issued.survey_version)
    if survey is None:  # a definition withdrawn after its links went out
        return reject(RejectionCode.RULE_VIOLATION, f"Survey '{issued.survey_id}' version {issued.survey_version} "
                      "is no longer offered.")
    problem = survey.answer_problem(cmd.answers, cmd.comment)
    if problem is not None:
        return reject(RejectionCode.INVALID, problem, field="answers")
    # Words tied to a pseudonymous id would stay on the stream after the person's details were
    # erased, and could name them: only an anonymous link takes a comment.
    if cmd.comment and (issued.participant_id or issued.co_producer_id):
        return reject(RejectionCode.INVALID, "A link made for one person takes answers, not a comment.",
                      field="comment")
    if issued.participant_id is not None:
        partner = issued.partner_id or issued.issued_by
        enrolments = {e.participant_id: e for e in facts.enrolments if e.partner_id == partner}
        refused = ineligible([issued.participant_id], enrolments, issued.consent_purpose or TAKING_PART)
        if refused:
            return reject(RejectionCode.RULE_VIOLATION, "This link can no longer be answered: the person it was "
                          f"made for is no longer enrolled with '{partner}', or no longer consents.")
    about = issued.model_dump(include=set(s.AboutTheLink.model_fields))
    return [s.SurveyAnswered(**about, answers=dict(cmd.answers), comment=cmd.comment)]
