"""A partner's spreadsheet register (one row per person at a session) turned into
ScheduleSession and RecordSessionDelivered commands, with a verdict for every row.

Idempotency keys are derived from the programme, the session and who attended, so
importing the same file again sends the same commands again and the platform answers
them as retries: nothing is added. People who cannot be recorded (not enrolled with the
partner, withdrawn, no consent) are reported against their rows, and the session is
recorded with everyone else."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

REQUIRED = ("session_id", "date", "start_time", "activity", "site", "duration_minutes", "capacity", "participant_id")
# Sessions in flight at once: enough for group commit to fill a batch while earlier ones are
# answered, and within what a service decides at once (its intake takes 64).
WINDOW = 64
RETRIES = 5
Send = Callable[[str, dict[str, Any], str], Awaitable[dict[str, Any]]]  # (command, data, idempotency key) → reply


class RegisterFormatError(ValueError):
    """The file is not a register this importer can read at all."""


@dataclass
class RowResult:
    line: int
    session_id: str
    participant_id: str
    status: str = "pending"  # accepted | rejected
    message: str = ""


@dataclass
class PlannedSession:
    session_id: str
    fields: tuple[str, str, str, str, int, int]  # date, start, activity, site, minutes, capacity
    rows: list[RowResult] = field(default_factory=list)


def read_register(text: str) -> tuple[list[PlannedSession], list[RowResult]]:
    """Parse and check the file. Returns the sessions to send and the rows already refused."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))  # a spreadsheet's byte-order mark
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise RegisterFormatError(f"The register has no column {', '.join(missing)}. Expected columns: {', '.join(REQUIRED)}.")
    planned: dict[str, PlannedSession] = {}
    refused: list[RowResult] = []
    for number, raw in enumerate(reader, start=2):  # line 1 is the header
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        result = RowResult(number, row["session_id"], row["participant_id"])
        try:
            values = _session_fields(row)
        except ValueError as err:
            refused.append(_refuse(result, str(err)))
            continue
        session = planned.setdefault(row["session_id"], PlannedSession(row["session_id"], values))
        if session.fields != values:
            refused.append(_refuse(result, f"Session '{row['session_id']}' appears earlier in the file with a different "
                                           "date, time, activity, site, duration or capacity."))
        elif any(r.participant_id == result.participant_id for r in session.rows):
            refused.append(_refuse(result, f"'{result.participant_id}' is already listed for this session above."))
        else:
            session.rows.append(result)
    return list(planned.values()), refused


def _session_fields(row: dict[str, str]) -> tuple[str, str, str, str, int, int]:
    for column in REQUIRED:
        if not row.get(column):
            raise ValueError(f"The '{column}' cell is empty.")
    try:
        day = date.fromisoformat(row["date"])
    except ValueError:
        raise ValueError(f"'{row['date']}' is not a date like 2026-01-31.") from None
    try:
        start = time.fromisoformat(row["start_time"])
    except ValueError:
        raise ValueError(f"'{row['start_time']}' is not a time like 14:30.") from None
    try:
        minutes, capacity = int(row["duration_minutes"]), int(row["capacity"])
    except ValueError:
        raise ValueError("duration_minutes and capacity must be whole numbers.") from None
    return day.isoformat(), start.isoformat("minutes"), row["activity"], row["site"], minutes, capacity


def _refuse(result: RowResult, message: str) -> RowResult:
    result.status, result.message = "rejected", message
    return result


async def import_register(
    programme_id: str, sessions: Iterable[PlannedSession], send: Send, progress: Callable[[PlannedSession], None] | None = None,
    *, window: int = WINDOW,
) -> None:
    """Send each session's commands and fill in every row's verdict.

    Sessions go `window` at a time: each is its own aggregate, so their commands may be in
    flight together, and the service's group commit stores the events of concurrent commands
    in one atomic batch (one fsync) instead of one each. Within a session the order stays:
    its ScheduleSession is answered before its RecordSessionDelivered is sent. Every session
    appears once in `sessions` (read_register merges its rows), so no two concurrent commands
    write one aggregate. If a send fails outright (no reply), the other sessions stop too and
    the error is raised; their rows keep the verdicts they had reached."""
    queue = iter(sessions)

    async def worker() -> None:
        for session in queue:  # one shared iterator: each session is taken by one worker
            await _import_session(programme_id, session, send)
            if progress:
                progress(session)

    try:
        async with asyncio.TaskGroup() as group:  # the first failure cancels the other workers
            for _ in range(max(1, window)):
                group.create_task(worker())
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None  # what the callers report (no reply, no connection)


async def _send(send: Send, command: str, data: dict[str, Any], key: str) -> dict[str, Any]:
    """One command, sent again (same key, so it cannot count twice) while the service says
    it could not take it just now: with many in flight, a service's views may still be
    catching up, and a row should not be refused for that."""
    reply = await send(command, data, key)
    for attempt in range(RETRIES):
        if reply.get("status") != "rejected" or reply.get("code") != "unavailable":
            break
        await asyncio.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        reply = await send(command, data, key)
    return reply


async def _import_session(programme_id: str, session: PlannedSession, send: Send) -> None:
    day, start, activity, site, minutes, capacity = session.fields
    scheduled = await _send(send, "ScheduleSession", {
        "programme_id": programme_id, "session_id": session.session_id, "activity": activity, "site": site,
        "starts_at": datetime.combine(date.fromisoformat(day), time.fromisoformat(start)).isoformat() + "Z",
        "duration_minutes": minutes, "capacity": capacity,
    }, f"register/{programme_id}/{session.session_id}/schedule")
    if scheduled["status"] == "rejected" and _detail(scheduled, "reason") != "already_scheduled":
        for row in session.rows:
            _refuse(row, f"The session could not be scheduled: {scheduled['message']}")
        return
    pending = list(session.rows)
    while pending:
        attendees = sorted(r.participant_id for r in pending)
        key = hashlib.sha256("\n".join(attendees).encode()).hexdigest()[:16]
        reply = await _send(send, "RecordSessionDelivered", {
            "programme_id": programme_id, "session_id": session.session_id, "attendees": attendees,
            "duration_minutes": minutes, "delivered_on": day,
        }, f"register/{programme_id}/{session.session_id}/delivered/{key}")
        if reply["status"] == "accepted":
            for row in pending:
                row.status, row.message = "accepted", f"Recorded at session '{session.session_id}'."
            return
        ineligible = set(_detail(reply, "ineligible") or [])
        if not ineligible:  # the session as a whole was refused (cancelled, over capacity, …)
            for row in pending:
                _refuse(row, reply["message"])
            return
        for row in pending:
            if row.participant_id in ineligible:
                _refuse(row, reply["message"])
        pending = [r for r in pending if r.participant_id not in ineligible]


def _detail(reply: dict[str, Any], key: str) -> Any:
    for detail in reply.get("details") or []:
        if key in detail:
            return detail[key]
    return None


def report_csv(rows: Iterable[RowResult]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["line", "session_id", "participant_id", "status", "message"])
    for r in sorted(rows, key=lambda r: r.line):
        writer.writerow([r.line, r.session_id, r.participant_id, r.status, r.message])
    return out.getvalue()
