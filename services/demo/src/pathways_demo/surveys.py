"""The demo's surveys: one-time links that people answered themselves. Each partner asks the
people at one of its sessions for feedback and its participants and staff to score the
tokenism checklist; the evaluator asks each partner's co-producers; the commissioner asks its
own staff. Most answer, a few links are left unanswered (one of them is handed out by
`pathways demo` to try the answer page). All made up.

A link's secret follows from the seed and the link (so the plan stays the same plan), and
its expiry from the day it is loaded: a link is issued to be answered from now on."""

from __future__ import annotations

import base64
import hashlib
import random
from datetime import UTC, datetime, time, timedelta

from pathways_demo.cast import COMMISSIONER, EVALUATION_LEAD, EVALUATOR, PARTNERS, PLANNER, TOKENISM, coordinator
from pathways_demo.steps import Step, _Builder

DAYS_OPEN = 60
# How often each group says a sign of tokenism happened, before a partner's own leaning: the
# people involved see more of it than the staff who run the work.
SEEN = {"participant": 0.3, "co_producer": 0.25, "partner": 0.1, "commissioner": 0.15}
SAID = ("The bows were heavy at first but I got the hang of it.", "I felt listened to.",
        "It would help to know the dates sooner.", "I liked making the podcast with everyone.",
        "Nobody told me what happened to our ideas.", "The bus fare was paid back quickly.")


def secret_for(seed: int, programme_id: str, link_id: str) -> str:
    """Each programme's own: two demo programmes on one platform never share a link's secret."""
    digest = hashlib.sha256(f"pathways-demo/{seed}/{programme_id}/{link_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def try_it_link(seed: int, programme_id: str) -> str:
    """The path of the link the demo leaves for a newcomer to answer."""
    return f"/s/{secret_for(seed, programme_id, 'demo-survey-try-it')}"


def survey_steps(b: _Builder, delivered: list[Step], scale: float = 1.0) -> list[Step]:
    """The plan's surveys, fewer of them in a smaller plan (the bench's and the tests')."""
    rng = random.Random(f"{b.seed}/surveys")  # its own: the rest of the plan draws as it did before
    expires = datetime.combine(datetime.now(UTC).date() + timedelta(days=DAYS_OPEN), time(), UTC)
    steps: list[Step] = []

    def link(issuer: str, actor: str, link_id: str, survey: str, group: str, answers: dict[str, int] | None,
             **more: str) -> None:
        secret, lane = secret_for(b.seed, b.programme_id, link_id), f"survey/{link_id}"
        steps.append(b.step(issuer, "evaluation", "IssueSurveyLink", {
            "link_id": link_id, "survey_id": survey, "group": group, "expires_at": expires, "secret": secret} | more,
            f"survey/{link_id}/issued", actor, lane))
        if answers is not None:
            comment = rng.choice(SAID) if group in ("participant", "co_producer") and rng.random() < 0.3 else ""
            steps.append(b.step(issuer, "evaluation", "AnswerSurvey", {
                "link_id": link_id, "secret": secret, "answers": answers} | ({"comment": comment} if comment else {}),
                f"survey/{link_id}/answered", "answer page", lane))

    def checklist(group: str, leaning: float) -> dict[str, int]:
        return {item: int(rng.random() < SEEN[group] * leaning) for item in TOKENISM if rng.random() < 0.9}

    sessions = {p.org: [s.data["session_id"] for s in delivered
                        if s.organisation == p.org and s.command == "RecordSessionDelivered"] for p in PARTNERS}
    at_session, participants, co_producers = (max(lowest, round(most * scale)) for most, lowest in ((6, 2), (4, 1), (2, 1)))
    for p in PARTNERS:
        leaning = rng.uniform(0.5, 1.6)
        held = sessions[p.org]
        for n in range(at_session if held else 0):  # the people at one session; the last link not (yet) answered
            answers = {"enjoyed": rng.choice((3, 4, 4, 5, 5)), "listened_to": rng.choice((2, 3, 4, 4, 5)),
                       "learned": int(rng.random() < 0.7), "come_again": int(rng.random() < 0.85)}
            link(p.org, coordinator(p), f"demo-survey-{p.code}-session-{n}", "session-feedback", "participant",
                 answers if n < at_session - 1 else None, session_id=held[len(held) // 2])
        for n in range(participants):
            link(p.org, coordinator(p), f"demo-survey-{p.code}-tokenism-{n}", "tokenism-checklist", "participant",
                 checklist("participant", leaning))
        link(p.org, coordinator(p), f"demo-survey-{p.code}-staff", "tokenism-checklist", "partner",
             checklist("partner", leaning))
        for n in range(co_producers):
            link(EVALUATOR, EVALUATION_LEAD, f"demo-survey-{p.code}-co-producer-{n}", "tokenism-checklist",
                 "co_producer", checklist("co_producer", leaning), partner_id=p.org)
    for n in range(2):
        link(COMMISSIONER, PLANNER, f"demo-survey-commissioner-{n}", "tokenism-checklist", "commissioner",
             checklist("commissioner", 1.0))
    first = next((p for p in PARTNERS if sessions[p.org]), None)  # (a plan too small to hold a session has none)
    if first is not None:
        link(first.org, coordinator(first), "demo-survey-try-it", "session-feedback", "participant", None,
             session_id=sessions[first.org][-1])
    return steps
