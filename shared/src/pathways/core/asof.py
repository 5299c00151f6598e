""""As of" moments in history, as people type them: a date means the end of that day
(everything stored during it), a date and time means that instant. Times without a zone
are UTC, the stream's clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


def parse_as_of(text: str) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), time(), UTC) - timedelta(microseconds=1)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"'{text}' is not a date or a date and time; write e.g. 2026-03-31 or 2026-03-31T17:30:00Z."
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
