"""A dashboard period (`from`, `to`, either open) as the summaries read it: the whole months
it covers, read from a month table, and the days of the months it covers only in part, read
from a day table or a month's day bits. Together they are exactly the days of the period."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, or_


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _last_day(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _days_bits(first: int, last: int) -> int:
    """Bits for days first..last of a month (bit d-1 is day d)."""
    return ((1 << last) - 1) & ~((1 << (first - 1)) - 1)


@dataclass(frozen=True)
class Period:
    """whole: (first month, last month) read whole, each end None when open, or None when no
    whole month is in the period; parts: (first day, last day) of each month read in part."""

    whole: tuple[str | None, str | None] | None
    parts: tuple[tuple[date, date], ...]

    @classmethod
    def of(cls, date_from: date | None, date_to: date | None) -> Period:
        if date_from and date_to and date_from > date_to:
            return cls(None, ())
        parts: list[tuple[date, date]] = []
        first_whole: date | None = None
        last_whole: date | None = None
        no_whole = False
        if date_from is not None:
            if date_from.day == 1:
                first_whole = date_from
            elif _last_day(date_from) < date.max:
                first_whole = _last_day(date_from) + timedelta(days=1)
            else:  # the calendar's last month, in part: no whole month after it
                no_whole = True
            if date_from.day != 1:
                parts.append((date_from, min(_last_day(date_from), date_to or date.max)))
        if date_to is not None:
            if date_to == _last_day(date_to):
                last_whole = date_to
            elif date_to.replace(day=1) > date.min:
                last_whole = date_to.replace(day=1) - timedelta(days=1)
            else:  # the calendar's first month, in part: no whole month before it
                no_whole = True
            start = date_to.replace(day=1)
            if date_to != _last_day(date_to) and not (parts and parts[0][0].replace(day=1) == start):
                parts.append((max(start, date_from or date.min), date_to))
        if no_whole or (first_whole and last_whole and first_whole > last_whole):
            return cls(None, tuple(parts))
        return cls((month_of(first_whole) if first_whole else None, month_of(last_whole) if last_whole else None),
                   tuple(parts))

    def month_condition(self, month: Any) -> Any | None:
        """Rows of a month table in the period's whole months; None: it has none."""
        if self.whole is None:
            return None
        first, last = self.whole
        found = [c for c in (month >= first if first else None, month <= last if last else None) if c is not None]
        return and_(*found) if found else month.is_not(None)

    def day_condition(self, day: Any) -> Any | None:
        """Rows of a day table in the months the period covers in part; None: it covers none."""
        return or_(*(and_(day >= a, day <= b) for a, b in self.parts)) if self.parts else None

    def year_condition(self, year: Any, months: Any) -> Any | None:
        """Rows of a year table with a month-bits column (bit m-1: month m) that fall in the
        period's whole months; None: it has none."""
        if self.whole is None:
            return None
        first, last = self.whole
        fy, fm = (int(first[:4]), int(first[5:])) if first else (None, 1)
        ly, lm = (int(last[:4]), int(last[5:])) if last else (None, 12)
        if fy is not None and fy == ly:
            return and_(year == fy, months.op("&")(_days_bits(fm, lm)) != 0)
        found = []
        if fy is not None:
            found.append(and_(year == fy, months.op("&")(_days_bits(fm, 12)) != 0))
        if ly is not None:
            found.append(and_(year == ly, months.op("&")(_days_bits(1, lm)) != 0))
        between = [c for c in (year > fy if fy is not None else None, year < ly if ly is not None else None) if c is not None]
        found.append(and_(*between) if between else year.is_not(None))
        return or_(*found)

    def part_bits_condition(self, month: Any, days: Any) -> Any | None:
        """Rows of a month table with a day-bits column that fall in the period's part-months."""
        found = [and_(month == month_of(a), days.op("&")(_days_bits(a.day, b.day)) != 0) for a, b in self.parts]
        return or_(*found) if found else None
