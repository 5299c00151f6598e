"""Sessions rules as pure functions with made-up directory facts: no server. The same
rules run over real NATS in tests/test_sessions.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pathways.core.commands import CommandContext, Decision
from pathways.core.replies import Rejection
from pathways.policy.facts import ContractFacts, EnrolmentFacts, ineligible
from pathways_sessions.domain import commands as c
from pathways_sessions.domain import decide
from pathways_sessions.domain import events as e
from pathways_sessions.domain import facts as f
from pathways_sessions.domain.state import SESSION, Session

CONTRACTS = [
    ContractFacts("p1", "k1", "archers", 100_000, ("Soft archery",), date(2025, 10, 1), date(2026, 3, 31)),
    ContractFacts("p1", "k2", "archers", 100_000, ("Yoga",), date(2026, 4, 1), date(2026, 9, 30)),
]
CTX = CommandContext("archers", "lee", "test", datetime(2026, 6, 1, tzinfo=UTC))


def schedule(**overrides: Any) -> c.ScheduleSession:
    return c.ScheduleSession.model_validate({
        "programme_id": "p1", "session_id": "s1", "activity": "soft ARCHERY", "site": "Ward garden",
        "starts_at": "2026-02-03T10:00:00Z", "duration_minutes": 60, "capacity": 2} | overrides)


SCHEDULING = f.Scheduling(contracts=CONTRACTS, co_producers={})


def scheduled(capacity: int = 2) -> Session:
    event = decide.schedule_session(schedule(capacity=capacity), CTX, Session(), SCHEDULING)
    assert not isinstance(event, Rejection)
    return SESSION.evolve(Session(), event[0])


def rejected(decision: Decision, *words: str) -> None:
    assert isinstance(decision, Rejection), decision
    for word in words:
        assert word in decision.message, (word, decision.message)


def test_the_contract_in_force_on_the_day_decides_the_activity() -> None:
    spring = decide.schedule_session(schedule(activity="yoga", starts_at="2026-05-05T10:00:00Z"), CTX, Session(),
                                     SCHEDULING)
    assert not isinstance(spring, Rejection) and isinstance(spring[0], e.SessionScheduled) and spring[0].contract_id == "k2"
    rejected(decide.schedule_session(schedule(activity="yoga"), CTX, Session(), SCHEDULING),
             "not an activity of contract 'k1'")


def test_capacity_is_respected_exactly() -> None:
    people = {p: EnrolmentFacts(p, "archers", "ward", True, True) for p in ("a", "b", "c")}
    full = c.RecordSessionDelivered(programme_id="p1", session_id="s1", attendees=["a", "b"], duration_minutes=60)
    assert not isinstance(decide.record_delivered(full, CTX, scheduled(), f.Attendance(enrolments=people)), Rejection)
    over = c.RecordSessionDelivered(programme_id="p1", session_id="s1", attendees=["a", "b", "c"], duration_minutes=60)
    rejected(decide.record_delivered(over, CTX, scheduled(), f.Attendance(enrolments=people)), "capacity of 2")


def test_delivery_defaults_to_the_scheduled_day() -> None:
    people = {"a": EnrolmentFacts("a", "archers", "ward", True, True)}
    done = decide.record_delivered(c.RecordSessionDelivered(programme_id="p1", session_id="s1", attendees=["a"],
                                                            duration_minutes=45), CTX, scheduled(), f.Attendance(people))
    assert not isinstance(done, Rejection) and done[0].delivered_on == date(2026, 2, 3)  # type: ignore[attr-defined]


def test_ineligible_names_each_reason() -> None:
    facts = {"w": EnrolmentFacts("w", "archers", "ward", True, False), "n": EnrolmentFacts("n", "archers", "ward", False, True)}
    found = ineligible(["w", "n", "x", "ok"] , facts | {"ok": EnrolmentFacts("ok", "archers", "ward", True, True)})
    assert (found.not_enrolled, found.withdrawn, found.without_consent) == (("x",), ("w",), ("n",))
    assert not ineligible(["ok"], {"ok": EnrolmentFacts("ok", "archers", "ward", True, True)})
