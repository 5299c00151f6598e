"""The rule a target's status follows (pathways_reporting.targets.RULE), with hand-worked days."""

from __future__ import annotations

from datetime import date

import pytest
from pathways_reporting.targets import status

START, END = date(2026, 1, 1), date(2026, 3, 31)  # 90 days


@pytest.mark.parametrize(("actual", "today", "expected"), [
    (40, date(2026, 2, 14), ("met", None)),  # reached: met
    (50, date(2025, 12, 1), ("not started", 0.0)),  # before the period, whatever the figure (a review found "met")
    (0, date(2025, 12, 31), ("not started", 0.0)),
    (18, date(2026, 2, 14), ("on track", 20.0)),  # day 45 of 90: an even pace is 20 of 40; 18 is 90 %
    (17, date(2026, 2, 14), ("at risk", 20.0)),  # 85 %
    (14, date(2026, 2, 14), ("at risk", 20.0)),  # 70 %
    (13, date(2026, 2, 14), ("behind", 20.0)),  # 65 %
    (39, date(2026, 6, 1), ("not met", 40.0)),  # the period ended short of the target
    (40, date(2026, 6, 1), ("met", None)),
    (39, date(2026, 3, 31), ("on track", 40.0)),  # its last day: still going
    (1, date(2026, 1, 1), ("on track", 0.4)),  # the first day: 1 of 90 days gone
])
def test_status_against_an_even_pace(actual: float, today: date, expected: tuple[str, float | None]) -> None:
    assert status(actual, 40, START, END, today) == expected
