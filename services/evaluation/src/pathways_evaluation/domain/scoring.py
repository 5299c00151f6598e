"""Wellbeing scores, computed by the platform from item answers and never taken from the
caller: the Warwick-Edinburgh Mental Wellbeing Scale (WEMWBS, 14 items) and its short
form (SWEMWBS, 7 items), whose raw total is converted to a metric score by the published
Rasch conversion table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

Instrument = Literal["WEMWBS", "SWEMWBS"]

ITEMS: Mapping[str, int] = MappingProxyType({"WEMWBS": 14, "SWEMWBS": 7})
LOWEST_ANSWER = 1
HIGHEST_ANSWER = 5
TWO_PLACES = Decimal("0.01")

# SWEMWBS raw total → metric score. Copied digit for digit from the conversion table the
# scale's authors publish; a metric score is only comparable with other studies when it
# comes from exactly this table, so it is data here, never a formula.
SWEMWBS_METRIC: Mapping[int, Decimal] = MappingProxyType(
    {
        raw: Decimal(metric)
        for raw, metric in (
            (7, "7.00"),
            (8, "9.51"),
            (9, "11.25"),
            (10, "12.40"),
            (11, "13.33"),
            (12, "14.08"),
            (13, "14.75"),
            (14, "15.32"),
            (15, "15.84"),
            (16, "16.36"),
            (17, "16.88"),
            (18, "17.43"),
            (19, "17.98"),
            (20, "18.59"),
            (21, "19.25"),
            (22, "19.98"),
            (23, "20.73"),
            (24, "21.54"),
            (25, "22.35"),
            (26, "23.21"),
            (27, "24.11"),
            (28, "25.03"),
            (29, "26.02"),
            (30, "27.03"),
            (31, "28.13"),
            (32, "29.31"),
            (33, "30.70"),
            (34, "32.55"),
            (35, "35.00"),
        )
    }
)


@dataclass(frozen=True)
class Score:
    raw: int
    metric: Decimal


def answer_problem(instrument: str, answers: Sequence[int]) -> str | None:
    """Why `answers` cannot be scored on `instrument`, in words, or None when they can."""
    expected = ITEMS.get(instrument)
    if expected is None:
        return f"unknown instrument '{instrument}' (known: {', '.join(ITEMS)})"
    if len(answers) != expected:
        return (
            f"{instrument} has {expected} items, so it needs {expected} answers, not {len(answers)}"
        )
    # bool is an int in Python; a true/false is not an answer on a 1-5 scale.
    wrong = [
        str(i)
        for i, a in enumerate(answers, 1)
        if isinstance(a, bool) or not isinstance(a, int) or not LOWEST_ANSWER <= a <= HIGHEST_ANSWER
    ]
    if wrong:
        return (
            f"every answer is scored {LOWEST_ANSWER} to {HIGHEST_ANSWER}; "
            f"item(s) {', '.join(wrong)} are not"
        )
    return None


def score(instrument: str, answers: Sequence[int]) -> Score:
    """The raw total and metric score of one completed questionnaire."""
    problem = answer_problem(instrument, answers)
    if problem is not None:
        raise ValueError(problem)
    raw = sum(answers)
    if instrument == "SWEMWBS":
        return Score(raw, SWEMWBS_METRIC[raw])
    # WEMWBS is reported on its raw 14-70 scale; two places keep every metric score alike.
    return Score(raw, Decimal(raw).quantize(TWO_PLACES))
