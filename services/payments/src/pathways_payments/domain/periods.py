"""Benefit assessment periods: which week or month a day's earnings count in."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def period_of(day: date, per: str) -> tuple[date, date]:
    """The period containing `day`: a Monday-to-Sunday week, or a calendar month.
    (Universal Credit uses each claimant's own assessment period; the calendar month is
    the programme's approximation, so a warning errs on the early side only by days.)"""
    if per == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if per == "month":
        last = calendar.monthrange(day.year, day.month)[1]
        return day.replace(day=1), day.replace(day=last)
    raise ValueError(f"unknown period {per!r}")
