"""The pace of Python's cyclic garbage collector in a served service (`pathways serve`).

CPython's defaults (a young collection every 700 net allocations of tracked objects, a full
one after ten of the middle generation) suit a short script. A service decodes, validates
and encodes objects by the hundred thousand a second, nearly all freed by reference
counting, so the collector mostly walks live objects to find no garbage: over a register
import (20,000 rows, bench/bulk.py) the sessions service spent a fifth of its CPU in
collections, three of them full ones of about 115 ms each, walking the 140,000 objects of
the modules it had imported.

`settle()` runs once the service is built and before it runs anything: one full
collection, then `gc.freeze()` moves everything alive (modules, classes, schemas,
handlers) to a permanent generation that no later collection walks, and the thresholds are
raised so the young generation holds tens of thousands of objects before it is walked.
Cycles are still collected (exceptions with their tracebacks, asyncio's futures): later,
not never, and a full collection still comes, on the interpreter's own rule (a quarter
more long-lived objects than at the last). Thresholds of at least 1 only: the collector is
never turned off. (Python 3.14's incremental collector reads the thresholds differently:
measure again before moving to it.)
"""

from __future__ import annotations

import gc
import os
import re

# Net allocations between young collections (CPython: 700), young collections between
# middle ones (10), middle collections between full ones (10). Measured through the whole
# platform (bench/bulk.py and 50 clients enrolling, gc.callbacks timing each collection):
# the sessions service's collections over a register import fell from 0.47 s of its 2.39 s
# of CPU to 0.01 s, and the registry's under 50 clients from 6 % of its CPU to 1 %.
THRESHOLDS = (50_000, 20, 10)
ENV = "PATHWAYS_GC_THRESHOLDS"  # "700,10,10" gives CPython's defaults back, say to compare


# Each number's range: at least 1 (the collector is never off) and at most these, far past
# any useful pace and within what gc.set_threshold takes (a C int: 2**31 overflowed it).
LARGEST = (10_000_000, 1_000, 1_000)
_SETTING = re.compile(r"\s*(\d{1,8})\s*,\s*(\d{1,8})\s*,\s*(\d{1,8})\s*", re.ASCII)


def thresholds() -> tuple[int, int, int]:
    """The thresholds in force for this process: THRESHOLDS unless the environment names three."""
    given = os.environ.get(ENV, "")
    if not given.strip():
        return THRESHOLDS
    # ASCII digits only: int() would also take "1_000", "+7" and digits of other scripts.
    found = _SETTING.fullmatch(given)
    if found is None:
        raise ValueError(f"{ENV} is three whole numbers like 50000,20,10, not {given!r}")
    young, middle, old = (int(n) for n in found.groups())
    if min(young, middle, old) < 1 or any(n > most for n, most in zip((young, middle, old), LARGEST, strict=True)):
        raise ValueError(f"{ENV} needs numbers of at least 1 and at most {', '.join(f'{n:,}' for n in LARGEST)}, "
                         f"not {given!r}")
    return young, middle, old


def settle() -> None:
    """Freeze what the built service holds, before it runs, and set the collector's pace."""
    chosen = thresholds()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*chosen)


def report() -> dict[str, object]:
    """What /health says of the garbage collector: its thresholds, the objects frozen at
    start, and each generation's collections so far (the young one first)."""
    stats = gc.get_stats()
    return {"thresholds": list(gc.get_threshold()), "frozen": gc.get_freeze_count(),
            "collections": [generation["collections"] for generation in stats],
            "collected": [generation["collected"] for generation in stats],  # objects freed, by generation
            "uncollectable": sum(generation["uncollectable"] for generation in stats),
            "pending": list(gc.get_count())}  # toward each generation's threshold now
