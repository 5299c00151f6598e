"""The evaluator's read of outcomes checks consent and the programme's data-sharing
agreements inside its one query, by counting: the same single statement whether the
programme's directory holds ten people or two thousand, and only the rows it may read come
back. (Over real NATS: tests/test_consent.py, tests/test_sharing_agreements.py.)"""

from __future__ import annotations

from datetime import date
from typing import Any

from pathways.core.readmodels import make_engine
from pathways.policy.directory import Reader
from pathways_evaluation.readmodel import DIRECTORY, Outcome, list_outcomes
from sqlalchemy import event, insert
from sqlmodel import Session, SQLModel


def programme_of(people: int) -> Any:
    engine = make_engine("sqlite://")
    SQLModel.metadata.create_all(engine, tables=[Outcome.__table__])  # type: ignore[attr-defined]
    DIRECTORY.enrolments_table.metadata.create_all(engine)
    enrolments = [{"programme_id": "p1", "partner_id": "archers", "participant_id": f"pt-{i}", "setting": "ward",
                   "consent": True, "consent_sharing_with_commissioner": True, "consent_evaluation": i % 3 == 0,
                   "consent_photographs_and_showcases": False, "active": True, "erased": False} for i in range(people)]
    outcomes = [{"programme_id": "p1", "partner_id": "archers", "participant_id": f"pt-{i}", "measurement_id": f"m-{i}",
                 "instrument": "SWEMWBS", "timepoint": "baseline", "measured_on": date(2025, 11, 10), "raw_score": 24,
                 "metric_score_hundredths": 2154} for i in range(0, people, 2)]
    with engine.begin() as conn:
        conn.execute(insert(DIRECTORY.enrolments_table), enrolments)
        conn.execute(insert(Outcome.__table__), outcomes)  # type: ignore[attr-defined]
    return engine


EVALUATOR = Reader("lantern", "evaluation", "outcomes", date(2026, 1, 5))


def test_the_purpose_is_checked_in_one_statement_however_many_people_the_directory_holds() -> None:
    for people in (10, 2_000):
        engine = programme_of(people)
        statements: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *args, kept=statements: kept.append(args[2]))
        with Session(engine) as session:
            seen = list_outcomes(session=session, programme_id="p1", reader=EVALUATOR)
        assert {o.participant_id for o in seen} == {f"pt-{i}" for i in range(0, people, 6)}, people
        assert len(statements) == 1, (people, statements)
        # Under an agreement too (pathways.policy.agreements): still the one statement.
        with engine.begin() as conn:
            conn.execute(insert(DIRECTORY.agreements.table), [{
                "programme_id": "p1", "agreement_id": "dsa-1", "data": "outcomes", "provider_id": "archers",
                "recipient_id": "lantern", "starts_on": date(2025, 10, 1), "ends_on": date(2026, 9, 30), "ended_on": None}])
        statements.clear()
        with Session(engine) as session:
            assert {o.participant_id for o in list_outcomes(session=session, programme_id="p1", reader=EVALUATOR)} == {
                f"pt-{i}" for i in range(0, people, 6)}
            assert list_outcomes(session=session, programme_id="p1", reader=Reader(
                "another-evaluator", "evaluation", "outcomes", EVALUATOR.on)) == []  # no agreement of its own
            assert list_outcomes(session=session, programme_id="p1", reader=Reader(
                "lantern", "evaluation", "outcomes", date(2026, 10, 1))) == []  # the day after it ended
        assert len(statements) == 3, (people, statements)
        with Session(engine) as session:  # no purpose (a partner's own): every row
            assert len(list_outcomes(session=session, programme_id="p1")) == len(range(0, people, 2))
