"""Benefit assessment periods: which week or month a day's earnings count in."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def period_of(day: date, per: str, starts_on: date | None = None) -> tuple[date, date]:
    """The period containing `day`: a Monday-to-Sunday week, a calendar month, or a
    Universal Credit assessment period, a month running from the claimant's own start day
    (`starts_on`; without one, the calendar month). A start on the 29th to the 31st starts
    each shorter month's period on its last day."""
    if per == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if per == "month" or (per == "assessment_period" and starts_on is None):
        last = calendar.monthrange(day.year, day.month)[1]
        return day.replace(day=1), day.replace(day=last)
    if per == "assessment_period":
        assert starts_on is not None
        start = _on_day(day.year, day.month, starts_on.day)
        if start > day:
            year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
            start = _on_day(year, month, starts_on.day)
        year, month = (start.year, start.month + 1) if start.month < 12 else (start.year + 1, 1)
        return start, _on_day(year, month, starts_on.day) - timedelta(days=1)
    raise ValueError(f"unknown period {per!r}")


def _on_day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))
