"""The evaluation rules as pure functions: directory facts and aggregate state made up in
the test, no server. The same rules are tested over real NATS in tests/test_evaluation.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from pathways.core.commands import CommandContext, Decision, NoFacts
from pathways.core.replies import Rejection
from pathways.core.schemas import EventData
from pathways.policy.facts import ContractFacts, EnrolmentFacts, OrganisationFacts, ProgrammeFacts
from pathways_evaluation.domain import commands as c
from pathways_evaluation.domain import decide
from pathways_evaluation.domain import events as e
from pathways_evaluation.domain import facts as f
from pathways_evaluation.domain.state import (
    ASSESSMENT,
    DEVELOPMENT,
    OUTCOME_RECORD,
    REPORT,
    Development,
    OutcomeRecord,
    Recorded,
)

PROGRAMME = ProgrammeFacts("p1", "council", date(2025, 10, 1), date(2026, 9, 30), 1_000_000)
CONTRACT = ContractFacts(
    "p1", "k1", "archers", 250_000, ("soft archery",), date(2025, 10, 1), date(2026, 9, 30)
)
EVALUATOR = OrganisationFacts("evaluators", "Independent Evaluators", "evaluator")
PARTNER = OrganisationFacts("archers", "Archers CIC", "delivery_partner")
NO_FLAGS = dict.fromkeys(e.TokenismChecklist.model_fields, False)


def ctx(org: str) -> CommandContext:
    return CommandContext(org, "tester", "test", datetime(2026, 3, 1, tzinfo=UTC))


def rejected(decision: Decision, code: str, *words: str) -> None:
    assert isinstance(decision, Rejection), decision
    assert decision.code == code, (decision.code, decision.message)
    assert decision.message[0].isupper() and decision.message.endswith("."), decision.message
    for word in words:
        assert word in decision.message, (word, decision.message)


def only(decision: Decision) -> Any:
    assert not isinstance(decision, Rejection), decision.message
    [event] = decision
    return event


def fold(aggregate: Any, events: list[EventData]) -> Any:
    state = aggregate.initial
    for event in events:
        state = aggregate.evolve(state, event)
    return state


# --- outcomes ---------------------------------------------------------------------------
def outcome(**overrides: Any) -> c.RecordOutcome:
    data = {
        "programme_id": "p1",
        "participant_id": "P-1",
        "measurement_id": "m1",
        "instrument": "SWEMWBS",
        "timepoint": "baseline",
        "measured_on": "2025-11-03",
        "answers": [3, 4, 2, 5, 3, 4, 3],
    }
    return c.RecordOutcome.model_validate(data | overrides)


def enrolled(consent: bool = True, active: bool = True) -> dict[str, EnrolmentFacts]:
    return {"P-1": EnrolmentFacts("P-1", "archers", "ward", consent, active)}


def record(cmd: c.RecordOutcome, state: OutcomeRecord, **reads: Any) -> Decision:
    facts = {"contracts": [CONTRACT], "programme": None, "enrolments": enrolled()} | reads
    return decide.record_outcome(cmd, ctx("archers"), state, f.OutcomeFacts(**facts))


def test_a_baseline_is_scored_by_the_platform() -> None:
    event = only(record(outcome(), OutcomeRecord()))
    assert isinstance(event, e.OutcomeMeasured)
    assert (event.partner_id, event.raw_score, event.metric_score) == (
        "archers",
        24,
        Decimal("21.54"),
    )
    assert event.model_dump(mode="json")["metric_score"] == "21.54"  # a string, never a float


def test_only_a_commissioned_partner_records_outcomes() -> None:
    rejected(record(outcome(), OutcomeRecord(), contracts=[]), "not_found", "no programme")


def test_only_enrolled_consenting_active_participants() -> None:
    rejected(record(outcome(), OutcomeRecord(), enrolments={}), "rule_violation", "not enrolled")
    rejected(
        record(outcome(), OutcomeRecord(), enrolments=enrolled(consent=False)),
        "rule_violation",
        "without consent",
    )
    rejected(
        record(outcome(), OutcomeRecord(), enrolments=enrolled(active=False)),
        "rule_violation",
        "withdrawn",
    )


def test_follow_up_only_after_a_baseline_of_the_same_instrument() -> None:
    follow_up = outcome(timepoint="follow_up", measurement_id="m2", measured_on="2026-03-01")
    rejected(record(follow_up, OutcomeRecord()), "rule_violation", "after a baseline", "SWEMWBS")
    baseline = only(record(outcome(), OutcomeRecord()))
    state = fold(OUTCOME_RECORD, [baseline])
    wemwbs = outcome(
        timepoint="follow_up", measurement_id="m2", instrument="WEMWBS", answers=[3] * 14
    )
    rejected(record(wemwbs, state), "rule_violation", "WEMWBS baseline")
    event = only(record(follow_up, state))
    assert (event.timepoint, event.raw_score) == ("follow_up", 24)


def test_follow_up_not_dated_before_the_baseline() -> None:
    state = fold(OUTCOME_RECORD, [only(record(outcome(), OutcomeRecord()))])
    early = outcome(timepoint="follow_up", measurement_id="m2", measured_on="2025-11-02")
    rejected(record(early, state), "rule_violation", "before the SWEMWBS baseline", "2025-11-03")
    same_day = outcome(timepoint="follow_up", measurement_id="m2", measured_on="2025-11-03")
    assert only(record(same_day, state)).measured_on == date(2025, 11, 3)


def test_one_baseline_per_instrument_and_each_measurement_id_once() -> None:
    state = fold(OUTCOME_RECORD, [only(record(outcome(), OutcomeRecord()))])
    rejected(record(outcome(measurement_id="m2"), state), "rule_violation", "already has a SWEMWBS")
    again = outcome(timepoint="follow_up", measured_on="2026-01-01")
    rejected(record(again, state), "rule_violation", "Measurement 'm1' is already recorded")
    wemwbs = outcome(measurement_id="m3", instrument="WEMWBS", answers=[2] * 14)
    assert only(record(wemwbs, state)).raw_score == 28


# --- feedback ---------------------------------------------------------------------------
def feedback(org: str, state: Recorded, contracts: list[ContractFacts]) -> Decision:
    cmd = c.SubmitFeedback(programme_id="p1", feedback_id="f1", respondent="carer", rating=4)
    return decide.submit_feedback(cmd, ctx(org), state, f.TakingPart(contracts, PROGRAMME))


def test_feedback_from_a_partner_or_the_commissioner_once() -> None:
    assert only(feedback("archers", Recorded(), [CONTRACT])).partner_id == "archers"
    assert only(feedback("council", Recorded(), [])).partner_id == "council"
    rejected(feedback("stranger", Recorded(), []), "not_found", "no programme")
    rejected(
        feedback("archers", Recorded(True, "archers"), [CONTRACT]), "rule_violation", "already"
    )


# --- co-production ----------------------------------------------------------------------
def assessment(**flags: bool) -> c.AssessCoProduction:
    return c.AssessCoProduction.model_validate(
        {
            "programme_id": "p1",
            "assessment_id": "a1",
            "partner_id": "archers",
            "assessed_on": "2026-02-10",
            "level": 2,
            "ladder_rung": "co_design",
            "tokenism": NO_FLAGS | flags,
            "evidence": "Co-producers chose the activities and ran two sessions.",
        }
    )


def assess(org: str, cmd: c.AssessCoProduction, **reads: Any) -> Decision:
    facts = {
        "programme": PROGRAMME,
        "sender": {"evaluators": EVALUATOR, "archers": PARTNER}.get(org),
        "partner_contracts": [CONTRACT],
        "contracts": [CONTRACT] if org == "archers" else [],  # the sender's own (archers holds one)
        "existing": Recorded(),
    } | reads
    return decide.assess_co_production(cmd, ctx(org), Recorded(), f.AssessmentFacts(**facts))


def test_an_assessment_names_the_level_and_counts_tokenism() -> None:
    cmd = assessment(no_expenses_or_fee=True, inaccessible_venue=True)
    event = only(assess("evaluators", cmd))
    assert (event.level_name, event.tokenism_flags, event.assessor_id) == (
        "identifying and building skills",
        2,
        "evaluators",
    )
    assert event.tokenism.seen() == ["no_expenses_or_fee", "inaccessible_venue"]
    assert only(assess("council", assessment())).tokenism_flags == 0


def test_assessment_rules() -> None:
    rejected(assess("evaluators", assessment(), programme=None), "not_found", "no programme 'p1'")
    rejected(assess("archers", assessment()), "forbidden", "evaluator or the commissioner")
    rejected(
        assess("evaluators", assessment(), partner_contracts=[]),
        "rule_violation",
        "holds no contract",
    )
    taken = Recorded(True, "council")
    rejected(
        assess("evaluators", assessment(), existing=taken), "rule_violation", "already", "council"
    )


def test_the_tokenism_checklist_needs_every_item() -> None:
    partial = dict(NO_FLAGS)
    del partial["comments_not_documented"]
    try:
        c.AssessCoProduction.model_validate(assessment().model_dump() | {"tokenism": partial})
    except ValueError as err:
        assert "comments_not_documented" in str(err)
    else:
        raise AssertionError("a checklist with an item missing was accepted")


# --- you said, we did -------------------------------------------------------------------
def propose(org: str, state: Development, contracts: list[ContractFacts]) -> Decision:
    cmd = c.ProposeDevelopment(
        programme_id="p1",
        development_id="d1",
        you_said="Sessions clash with ward rounds.",
        raised_by="participants",
        we_will="Move sessions to the afternoon.",
    )
    return decide.propose_development(cmd, ctx(org), state, f.TakingPart(contracts, PROGRAMME))


def set_status(state: Development, status: str, we_did: str | None = None) -> Decision:
    cmd = c.SetDevelopmentStatus.model_validate(
        {"programme_id": "p1", "development_id": "d1", "status": status, "we_did": we_did}
    )
    return decide.set_development_status(cmd, ctx("archers"), state, NoFacts())


def test_the_tracker_starts_red_and_green_needs_what_was_done() -> None:
    proposed = only(propose("archers", Development(), [CONTRACT]))
    assert (proposed.status, proposed.proposed_by) == ("red", "archers")
    rejected(propose("stranger", Development(), []), "not_found")
    state = fold(DEVELOPMENT, [proposed])
    rejected(propose("archers", state, [CONTRACT]), "rule_violation", "already on the tracker")
    rejected(set_status(Development(), "amber"), "not_found", "no development 'd1'")
    rejected(set_status(state, "red"), "rule_violation", "already red")
    rejected(set_status(state, "green"), "rule_violation", "'we did'")
    amber = only(set_status(state, "amber"))
    assert (amber.from_status, amber.to_status, amber.we_did) == ("red", "amber", None)
    green = only(set_status(fold(DEVELOPMENT, [proposed, amber]), "green", "Moved to 2pm."))
    assert (green.from_status, green.to_status, green.we_did) == ("amber", "green", "Moved to 2pm.")


# --- reports ----------------------------------------------------------------------------
def report(org: str, state: Recorded = Recorded(), **overrides: Any) -> Decision:
    cmd = c.PublishEvaluationReport.model_validate(
        {
            "programme_id": "p1",
            "report_id": "r1",
            "title": "Interim evaluation",
            "period_start": "2025-10-01",
            "period_end": "2026-03-31",
            "summary": "Wellbeing rose between baseline and follow-up.",
            "findings": ["Mean SWEMWBS rose by 2.1 points (indicative: 12 pairs)."],
            **{k: v for k, v in overrides.items() if k not in ("programme", "existing")},
        }
    )
    facts = f.ReportFacts(**{
        "programme": overrides.get("programme", PROGRAMME),
        "sender": {"evaluators": EVALUATOR, "archers": PARTNER}.get(org),
        "contracts": [CONTRACT] if org == "archers" else [],  # the sender's own (archers holds one)
        "existing": overrides.get("existing", Recorded()),
    })
    return decide.publish_report(cmd, ctx(org), state, facts)


def test_report_rules() -> None:
    assert only(report("evaluators")).published_by == "evaluators"
    assert only(report("council")).published_by == "council"
    rejected(report("archers"), "forbidden", "evaluator or the commissioner")
    rejected(report("evaluators", programme=None), "not_found", "no programme")
    rejected(
        report("evaluators", period_start="2026-04-01", period_end="2026-03-01"),
        "rule_violation",
        "after it ends",
    )
    rejected(
        report("evaluators", period_end="2026-10-31"),
        "rule_violation",
        "within the programme's dates",
    )
    rejected(
        report("evaluators", existing=Recorded(True, "council")),
        "rule_violation",
        "already published",
    )
    state = fold(REPORT, [only(report("evaluators"))])
    rejected(report("evaluators", state), "rule_violation", "already published")


def test_write_once_records_remember_who_made_them() -> None:
    state = fold(ASSESSMENT, [only(assess("evaluators", assessment()))])
    assert state == Recorded(True, "evaluators")
