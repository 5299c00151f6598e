"""WEMWBS and SWEMWBS scoring: totals, the SWEMWBS conversion table row by row (checked
against an independent copy of DESIGN §3), and answers that cannot be scored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pathways_evaluation.domain.commands import RecordOutcome
from pathways_evaluation.domain.scoring import SWEMWBS_METRIC, score
from pydantic import ValidationError

# Typed in again from DESIGN §3 rather than imported, so a slip in the code's table shows.
DESIGN_TABLE = (
    "7 7.00, 8 9.51, 9 11.25, 10 12.40, 11 13.33, 12 14.08, 13 14.75, 14 15.32, 15 15.84, "
    "16 16.36, 17 16.88, 18 17.43, 19 17.98, 20 18.59, 21 19.25, 22 19.98, 23 20.73, "
    "24 21.54, 25 22.35, 26 23.21, 27 24.11, 28 25.03, 29 26.02, 30 27.03, 31 28.13, "
    "32 29.31, 33 30.70, 34 32.55, 35 35.00"
)
ROWS = [(int(raw), metric) for raw, metric in (pair.split() for pair in DESIGN_TABLE.split(", "))]


def answers_totalling(raw: int, items: int) -> list[int]:
    """Answers of 1-5 on `items` items that add up to `raw`."""
    answers = [1] * items
    extra = raw - items
    for i in range(items):
        step = min(4, extra)
        answers[i] += step
        extra -= step
    assert extra == 0 and sum(answers) == raw
    return answers


def test_all_lowest_answers() -> None:
    assert score("WEMWBS", [1] * 14).raw == 14
    assert score("WEMWBS", [1] * 14).metric == Decimal("14.00")
    swemwbs = score("SWEMWBS", [1] * 7)
    assert (swemwbs.raw, str(swemwbs.metric)) == (7, "7.00")


def test_all_highest_answers() -> None:
    wemwbs = score("WEMWBS", [5] * 14)
    assert (wemwbs.raw, str(wemwbs.metric)) == (70, "70.00")
    swemwbs = score("SWEMWBS", [5] * 7)
    assert (swemwbs.raw, str(swemwbs.metric)) == (35, "35.00")


def test_a_mixed_swemwbs_is_summed_then_converted() -> None:
    result = score("SWEMWBS", [3, 4, 2, 5, 3, 4, 3])
    assert result.raw == 24
    assert result.metric == Decimal("21.54") and isinstance(result.metric, Decimal)


def test_a_mixed_wemwbs_is_the_plain_total() -> None:
    # 4+3+5+2+4+4+3+5+1+4+3+2+5+4, added by hand: 49.
    result = score("WEMWBS", [4, 3, 5, 2, 4, 4, 3, 5, 1, 4, 3, 2, 5, 4])
    assert (result.raw, result.metric) == (49, Decimal("49.00"))


def test_the_conversion_table_has_every_raw_score_once() -> None:
    assert len(ROWS) == 29
    assert sorted(SWEMWBS_METRIC) == list(range(7, 36))


@pytest.mark.parametrize(("raw", "metric"), ROWS)
def test_every_row_of_the_swemwbs_conversion_table(raw: int, metric: str) -> None:
    result = score("SWEMWBS", answers_totalling(raw, 7))
    assert result.raw == raw
    assert str(result.metric) == metric  # the exact two-place figure, not a float near it


@pytest.mark.parametrize(
    ("instrument", "answers", "words"),
    [
        ("WEMWBS", [3] * 7, "needs 14 answers, not 7"),
        ("WEMWBS", [3] * 15, "needs 14 answers, not 15"),
        ("SWEMWBS", [3] * 14, "needs 7 answers, not 14"),
        ("SWEMWBS", [], "needs 7 answers, not 0"),
        ("SWEMWBS", [3, 3, 3, 0, 3, 3, 3], "item(s) 4 are not"),
        ("SWEMWBS", [6, 3, 3, 3, 3, 3, -1], "item(s) 1, 7 are not"),
        ("WEMWBS", [True] + [3] * 13, "item(s) 1 are not"),
        ("GHQ12", [3] * 12, "unknown instrument"),
    ],
)
def test_answers_that_cannot_be_scored_are_refused(
    instrument: str, answers: list[Any], words: str
) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        score(instrument, answers)


def outcome(**overrides: Any) -> dict[str, Any]:
    return {
        "programme_id": "p1",
        "participant_id": "P-1",
        "measurement_id": "m1",
        "instrument": "SWEMWBS",
        "timepoint": "baseline",
        "measured_on": "2025-11-03",
        "answers": [3, 4, 2, 5, 3, 4, 3],
    } | overrides


def test_the_command_accepts_a_well_formed_questionnaire() -> None:
    assert RecordOutcome.model_validate(outcome()).answers == [3, 4, 2, 5, 3, 4, 3]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"answers": [3] * 14}, "needs 7 answers, not 14"),
        ({"instrument": "WEMWBS"}, "needs 14 answers, not 7"),
        ({"answers": [3, 4, 2, 9, 3, 4, 3]}, "less than or equal to 5"),
        ({"answers": ["3", 4, 2, 5, 3, 4, 3]}, "valid integer"),
        ({"raw_score": 24}, "computed by the platform"),
        ({"metric_score": "21.54"}, "computed by the platform"),
        ({"timepoint": "midpoint"}, "baseline"),
    ],
)
def test_the_command_refuses_what_cannot_be_scored_or_is_scored_already(
    overrides: dict[str, Any], words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        RecordOutcome.model_validate(outcome(**overrides))
