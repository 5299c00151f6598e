"""What a query string may ask for, bounded before it reaches a database.

A number past these bounds is answered 422 by FastAPI's own validation, never passed on:
SQLite takes integers up to 2^63 - 1 and raised OverflowError (a 500) on anything larger.
Sequences and tree sizes stop at 2^53 - 1, the largest integer a JSON client in JavaScript
holds exactly; a day is written YYYY-MM-DD and nothing else (pydantic would otherwise read
`?to=0` as 1970-01-01, a Unix time)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator

MAX_SEQUENCE = 2**53 - 1  # a stream sequence, a leaf index, a tree size
MAX_ROWS = 1_000_000  # rows asked for in one page of a table or list

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise ValueError("a day is written YYYY-MM-DD, e.g. 2026-03-31")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]  # a calendar day as YYYY-MM-DD only
